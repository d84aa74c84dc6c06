//! Packet parsing, checksums, TTL decrement, ICMP errors, REJECT answers and the builder round trip.
//! The harness is shared with `cargo test` (engine/tests/support/harness.rs).
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::wire(data));
