use std::collections::HashMap;

use interstice::runtime::Table;

#[derive(Table)]
struct Account {
    id: u64,
    counts: HashMap<u8, u8>,
}

fn main() {}
