use interstice::runtime::reducer;

#[reducer]
fn deposit(amount: u64) -> Result<(), String> {
    let _ = amount;
    Ok(())
}

#[reducer]
fn noop() -> Result<(), String> {
    Ok(())
}

fn main() {}
