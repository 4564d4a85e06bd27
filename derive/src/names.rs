//! Names made from Rust identifiers: a table's from its struct, a column constant's from its
//! field.

/// `UserProfile` -> `user_profile`, `HTTPServer` -> `http_server`, `Ledger2Entry` ->
/// `ledger2_entry`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_uppercase() {
            out.push(c);
            continue;
        }
        let boundary = i.checked_sub(1).map(|j| chars[j]).is_some_and(|prev| {
            prev.is_lowercase()
                || prev.is_ascii_digit()
                || prev.is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase())
        });
        if boundary && !out.ends_with('_') {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// `owner` -> `OWNER`, `createdAt` -> `CREATED_AT`.
pub fn upper_snake_case(name: &str) -> String {
    snake_case(name).to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_names_become_snake_case() {
        for (name, snake) in [
            ("Account", "account"),
            ("UserProfile", "user_profile"),
            ("HTTPServer", "http_server"),
            ("Ledger2Entry", "ledger2_entry"),
            ("ABC", "abc"),
            ("My_Table", "my_table"),
            ("already_snake", "already_snake"),
        ] {
            assert_eq!(snake_case(name), snake, "{name}");
        }
    }

    #[test]
    fn field_names_become_upper_case() {
        assert_eq!(upper_snake_case("owner"), "OWNER");
        assert_eq!(upper_snake_case("created_at"), "CREATED_AT");
        assert_eq!(upper_snake_case("createdAt"), "CREATED_AT");
        assert_eq!(upper_snake_case("_hidden"), "_HIDDEN");
    }
}
