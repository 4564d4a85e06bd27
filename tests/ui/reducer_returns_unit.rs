use interstice::runtime::{ReducerContext, reducer};

#[reducer]
fn deposit(ctx: &mut ReducerContext, amount: u64) {
    let _ = (ctx, amount);
}

#[reducer]
fn withdraw(ctx: &mut ReducerContext, amount: u64) -> Result<u64, String> {
    let _ = ctx;
    Ok(amount)
}

fn main() {}
