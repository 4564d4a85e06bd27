//! A small bank ledger over the runtime: accounts and transfers; each transfer moves money
//! between two accounts and records itself, atomically, durably. A transfer the source account
//! cannot pay is refused and writes nothing.
//!
//! ```text
//! cargo run --example ledger -- /tmp/ledger          # 5000 transfers (a few seconds), balances
//! cargo run --example ledger -- /tmp/ledger 1000000  # kill it (Ctrl-C) at any moment...
//! cargo run --example ledger -- /tmp/ledger 0        # ...and see every transfer it printed
//! interstice dump /tmp/ledger --runtime                # each call, with its changes
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

use interstice::runtime::{
    CallError, Error, ReducerContext, Runtime, RuntimeConfig, Table, reducer,
};
use interstice::{Durability, Options};

const ACCOUNTS: u64 = 8;
const OPENING_BALANCE: i64 = 1_000;

/// An account: its owner (unique) and its balance.
#[derive(Table, Clone, Debug)]
#[table(name = "accounts")]
struct Account {
    #[primary_key]
    id: u64,
    #[unique]
    owner: String,
    balance: i64,
}

/// A transfer on the books; its id is assigned when it is inserted.
#[derive(Table, Clone, Debug)]
#[table(name = "transfers")]
struct Transfer {
    #[primary_key]
    #[auto_inc]
    id: u64,
    #[index]
    from: u64,
    to: u64,
    amount: i64,
    /// When it was made (microseconds since the Unix epoch), from the call's record.
    at: u64,
}

/// Why a transfer was refused.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("account {0} holds {1}, less than {2}")]
    InsufficientFunds(u64, i64, i64),
    #[error(transparent)]
    Runtime(#[from] Error),
}

/// Moves `amount` from `from` to `to` and records the transfer: one log record holding this
/// call and its changes. Refused (nothing written) when funds are short.
#[reducer]
fn transfer(ctx: &mut ReducerContext, from: u64, to: u64, amount: i64) -> Result<(), Refused> {
    let mut source = ctx.get::<Account>(&from)?.expect("account exists");
    let mut target = ctx.get::<Account>(&to)?.expect("account exists");
    if source.balance < amount {
        return Err(Refused::InsufficientFunds(from, source.balance, amount));
    }
    source.balance -= amount;
    target.balance += amount;
    ctx.update(source)?;
    ctx.update(target)?;
    let at = ctx.timestamp.0;
    ctx.insert(Transfer {
        id: 0,
        from,
        to,
        amount,
        at,
    })?;
    Ok(())
}

/// Opens the accounts on a fresh ledger, in one transaction.
#[reducer]
fn open_accounts(ctx: &mut ReducerContext, count: u64, balance: i64) -> Result<(), Error> {
    for id in 0..count {
        ctx.insert(Account {
            id,
            owner: format!("customer-{id}"),
            balance,
        })?;
    }
    Ok(())
}

fn config(dir: PathBuf) -> RuntimeConfig {
    RuntimeConfig::new(dir)
        .log(Options {
            segment_size: 4 * 1024 * 1024,
            durability: Durability::EveryAppend,
            ..Options::default()
        })
        .table::<Account>()
        .table::<Transfer>()
        .reducer(transfer)
        .reducer(open_accounts)
}

fn total(runtime: &Runtime) -> Result<i64, Error> {
    Ok(runtime.scan::<Account>()?.iter().map(|a| a.balance).sum())
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
    for account in runtime.scan::<Account>()? {
        println!("  {:<12} {:>8}", account.owner, account.balance);
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
        runtime
            .call(open_accounts, (ACCOUNTS, OPENING_BALANCE))
            .map_err(|e| Error::aborted(e.to_string()))?;
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
    let (mut accepted, mut refused) = (0u64, 0u64);
    let started = Instant::now();
    for done in 1..=count {
        let from = random.next(ACCOUNTS);
        let to = (from + 1 + random.next(ACCOUNTS - 1)) % ACCOUNTS;
        let amount = 1 + random.next(200).cast_signed();
        match runtime.call(transfer, (from, to, amount)) {
            Ok(_) => accepted += 1,
            Err(CallError::Failed {
                error: Refused::InsufficientFunds(..),
                ..
            }) => refused += 1,
            Err(error) => return Err(Error::aborted(error.to_string())),
        }
        if done % 500 == 0 {
            println!(
                "acknowledged: {} transfers on the books, total balance {}",
                runtime.len("transfers")?,
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
