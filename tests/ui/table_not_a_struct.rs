use interstice::runtime::Table;

#[derive(Table)]
enum Color {
    Red,
}

#[derive(Table)]
struct Pair(u64, u64);

fn main() {}
