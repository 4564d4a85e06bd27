//! A real log damaged by one to four edits, repaired as `interstice repair` does: dry runs
//! change nothing, a repair leaves an intact log of records that were appended, quarantines
//! what it removes, and a second repair has nothing to do.
#![no_main]

include!("../targets_common.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_common::repair::repair(data));
