//! What the derive macros refuse, and how they say so: each file of tests/ui must fail to
//! compile with the messages in its .stderr file (`TRYBUILD=overwrite` rewrites them).

#[test]
fn derive_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
