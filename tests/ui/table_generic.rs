use interstice::runtime::Table;

#[derive(Table)]
struct Wrapper<T> {
    id: u64,
    value: T,
}

fn main() {}
