//! One tracked connection.

use super::sctp::SctpConn;
use super::tcp::TcpConn;
use super::tuple::{Direction, Tuple};
use core::num::NonZeroU32;

/// Status bits of a connection (`enum ip_conntrack_status` in the kernel's uapi).
pub mod status {
    /// Created from a helper's expectation (e.g. an FTP data connection).
    pub const EXPECTED: u32 = 1 << 0;
    /// A packet was seen in the reply direction. Never cleared.
    pub const SEEN_REPLY: u32 = 1 << 1;
    /// Early drop spares it. Never cleared.
    pub const ASSURED: u32 = 1 << 2;
    /// In the table (the first packet was accepted).
    pub const CONFIRMED: u32 = 1 << 3;
    pub const SRC_NAT: u32 = 1 << 4;
    pub const DST_NAT: u32 = 1 << 5;
    pub const SEQ_ADJUST: u32 = 1 << 6;
    pub const SRC_NAT_DONE: u32 = 1 << 7;
    pub const DST_NAT_DONE: u32 = 1 << 8;
    pub const DYING: u32 = 1 << 9;
    pub const FIXED_TIMEOUT: u32 = 1 << 10;
    pub const TEMPLATE: u32 = 1 << 11;
    pub const UNTRACKED: u32 = 1 << 12;
    pub const HELPER: u32 = 1 << 13;
    pub const OFFLOAD: u32 = 1 << 14;
    pub const HW_OFFLOAD: u32 = 1 << 15;
}

/// Protocol-specific tracking state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ProtoState {
    Tcp(TcpConn),
    /// UDP: the moment after which traffic following a reply makes it a stream.
    Udp {
        stream_after_ms: u64,
    },
    Icmp,
    /// SCTP: the association state and the verification tags.
    Sctp(SctpConn),
    /// UDP-Lite: like UDP, but a stream as soon as traffic follows a reply (the
    /// kernel's UDP-Lite tracker has no 2-second rule).
    UdpLite,
    /// GRE (version 0 is tracked with zero keys). The kernel keeps both timeouts in
    /// the entry and prints them (`timeout=30, stream_timeout=180`).
    Gre {
        timeout_secs: u32,
        stream_timeout_secs: u32,
    },
    Generic,
}

/// Application-layer helpers that can be attached to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Helper {
    Ftp,
}

impl Helper {
    pub fn name(self) -> &'static str {
        match self {
            Helper::Ftp => "ftp",
        }
    }
    pub fn from_name(name: &str) -> Option<Helper> {
        match name {
            "ftp" => Some(Helper::Ftp),
            _ => None,
        }
    }
}

/// Packets and bytes seen in each direction, indexed by [`Direction`].
pub type Counters = [(u64, u64); 2];

/// What the kernel records about a connection only when a setting asks for it (its
/// conntrack *extensions*). Whether an entry has each is decided when it is created
/// and kept for its lifetime, whatever the setting becomes later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Extensions {
    /// Packets and bytes per direction (`nf_conntrack_acct`; `packets= bytes=`).
    pub counters: Option<Counters>,
    /// When the connection started, in engine milliseconds (`nf_conntrack_timestamp`;
    /// `/proc` prints the whole seconds since as `delta-time=`).
    pub start_ms: Option<u64>,
}

/// A connection entry.
///
/// Only the original tuple is stored: without NAT the reply tuple is always its
/// inverse, so [`Entry::reply`] derives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Entry {
    /// A number unique over the table's lifetime (like the kernel's ct id).
    pub id: u32,
    /// The tuple of the packet that created the entry. It always has an inverse
    /// ([`Tuple::invert`]); the tracker never creates an entry for one that has not.
    pub original: Tuple,
    /// [`status`] bits.
    pub status: u32,
    /// When the entry expires, in engine milliseconds.
    pub expires_ms: u64,
    pub proto: ProtoState,
    pub mark: u32,
    pub helper: Option<Helper>,
    /// The id of the connection whose helper expected this one (ids start at 1).
    pub master: Option<NonZeroU32>,
    /// Counters and start time, for entries created while `acct` or `timestamp` was
    /// on (boxed: most entries have none, and every entry's size counts).
    pub ext: Option<Box<Extensions>>,
}

impl Entry {
    pub fn original(&self) -> &Tuple {
        &self.original
    }
    /// The reply tuple: the inverse of the original.
    pub fn reply(&self) -> Tuple {
        self.original.invert().unwrap_or(self.original)
    }
    /// Packets and bytes per direction, if the entry counts them.
    pub fn counters(&self) -> Option<&Counters> {
        self.ext.as_ref()?.counters.as_ref()
    }
    /// When the connection started, if the entry records it.
    pub fn start_ms(&self) -> Option<u64> {
        self.ext.as_ref()?.start_ms
    }
    pub fn tuple(&self, dir: Direction) -> Tuple {
        match dir {
            Direction::Original => self.original,
            Direction::Reply => self.reply(),
        }
    }
    pub fn has(&self, bit: u32) -> bool {
        self.status & bit != 0
    }
    pub fn is_assured(&self) -> bool {
        self.has(status::ASSURED)
    }
    pub fn seen_reply(&self) -> bool {
        self.has(status::SEEN_REPLY)
    }
    /// Whole seconds left, rounded down, as `/proc/net/nf_conntrack` prints them.
    pub fn timeout_secs(&self, now_ms: u64) -> u64 {
        self.expires_ms.saturating_sub(now_ms) / 1000
    }
    /// The kernel considers an entry expired once its deadline is reached.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_ms <= now_ms
    }
    /// The TCP state, for TCP entries.
    pub fn tcp(&self) -> Option<&TcpConn> {
        match &self.proto {
            ProtoState::Tcp(t) => Some(t),
            _ => None,
        }
    }
    /// The SCTP association, for SCTP entries.
    pub fn sctp(&self) -> Option<&SctpConn> {
        match &self.proto {
            ProtoState::Sctp(s) => Some(s),
            _ => None,
        }
    }
    /// The kernel's protocol state name (`ESTABLISHED`...), for TCP and SCTP entries.
    pub fn state_name(&self) -> Option<&'static str> {
        match &self.proto {
            ProtoState::Tcp(t) => Some(t.state.name()),
            ProtoState::Sctp(s) => Some(s.state.name()),
            _ => None,
        }
    }
}
