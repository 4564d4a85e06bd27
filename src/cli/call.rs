//! `interstice call`: calls a reducer of a WASM module on a runtime directory, as one logged
//! transaction (durable when the command returns), and prints the commit's LSN.

use std::path::PathBuf;

#[cfg(feature = "wasm")]
use super::Code;
use super::{Failure, Outcome};

/// Arguments of `call`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runtime directory (created, with the module's tables, when missing).
    pub dir: PathBuf,
    /// The module: a `.wasm` file, or its text form (`.wat`).
    #[arg(long, value_name = "FILE")]
    pub module: PathBuf,
    /// The reducer to call.
    pub reducer: String,
    /// Its arguments as a JSON array: numbers, strings, true/false, null; hex strings for
    /// bytes [default: `[]`]
    #[arg(value_name = "ARGS_JSON")]
    pub arguments: Option<String>,
    /// The caller's id, recorded with the call.
    #[arg(long, default_value_t = 0)]
    pub caller: u64,
    /// Instructions the call may run (wasmi fuel units).
    #[arg(long, default_value_t = 10_000_000)]
    pub fuel: u64,
    /// Memory the call's instance may use: `65536`, `64k`, `16m`.
    #[arg(long, value_parser = super::parse_size, default_value = "16m")]
    pub memory: u64,
    /// Print the outcome as JSON: `lsn`, `logs`, `fuel_used`.
    #[arg(long)]
    pub json: bool,
}

/// Runs `call`.
#[cfg(feature = "wasm")]
pub fn run(args: &Args) -> Outcome {
    use interstice::host::{CallFailure, HostError, Limits, Module};
    use interstice::runtime::{Caller, Runtime, RuntimeConfig};
    use interstice::{Durability, Options};

    let module = Module::from_file(&args.module).map_err(|e| Failure::usage(e.to_string()))?;
    let reducer = module
        .description()
        .reducers
        .iter()
        .find(|r| r.name == args.reducer)
        .ok_or_else(|| {
            Failure::usage(format!(
                "module {} has no reducer {} (it has {})",
                module.name(),
                args.reducer,
                module.reducer_names()
            ))
        })?;
    let values = reducer
        .args_from_json(args.arguments.as_deref().unwrap_or("[]"))
        .map_err(|e| Failure::usage(format!("reducer {}: {e}", args.reducer)))?;
    let config = RuntimeConfig::new(&args.dir).log(Options {
        durability: Durability::EveryAppend,
        ..Options::default()
    });
    let runtime = Runtime::open(config)?;
    let limits = Limits {
        fuel: args.fuel,
        memory_bytes: usize::try_from(args.memory).unwrap_or(usize::MAX),
    };
    let called = module.call(
        &runtime,
        Caller(args.caller),
        &args.reducer,
        values,
        &limits,
    );
    let outcome = match called {
        Ok(outcome) => outcome,
        Err(error @ HostError::Call { .. }) => {
            let usage = matches!(
                &error,
                HostError::Call {
                    failure: CallFailure::BadArguments(_) | CallFailure::NoSuchReducer(_),
                    ..
                }
            );
            return Err(if usage {
                Failure::usage(error.to_string())
            } else {
                Failure::failed(error.to_string())
            });
        }
        Err(HostError::Runtime(error)) => return Err(error.into()),
        Err(error) => return Err(Failure::failed(error.to_string())),
    };
    runtime.close()?;
    for line in &outcome.logs {
        eprintln!("{}: {line}", module.name());
    }
    if args.json {
        super::print_json(&serde_json::json!({
            "lsn": outcome.lsn.0,
            "logs": outcome.logs,
            "fuel_used": outcome.fuel_used,
        }))?;
    } else {
        println!("LSN {}", outcome.lsn);
    }
    Ok(Code::Ok)
}

/// Runs `call`: this build has no module host.
#[cfg(not(feature = "wasm"))]
pub fn run(_args: &Args) -> Outcome {
    Err(Failure::usage(
        "this interstice was built without the module host: build it with --features wasm",
    ))
}
