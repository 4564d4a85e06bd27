use interstice::runtime::Table;

// The first field is the key by default.
#[derive(Table)]
struct Note {
    id: Option<u64>,
    text: String,
}

#[derive(Table)]
struct Tag {
    name: String,
    #[primary_key]
    id: std::option::Option<u64>,
}

fn main() {}
