//! Arbitrary JSON as conntrack state: refused, or imported into a consistent tracker.
//! The harness is shared with `cargo test` (engine/tests/support/harness.rs).
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::snapshot(data));
