//! Ruleset parsing; saved text parses back to the same rules.
//! The harness is shared with `cargo test` (engine/tests/support/harness.rs).
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::rules(data));
