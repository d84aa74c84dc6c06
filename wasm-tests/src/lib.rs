//! wasm-bindgen tests of wasmwall.
//!
//! The tests live in `tests/`: `node.rs` runs under node (`wasm-pack test --node wasm-tests`)
//! and `browser.rs` in headless Chromium (`wasm-pack test --headless --chrome wasm-tests`).
//! Each runner silently skips the other's file, so `cargo xtask test` runs both and checks
//! that each one reports tests passed.
//!
//! This library holds what the node tests compare: the committed kernel-oracle traces
//! (embedded by `build.rs`), and re-exports the engine's comparison of a kernel trace
//! with a replay (`wasmwall::oracle::compare`), which `engine/tests/kernel_traces.rs`
//! applies natively.

pub use wasmwall::oracle::compare::{agreement, compare_entries, Agreement, TOLERANCE_SECS};

/// One committed kernel trace.
pub struct Fixture {
    pub name: &'static str,
    /// The trace as Linux recorded it.
    pub kernel: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/kernel_fixtures.rs"));
