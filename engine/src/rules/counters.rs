//! Rule and policy counters in the kernel-oracle trace shape (what
//! `iptables-save -c` shows, parsed):
//!
//! ```json
//! {"filter": {"policies": {"FORWARD": {"policy": "DROP", "packets": 0, "bytes": 0}},
//!             "rules": [{"chain": "FORWARD", "rule": "-A FORWARD -j ACCEPT", "packets": 1, "bytes": 60}]}}
//! ```
//!
//! User chains appear under `policies` with policy `-` and zero counters, as the
//! recorder lists them. Maps keep iptables-save's order.

use super::table::{Policy, Table};

/// A chain's policy and the packets it decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCounters {
    /// `ACCEPT`, `DROP`, or `-` for a user chain.
    pub policy: String,
    pub packets: u64,
    pub bytes: u64,
}

/// One rule's counters, keyed by its iptables-save text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RuleCounters {
    pub chain: String,
    pub rule: String,
    pub packets: u64,
    pub bytes: u64,
}

/// The counters of one table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableCounters {
    /// (chain, policy counters), built-in chains first.
    pub policies: Vec<(String, PolicyCounters)>,
    pub rules: Vec<RuleCounters>,
}

/// The counters of every table, by table name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    pub tables: Vec<(String, TableCounters)>,
}

impl Counters {
    pub fn table(&self, name: &str) -> Option<&TableCounters> {
        self.tables.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

impl TableCounters {
    pub fn policy(&self, chain: &str) -> Option<&PolicyCounters> {
        self.policies
            .iter()
            .find(|(n, _)| n == chain)
            .map(|(_, p)| p)
    }

    pub(crate) fn of(table: &Table) -> TableCounters {
        let mut out = TableCounters::default();
        for i in table.save_order() {
            let c = &table.chains[i];
            let policy = c.policy.map_or("-", Policy::name).to_string();
            out.policies.push((
                c.name.to_string(),
                PolicyCounters {
                    policy,
                    packets: c.packets,
                    bytes: c.bytes,
                },
            ));
            for r in &c.rules {
                out.rules.push(RuleCounters {
                    chain: c.name.to_string(),
                    rule: r.text(&c.name),
                    packets: r.packets,
                    bytes: r.bytes,
                });
            }
        }
        out
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;
    use serde::ser::{SerializeMap, SerializeStruct};
    use serde::{Serialize, Serializer};

    impl Serialize for PolicyCounters {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("PolicyCounters", 3)?;
            st.serialize_field("policy", &self.policy)?;
            st.serialize_field("packets", &self.packets)?;
            st.serialize_field("bytes", &self.bytes)?;
            st.end()
        }
    }

    struct Policies<'a>(&'a [(String, PolicyCounters)]);

    impl Serialize for Policies<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }

    impl Serialize for TableCounters {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("TableCounters", 2)?;
            st.serialize_field("policies", &Policies(&self.policies))?;
            st.serialize_field("rules", &self.rules)?;
            st.end()
        }
    }

    impl Serialize for Counters {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.tables.len()))?;
            for (k, v) in &self.tables {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
}
