//! Rules clippy and rustfmt do not check: ASCII source, 100 columns, no leftover debugging
//! markers, and `unsafe` confined to the one module whose contract allows it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        // benches/peers is a separate crate (the peer comparison) with its own checks.
        if name == "target" || name == "peers" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "examples", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    // The derive macros' crate, a member of the workspace, follows the same rules.
    rust_files(&root.join("derive"), &mut files);
    assert!(files.len() > 10, "the tidy walk found too few files");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

#[test]
fn sources_are_ascii_and_fit_100_columns() {
    for (path, text) in sources() {
        for (i, line) in text.lines().enumerate() {
            assert!(
                line.is_ascii(),
                "{}:{}: non-ASCII character",
                path.display(),
                i + 1
            );
            assert!(
                line.len() <= 100,
                "{}:{}: longer than 100 columns",
                path.display(),
                i + 1
            );
        }
    }
}

#[test]
fn no_debugging_leftovers() {
    let markers = [
        concat!("db", "g!("),
        concat!("FIX", "ME"),
        concat!("to", "do!("),
    ];
    for (path, text) in sources() {
        for marker in markers {
            assert!(
                !text.contains(marker),
                "{}: contains {marker}",
                path.display()
            );
        }
    }
}

#[test]
fn unsafe_lives_only_in_the_mapping_module() {
    // The library's unsafe code is the mapping and the followers' beacon (atomics over a
    // page shared between processes, futex, membarrier); tests and tools may need it to set
    // up child processes (`pre_exec`, `setrlimit`), and then each block states why it is
    // sound.
    let word = concat!("uns", "afe");
    for (path, text) in sources() {
        let in_library = path.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        let allowed_in_library =
            path.ends_with("src/disk/mmap.rs") || path.ends_with("src/disk/beacon.rs");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            // Blocks and impls need a reason; `unsafe fn` signatures of such an impl do not
            // (the blocks in their bodies do).
            if !(code.contains(&format!("{word} {{")) || code.contains(&format!("{word} impl"))) {
                continue;
            }
            assert!(
                !in_library || allowed_in_library,
                "{}:{}: {word} code outside src/disk/mmap.rs and src/disk/beacon.rs",
                path.display(),
                i + 1
            );
            // The comment block right above the line must say why it is sound.
            let justified = lines[..i]
                .iter()
                .rev()
                .take_while(|l| {
                    let l = l.trim_start();
                    l.starts_with("//") || l.starts_with("#[")
                })
                .any(|l| l.contains("SAFETY:"));
            assert!(
                justified,
                "{}:{}: {word} block without a SAFETY comment",
                path.display(),
                i + 1
            );
        }
    }
}
