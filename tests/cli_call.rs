//! `interstice call`: a module's reducer called on a runtime directory from the command line,
//! the LSN printed, failures and bad arguments refused with their exit codes.

mod common;

use common::{run_text, s};

#[cfg(feature = "wasm")]
#[test]
fn call_runs_a_modules_reducer_and_prints_the_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let module = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/modules/bank.wat");
    let db = dir.path().join("db");
    let call = |reducer: &str, args: &str| {
        run_text(&[
            "call",
            s(&db),
            "--module",
            module,
            reducer,
            args,
            "--caller",
            "3",
        ])
    };
    let (code, out, err) = call("open_account", "[1, 100]");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("LSN "), "{out}");
    assert_eq!(call("open_account", "[2, 5]").0, 0);
    let (code, out, err) = call("transfer", "[1, 2, 40]");
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.trim(), "bank: transfer done");
    let lsn = out.trim().strip_prefix("LSN ").unwrap().to_owned();

    // The call is in the log, with its changes.
    let (code, out, _) = run_text(&["dump", s(&db), "--runtime", "--from", &lsn]);
    assert_eq!(code, 0);
    assert!(
        out.contains("transfer(1, 2, 40) by caller 3 in module bank")
            && out.contains("accounts 2 balance 5 -> 45"),
        "{out}"
    );

    // Refused: exit 1 naming module and reducer; nothing written.
    let (code, _, err) = call("transfer", "[2, 1, 1000]");
    assert_eq!(code, 1);
    assert!(
        err.contains("module bank, reducer transfer: refused: insufficient funds"),
        "{err}"
    );
    let (code, _, err) = run_text(&["call", s(&db), "--module", module, "spin", "--fuel", "1000"]);
    assert_eq!(code, 1);
    assert!(err.contains("ran out of fuel (1000 units)"), "{err}");
    let (_, after, _) = run_text(&["dump", s(&db), "--runtime", "--from", &lsn]);
    assert_eq!(
        after.lines().count(),
        1,
        "a failed call wrote something: {after}"
    );

    // Bad usage: exit 2.
    for (reducer, args, expected) in [
        (
            "transfer",
            "[1, 2]",
            "2 arguments for 3 parameters (from, to, amount)",
        ),
        ("transfer", "[1, 2, \"x\"]", "amount"),
        (
            "nope",
            "[]",
            "has no reducer nope (it has open_account, transfer",
        ),
    ] {
        let (code, _, err) = call(reducer, args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(expected), "{err}");
    }
    let (code, _, err) = run_text(&["call", s(&db), "--module", "/nonexistent.wasm", "r"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.wasm"), "{err}");
}

#[cfg(not(feature = "wasm"))]
#[test]
fn call_without_the_module_host_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_text(&["call", s(dir.path()), "--module", "m.wasm", "r", "[]"]);
    assert_eq!(code, 2);
    assert!(err.contains("--features wasm"), "{err}");
}
