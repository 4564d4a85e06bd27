use interstice::runtime::Table;

#[derive(Table)]
struct Account {
    #[primary_key]
    id: u64,
    #[primary_key]
    owner: String,
}

fn main() {}
