//! `interstice`: the operator's command-line tool. Parses the arguments, runs one command
//! from `cli/`, and maps its outcome to the exit code: 0 ok, 1 corruption found or operation
//! failed, 2 bad usage or not a log.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operate an Interstice log: append, dump, verify, repair, inspect and ship it.
#[derive(Debug, Parser)]
#[command(name = "interstice", version, propagate_version = true)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Append stdin's lines as records, one record per line; exits once they are durable.
    Append(cli::append::Args),
    /// Write every record's payload and a newline, in LSN order (read-only).
    Dump(cli::dump::Args),
    /// Check every record of every segment and report damage (read-only).
    Verify(cli::verify::Args),
    /// Repair corruption by truncating or skipping, after saving removed bytes to quarantine.
    Repair(cli::repair::Args),
    /// Segments, LSN ranges, record counts and sizes (read-only).
    Stats(cli::stats::Args),
    /// Copy what a replica lacks, verifying each copied segment before it becomes visible.
    Ship(cli::ship::Args),
    /// One checksum over the records, to compare replicas (read-only).
    Digest(cli::digest::Args),
    /// Where one record lives and what it holds (read-only).
    Inspect(cli::inspect::Args),
    /// Call a reducer of a WASM module on a runtime directory and print the commit's LSN.
    Call(cli::call::Args),
    /// Append a million records, reopen, replay and check them, and print the throughput.
    Demo(cli::demo::Args),
    /// Writers, readers, retention, crashes and repairs on a log for a while, all checked.
    Soak(cli::soak::Args),
    /// The crash child of `soak`: appends until killed, printing each durable record.
    #[command(hide = true)]
    SoakChild(cli::soak::ChildArgs),
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let outcome = match &arguments.command {
        Command::Append(args) => cli::append::run(args),
        Command::Dump(args) => cli::dump::run(args),
        Command::Verify(args) => cli::verify::run(args),
        Command::Repair(args) => cli::repair::run(args),
        Command::Stats(args) => cli::stats::run(args),
        Command::Ship(args) => cli::ship::run(args),
        Command::Digest(args) => cli::digest::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Call(args) => cli::call::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Soak(args) => cli::soak::run(args),
        Command::SoakChild(args) => cli::soak::run_child(args),
    };
    match outcome {
        Ok(code) => code.into(),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("interstice: {}", failure.message);
            }
            failure.code.into()
        }
    }
}
