//! Operations against a log with 16 KiB segments (appends, batches, syncs, rotations, both
//! truncations, reopens, crashes, power cuts, a damaged byte and an open in a chosen recovery
//! mode, reads), checked after each one against a model of the records and the durable LSN.
#![no_main]

include!("../targets_common.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_common::ops::ops(data));
