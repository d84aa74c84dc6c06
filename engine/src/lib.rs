//! wasmwall: a stateful firewall with Linux netfilter semantics.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod wire;
