use interstice::runtime::Table;

#[derive(Table)]
struct Empty {}

fn main() {}
