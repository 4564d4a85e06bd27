//! `interstice`: the operator's command-line tool.

fn main() {
    println!("interstice");
}
