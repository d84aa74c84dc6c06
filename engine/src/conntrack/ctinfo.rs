//! What conntrack tells the rest of the stack about a packet.
//!
//! The kernel attaches a `ctinfo` to every packet it tracks; `-m state` and
//! `-m conntrack --ctstate` test it. The mapping (see `nf_conntrack_core.c`):
//!
//! | situation | ctstate |
//! |---|---|
//! | no entry could be attached (bad header, tracker said invalid, unmatched ICMP error) | INVALID |
//! | found in the reply direction | ESTABLISHED |
//! | original direction, a reply was seen before | ESTABLISHED |
//! | original direction, no reply yet, created from a helper's expectation | RELATED |
//! | original direction, no reply yet | NEW |
//! | ICMP error quoting a tracked flow | RELATED |
//! | marked untracked in the raw table | UNTRACKED |

use super::tuple::Direction;
use core::fmt;

/// The `-m state` / `--ctstate` class of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

impl CtState {
    pub fn name(self) -> &'static str {
        match self {
            CtState::New => "NEW",
            CtState::Established => "ESTABLISHED",
            CtState::Related => "RELATED",
            CtState::Invalid => "INVALID",
            CtState::Untracked => "UNTRACKED",
        }
    }

    pub fn from_name(name: &str) -> Option<CtState> {
        Some(match name.to_ascii_uppercase().as_str() {
            "NEW" => CtState::New,
            "ESTABLISHED" => CtState::Established,
            "RELATED" => CtState::Related,
            "INVALID" => CtState::Invalid,
            "UNTRACKED" => CtState::Untracked,
            _ => return None,
        })
    }

    /// The `xt_state` bit: INVALID 1, ESTABLISHED 2, RELATED 4, NEW 8, UNTRACKED 64.
    pub fn bit(self) -> u32 {
        match self {
            CtState::Invalid => 1 << 0,
            CtState::Established => 1 << 1,
            CtState::Related => 1 << 2,
            CtState::New => 1 << 3,
            CtState::Untracked => 1 << 6,
        }
    }
}

impl fmt::Display for CtState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernel's `enum ip_conntrack_info` for a packet that has an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtInfo {
    Established,
    Related,
    New,
    EstablishedReply,
    RelatedReply,
}

impl CtInfo {
    pub fn direction(self) -> Direction {
        match self {
            CtInfo::EstablishedReply | CtInfo::RelatedReply => Direction::Reply,
            _ => Direction::Original,
        }
    }
    pub fn state(self) -> CtState {
        match self {
            CtInfo::Established | CtInfo::EstablishedReply => CtState::Established,
            CtInfo::Related | CtInfo::RelatedReply => CtState::Related,
            CtInfo::New => CtState::New,
        }
    }
}
