use interstice::runtime::{Field, ReducerContext, reducer};

#[reducer]
fn store<T: Field>(ctx: &mut ReducerContext, value: T) -> Result<(), String> {
    let _ = (ctx, value);
    Ok(())
}

fn main() {}
