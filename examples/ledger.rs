//! A small bank ledger over the runtime: accounts and transfers; each transfer moves money
//! between two accounts and records itself, atomically, durably. A transfer the source account
//! cannot pay is refused and writes nothing.
//!
//! ```text
//! cargo run --example ledger -- /tmp/ledger          # 5000 transfers (a few seconds), balances
//! cargo run --example ledger -- /tmp/ledger 1000000  # kill it (Ctrl-C) at any moment...
//! cargo run --example ledger -- /tmp/ledger 0        # ...and see every transfer it printed
//! ```
//!
//! The second argument is the number of transfers to attempt (default 5000; 0 attempts none and
//! only prints the books). Each run ends with the transfers attempted, accepted and refused for
//! insufficient funds, then the balances.
//!
//! The total balance never changes: after a kill, the reopened ledger holds every transfer
//! acknowledged (printed) before it, and the books still balance.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use interstice::runtime::{ColumnType, Error, Row, Runtime, RuntimeConfig, Schema, Value};
use interstice::{Durability, Options};

const ACCOUNTS: u64 = 8;
const OPENING_BALANCE: i64 = 1_000;

fn config(dir: PathBuf) -> RuntimeConfig {
    RuntimeConfig::new(dir)
        .log(Options {
            segment_size: 4 * 1024 * 1024,
            durability: Durability::EveryAppend,
            ..Options::default()
        })
        .schema(
            Schema::new("accounts", 1)
                .column("id", ColumnType::U64)
                .column("owner", ColumnType::Str)
                .column("balance", ColumnType::I64),
        )
        .schema(
            Schema::new("transfers", 1)
                .column("id", ColumnType::U64)
                .column("from", ColumnType::U64)
                .column("to", ColumnType::U64)
                .column("amount", ColumnType::I64)
                .index("from"),
        )
}

fn balance(row: &Row) -> i64 {
    row.get("balance").and_then(Value::as_i64).unwrap_or(0)
}

fn total(runtime: &Runtime) -> Result<i64, Error> {
    Ok(runtime.scan_rows("accounts")?.iter().map(balance).sum())
}

/// Opens the accounts on a fresh ledger, in one transaction.
fn open_accounts(runtime: &Runtime) -> Result<(), Error> {
    runtime.transact(|tx| {
        for id in 0..ACCOUNTS {
            let row = Row::new()
                .with("id", id)
                .with("owner", format!("customer-{id}"))
                .with("balance", OPENING_BALANCE);
            tx.insert_row("accounts", row)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Moves `amount` from `from` to `to`; refused (nothing written) when funds are short.
fn transfer(runtime: &Runtime, id: u64, from: u64, to: u64, amount: i64) -> Result<bool, Error> {
    let moved = runtime.transact(|tx| {
        let mut source = tx.get_row("accounts", from)?.expect("account exists");
        let mut target = tx.get_row("accounts", to)?.expect("account exists");
        if balance(&source) < amount {
            return Err(Error::aborted("insufficient funds"));
        }
        source.set("balance", balance(&source) - amount);
        target.set("balance", balance(&target) + amount);
        tx.update_row("accounts", source)?;
        tx.update_row("accounts", target)?;
        let record = Row::new()
            .with("id", id)
            .with("from", from)
            .with("to", to)
            .with("amount", amount);
        tx.insert_row("transfers", record)
    });
    match moved {
        Ok(_) => Ok(true),
        Err(Error::Aborted { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// A xorshift generator: enough to pick accounts and amounts.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn print_balances(runtime: &Runtime) -> Result<(), Error> {
    for row in runtime.scan_rows("accounts")? {
        let owner = row.get("owner").and_then(Value::as_str).unwrap_or("?");
        println!("  {owner:<12} {:>8}", balance(&row));
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: ledger DIR [TRANSFERS]   (attempts 5000 by default; 0 only prints)");
        std::process::exit(2);
    };
    let count: u64 = args.next().map_or(5_000, |n| n.parse().expect("a number"));
    let runtime = Runtime::open(config(PathBuf::from(dir)))?;
    let report = runtime.open_report();
    if runtime.len("accounts")? == 0 {
        open_accounts(&runtime)?;
        println!("new ledger: {ACCOUNTS} accounts of {OPENING_BALANCE}");
    } else {
        println!(
            "reopened: snapshot at LSN {}, {} records replayed, {} transfers on the books",
            report.snapshot.as_ref().map_or(0, |s| s.0.as_u64()),
            report.records_replayed,
            runtime.len("transfers")?
        );
    }
    let expected = OPENING_BALANCE * ACCOUNTS.cast_signed();
    let books = total(&runtime)?;
    println!("total balance {books} (must be {expected})");
    assert_eq!(books, expected, "the books do not balance");

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut random = Random(seed);
    let mut next_id = runtime.len("transfers")? as u64;
    let (mut accepted, mut refused) = (0u64, 0u64);
    let started = Instant::now();
    for done in 1..=count {
        let from = random.next(ACCOUNTS);
        let to = (from + 1 + random.next(ACCOUNTS - 1)) % ACCOUNTS;
        let amount = 1 + random.next(200).cast_signed();
        if transfer(&runtime, next_id, from, to, amount)? {
            next_id += 1;
            accepted += 1;
        } else {
            refused += 1;
        }
        if done % 500 == 0 {
            println!(
                "acknowledged: {next_id} transfers on the books, total balance {}",
                total(&runtime)?
            );
        }
        if done % 2500 == 0 {
            let compaction = runtime.snapshot_and_compact()?;
            println!(
                "snapshot at LSN {}, {} old segments removed",
                compaction.snapshot_lsn, compaction.segments_removed
            );
        }
    }
    if count > 0 {
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{count} transfers attempted in {seconds:.1} s: {accepted} accepted, \
             {refused} refused for insufficient funds"
        );
    }
    println!("balances:");
    print_balances(&runtime)?;
    println!("total balance {}", total(&runtime)?);
    runtime.close()
}
