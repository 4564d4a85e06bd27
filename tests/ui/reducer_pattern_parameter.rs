use interstice::runtime::{ReducerContext, reducer};

#[reducer]
fn add(ctx: &mut ReducerContext, (a, b): (u64, u64)) -> Result<(), String> {
    let _ = (ctx, a, b);
    Ok(())
}

fn main() {}
