use interstice::runtime::{ReducerContext, reducer};

#[reducer]
fn rename(ctx: &mut ReducerContext, name: &str) -> Result<(), String> {
    let _ = (ctx, name);
    Ok(())
}

#[reducer]
async fn later(ctx: &mut ReducerContext) -> Result<(), String> {
    let _ = ctx;
    Ok(())
}

struct Bank;

impl Bank {
    #[reducer]
    fn audit(&self, ctx: &mut ReducerContext) -> Result<(), String> {
        let _ = ctx;
        Ok(())
    }
}

#[reducer(title = "x")]
fn titled(ctx: &mut ReducerContext) -> Result<(), String> {
    let _ = ctx;
    Ok(())
}

fn main() {}
