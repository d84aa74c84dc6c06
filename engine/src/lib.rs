//! wasmwall: a stateful firewall with Linux netfilter semantics.
//!
//! Raw IPv4 bytes and the time go in; a decision comes out. Nothing here reads a
//! clock or does I/O, so the same engine runs natively, in a browser and as a WASI
//! component, and every run is reproducible.
//!
//! - [`wire`]: packet views over bytes, and building packets from a description.
//! - [`conntrack`]: connection tracking exactly as Linux's `nf_conntrack` does it.
//! - [`rules`]: the iptables `filter` and `raw` tables.
//! - [`defrag`]: reassembly before tracking.
//! - [`firewall`]: the router pipeline that ties them together.
//! - `oracle` (feature `oracle`): replay of kernel-oracle traces.
//! - `capture` (feature `pcap`): pcap files read into memory for replays and benchmarks.
#![cfg_attr(
    not(all(target_arch = "wasm32", target_os = "wasi")),
    forbid(unsafe_code)
)]
// The component's generated bindings (and only they) need unsafe code.
#![cfg_attr(all(target_arch = "wasm32", target_os = "wasi"), deny(unsafe_code))]

/// The engine's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(all(feature = "pcap", not(all(target_arch = "wasm32", target_os = "wasi"))))]
pub mod capture;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
#[allow(unsafe_code)]
mod component;
pub mod conntrack;
pub mod defrag;
pub mod firewall;
mod local;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod routing;
pub mod rules;
mod sort;
pub mod wire;

pub use conntrack::{Conntrack, CtState, Settings};
pub use firewall::{Decision, Firewall, Iface, Outcome};
