//! Connection events, as `conntrack -E` reports them.

use core::fmt;

/// The kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum EventKind {
    /// An entry was confirmed (its first packet was accepted).
    New,
    /// Its protocol state, SEEN_REPLY or ASSURED changed.
    Update,
    /// It was removed: expired, killed by a RST, evicted, flushed or replaced.
    Destroy,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::New => "NEW",
            EventKind::Update => "UPDATE",
            EventKind::Destroy => "DESTROY",
        })
    }
}

/// One event: what happened to which entry, and the entry as `conntrack -L` would
/// print it at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Event {
    pub kind: EventKind,
    pub time_ms: u64,
    /// The entry's id.
    pub id: u32,
    pub line: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>9} {}", format!("[{}]", self.kind), self.line)
    }
}
