//! Expectations: connections a helper told conntrack to expect (FTP data channels).
//!
//! An expectation is a tuple with a wildcard source port. When a new connection's
//! first packet matches one, the connection is marked EXPECTED, gets the master's mark
//! and its packets are RELATED until a reply is seen. `/proc/net/nf_conntrack_expect`
//! lists them as `300 l3proto = 2 proto=6 src=A dst=B sport=0 dport=P ftp`.

use super::entry::Helper;
use super::tuple::Tuple;

/// One expected connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Expectation {
    /// The expected original tuple; `sport` is ignored when `any_sport`.
    pub tuple: Tuple,
    pub any_sport: bool,
    /// The id of the connection whose helper created it.
    pub master_id: u32,
    pub helper: Helper,
    pub expires_ms: u64,
}

impl Expectation {
    pub fn matches(&self, t: &Tuple) -> bool {
        let e = &self.tuple;
        e.src == t.src
            && e.dst == t.dst
            && e.protocol == t.protocol
            && e.dport == t.dport
            && (self.any_sport || e.sport == t.sport)
    }

    /// The `/proc/net/nf_conntrack_expect` line.
    pub fn proc_line(&self, now_ms: u64) -> String {
        let t = &self.tuple;
        format!(
            "{} l3proto = 2 proto={} src={} dst={} sport={} dport={} {}",
            self.expires_ms.saturating_sub(now_ms) / 1000,
            t.protocol,
            t.src,
            t.dst,
            if self.any_sport { 0 } else { t.sport },
            t.dport,
            self.helper.name()
        )
    }
}

/// The expectation table.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Expectations {
    list: Vec<Expectation>,
}

impl Expectations {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    pub fn len(&self) -> usize {
        self.list.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Expectation> {
        self.list.iter()
    }

    /// Forgets expired expectations.
    pub fn expire(&mut self, now_ms: u64) {
        self.list.retain(|e| e.expires_ms > now_ms);
    }

    /// Removes and returns the expectation a new connection's tuple matches.
    pub fn take_match(&mut self, now_ms: u64, t: &Tuple) -> Option<Expectation> {
        self.expire(now_ms);
        let i = self.list.iter().position(|e| e.matches(t))?;
        Some(self.list.remove(i))
    }

    /// Adds an expectation; a master may have at most `max_per_master` (the oldest goes).
    pub fn add(&mut self, exp: Expectation, max_per_master: usize) {
        self.list
            .retain(|e| !(e.master_id == exp.master_id && e.tuple == exp.tuple));
        let of_master = self
            .list
            .iter()
            .filter(|e| e.master_id == exp.master_id)
            .count();
        if of_master >= max_per_master {
            if let Some(i) = self.list.iter().position(|e| e.master_id == exp.master_id) {
                self.list.remove(i);
            }
        }
        self.list.push(exp);
    }

    /// Drops the expectations of a connection that went away.
    pub fn remove_master(&mut self, master_id: u32) {
        self.list.retain(|e| e.master_id != master_id);
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }
}
