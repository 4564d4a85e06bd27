//! Raw bytes as one segment: the scan, the header and the footer decoders never panic.
#![no_main]

include!("../targets_common.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_common::segment_parse(data));
