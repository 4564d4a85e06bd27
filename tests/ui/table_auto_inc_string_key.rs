use interstice::runtime::Table;

#[derive(Table)]
struct Account {
    #[primary_key]
    #[auto_inc]
    owner: String,
}

fn main() {}
