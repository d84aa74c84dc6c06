//! wasmwall: a stateful firewall with Linux netfilter semantics.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod wire;
pub mod conntrack;
pub mod rules;
pub mod defrag;
// pub mod firewall; (enabled once rules lands)

pub use conntrack::{Conntrack, CtState, Settings};
