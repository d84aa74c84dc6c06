//! wasmwall: a stateful firewall with Linux netfilter semantics.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod conntrack;
pub mod defrag;
pub mod firewall;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod rules;
pub mod wire;

pub use conntrack::{Conntrack, CtState, Settings};
pub use firewall::{Decision, Firewall, Iface, Outcome};
