//! A WASM reducer call (the bank module's `transfer`, interpreted by wasmi in a fresh
//! instance per call) against the same reducer written in Rust, on the same table, without a
//! flush: what hosting a reducer costs per call.
//!
//! `cargo bench --features wasm --bench host`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use interstice::host::{Limits, Module};
use interstice::runtime::{
    Caller, Error, ReducerContext, Row, Runtime, RuntimeConfig, Value, reducer,
};
use interstice::{Durability, Options};

const BANK: &str = include_str!("../tests/modules/bank.wat");
const ACCOUNTS: u64 = 100;

/// The module's `transfer`, in Rust, on the module's `accounts` table.
#[reducer]
fn transfer(ctx: &mut ReducerContext, from: u64, to: u64, amount: i64) -> Result<(), Error> {
    let balance = |row: &Row| row.get("balance").and_then(Value::as_i64).unwrap_or(0);
    let source = ctx
        .get_row("accounts", from)?
        .ok_or_else(|| Error::aborted("no such account"))?;
    let target = ctx
        .get_row("accounts", to)?
        .ok_or_else(|| Error::aborted("no such account"))?;
    let (a, b) = (balance(&source), balance(&target));
    if a < amount {
        return Err(Error::aborted("insufficient funds"));
    }
    ctx.update_row(
        "accounts",
        Row::new().with("id", from).with("balance", a - amount),
    )?;
    ctx.update_row(
        "accounts",
        Row::new().with("id", to).with("balance", b + amount),
    )
}

fn calls(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(RuntimeConfig::new(dir.path()).log(Options {
        durability: Durability::None,
        ..Options::default()
    }))
    .unwrap();
    let module = Module::from_bytes("bank", BANK.as_bytes()).unwrap();
    let limits = Limits::default();
    for id in 0..ACCOUNTS {
        let args = vec![id.into(), 1_000_000_000i64.into()];
        module
            .call(&runtime, Caller(1), "open_account", args, &limits)
            .unwrap();
    }
    let mut group = c.benchmark_group("host_call");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("wasm", |b| {
        b.iter(|| {
            let args = vec![
                (i % ACCOUNTS).into(),
                ((i + 1) % ACCOUNTS).into(),
                1i64.into(),
            ];
            module
                .call(&runtime, Caller(1), "transfer", args, &limits)
                .unwrap();
            i += 1;
        });
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            runtime
                .call(transfer, (i % ACCOUNTS, (i + 1) % ACCOUNTS, 1))
                .unwrap();
            i += 1;
        });
    });
    group.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
