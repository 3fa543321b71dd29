//! cargo-fuzz target `packet`: see `fuzz/targets.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpd_fuzz::packet(data));
