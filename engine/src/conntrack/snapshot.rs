//! Exporting and importing a tracker's whole state (for hosts that persist it, and
//! for moving a table between instances).
//!
//! [`Snapshot`] is plain data; [`Conntrack::import`] checks it before building a
//! tracker from it, so a corrupt or hostile snapshot is refused with a reason and
//! never yields an inconsistent table.

use super::entry::{Entry, ProtoState};
use super::expect::Expectation;
use super::helper::HelperState;
use super::settings::Settings;
use super::table::Table;
use super::{Conntrack, Stats};
use core::fmt;
use hashbrown::HashSet;

/// Everything a tracker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    pub settings: Settings,
    pub entries: Vec<Entry>,
    pub expectations: Vec<Expectation>,
    pub helper_state: Vec<(u32, HelperState)>,
    pub next_id: u32,
    pub stats: Stats,
}

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// More entries than the snapshot's own maximum allows.
    TooManyEntries { entries: usize, max: u32 },
    /// An entry's original tuple has no inverse (an ICMP error's, say), so the entry
    /// has no reply tuple.
    NoReplyTuple { id: u32 },
    /// Two entries claim the same tuple.
    DuplicateTuple { id: u32 },
    /// Two entries have the same id, or an id at or above `next_id`.
    BadId { id: u32 },
    /// An entry's protocol state does not fit its protocol, or holds impossible values.
    ProtocolMismatch { id: u32 },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::TooManyEntries { entries, max } => {
                write!(f, "{entries} entries exceed the table maximum of {max}")
            }
            SnapshotError::NoReplyTuple { id } => {
                write!(f, "entry {id}: its original tuple has no reply tuple")
            }
            SnapshotError::DuplicateTuple { id } => {
                write!(f, "entry {id}: tuple already used by another entry")
            }
            SnapshotError::BadId { id } => write!(f, "entry {id}: duplicate or out-of-range id"),
            SnapshotError::ProtocolMismatch { id } => {
                write!(f, "entry {id}: protocol state does not match its protocol")
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

impl Conntrack {
    /// The tracker's whole state.
    pub fn export(&self) -> Snapshot {
        let mut entries: Vec<Entry> = self.entries().cloned().collect();
        crate::sort::sort_by_key(&mut entries, |e| e.id);
        let mut helper_state: Vec<(u32, HelperState)> = self
            .helper_state
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        crate::sort::sort_by_key(&mut helper_state, |(k, _)| *k);
        Snapshot {
            settings: self.settings.clone(),
            entries,
            expectations: self.expectations.iter().cloned().collect(),
            helper_state,
            next_id: self.next_id,
            stats: self.stats,
        }
    }

    /// Builds a tracker from a snapshot after checking it.
    pub fn import(snap: Snapshot) -> Result<Conntrack, SnapshotError> {
        let max = snap.settings.max;
        if max > 0 && snap.entries.len() > max as usize {
            return Err(SnapshotError::TooManyEntries {
                entries: snap.entries.len(),
                max,
            });
        }
        let mut tuples = HashSet::new();
        let mut ids = HashSet::new();
        for e in &snap.entries {
            let Some(reply) = e.original().invert() else {
                return Err(SnapshotError::NoReplyTuple { id: e.id });
            };
            // A tuple can be its own inverse (a packet from a host to itself).
            let reply_is_new = reply == *e.original() || tuples.insert(reply);
            if !tuples.insert(*e.original()) || !reply_is_new {
                return Err(SnapshotError::DuplicateTuple { id: e.id });
            }
            if !ids.insert(e.id) || e.id >= snap.next_id {
                return Err(SnapshotError::BadId { id: e.id });
            }
            let fits = matches!(
                (&e.proto, e.original().protocol),
                (ProtoState::Tcp(_), 6)
                    | (ProtoState::Udp { .. }, 17)
                    | (ProtoState::Icmp, 1)
                    | (ProtoState::Gre { .. }, 47)
                    | (ProtoState::Sctp(_), 132)
                    | (ProtoState::UdpLite, 136)
            ) || (matches!(e.proto, ProtoState::Generic)
                && !matches!(e.original().protocol, 1 | 6 | 17 | 47 | 132 | 136));
            // Window-scale shifts above RFC 7323's 14 never come from a real SYN.
            let sane_tcp = match &e.proto {
                ProtoState::Tcp(t) => t.seen.iter().all(|s| s.scale <= 14) && t.last_wscale <= 14,
                _ => true,
            };
            if !fits || !sane_tcp {
                return Err(SnapshotError::ProtocolMismatch { id: e.id });
            }
        }
        let mut ct = Conntrack::new(snap.settings);
        ct.table = Table::new(super::table::bucket_count(ct.settings.buckets));
        for e in snap.entries {
            ct.table.insert(e);
        }
        for x in snap.expectations {
            ct.expectations.add(x, usize::MAX);
        }
        ct.helper_state = snap.helper_state.into_iter().collect();
        ct.next_id = snap.next_id.max(1);
        ct.stats = snap.stats;
        Ok(ct)
    }
}
