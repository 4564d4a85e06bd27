use interstice::runtime::Table;

#[derive(Table)]
#[table(nmae = "accounts")]
struct Account {
    id: u64,
}

#[derive(Table)]
#[table(version = "two")]
struct Ledger {
    id: u64,
    #[index(owner)]
    owner: String,
    #[default]
    balance: i64,
    #[table(name = "ledgers")]
    note: String,
}

#[derive(Table)]
struct Book {
    #[unique]
    #[index]
    isbn: String,
    title: String,
}

fn main() {}
