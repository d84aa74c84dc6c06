//! Packet sequences with time steps through a firewall with a tiny table, invariants after every step.
//! The harness is shared with `cargo test` (engine/tests/support/harness.rs).
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::engine(data));
