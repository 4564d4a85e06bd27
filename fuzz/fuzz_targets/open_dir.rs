//! Raw bytes as a log directory of one to three segment files, opened read-only and for
//! writing in every recovery mode: never a panic, only the errors bad bytes call for.
#![no_main]

include!("../targets_common.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_common::open_dir(data));
