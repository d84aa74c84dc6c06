//! wasm-bindgen tests of wasmwall.
//!
//! The tests live in `tests/`: `node.rs` runs under node (`wasm-pack test --node wasm-tests`)
//! and `browser.rs` in headless Chromium (`wasm-pack test --headless --chrome wasm-tests`).
//! Each runner silently skips the other's file, so `cargo xtask test` runs both and checks
//! that each one reports tests passed.
