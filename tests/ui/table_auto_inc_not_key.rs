use interstice::runtime::Table;

#[derive(Table)]
struct Account {
    id: u64,
    #[auto_inc]
    serial: u64,
}

fn main() {}
