//! Why conntrack found a packet INVALID or ignored it, in the kernel's words
//! (`nf_conntrack_log_invalid`).
//!
//! A [`Reason`] is a small `Copy` value: the numbers a message quotes are kept and the
//! text is only formatted when someone displays it, so the per-packet path never
//! allocates.

use super::tcp::{PacketClass, TcpState};
use super::tuple::Direction;
use crate::wire::L4Error;
use core::fmt;
use std::net::Ipv4Addr;

/// Why a packet is INVALID, or why the tracker let it pass without updating its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A fixed message.
    Text(&'static str),
    /// The transport header could not be read.
    Malformed(L4Error),
    /// The TCP state table says the packet is invalid in this state.
    TcpInvalid {
        class: PacketClass,
        dir: Direction,
        state: TcpState,
    },
    /// The TCP state table says the packet is ignored in this state.
    TcpIgnored {
        class: PacketClass,
        dir: Direction,
        state: TcpState,
    },
    /// The sender sent more than the receiver's window allows (the excess in bytes).
    OverWindow(u32),
    /// The sequence number is beyond the receiver's window.
    SeqOverUpper(u32),
    /// The segment acknowledges data that was never seen.
    AckOverUpper(u32),
    /// The segment is already acknowledged data, retransmitted.
    SeqUnderLower(u32),
    /// The acknowledgement lags too far behind.
    AckUnderLower(u32),
    /// An ICMP error sent to another address than the connection's.
    OuterDaddr { outer: Ipv4Addr, inner: Ipv4Addr },
}

impl From<&'static str> for Reason {
    fn from(text: &'static str) -> Reason {
        Reason::Text(text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Text(t) => f.write_str(t),
            Reason::Malformed(e) => write!(f, "{e}"),
            Reason::TcpInvalid { class, dir, state } => write!(
                f,
                "packet (index {}) in dir {} invalid, state {}",
                class as u8,
                dir.index(),
                state.name()
            ),
            Reason::TcpIgnored { class, dir, state } => write!(
                f,
                "packet (index {}) in dir {} ignored, state {}",
                class as u8,
                dir.index(),
                state.name()
            ),
            Reason::OverWindow(n) => write!(f, "{n} bytes more than expected"),
            Reason::SeqOverUpper(b) => write!(
                f,
                "SEQ is over upper bound {b} (over the window of the receiver)"
            ),
            Reason::AckOverUpper(b) => {
                write!(f, "ACK is over upper bound {b} (ACKed data not seen yet)")
            }
            Reason::SeqUnderLower(b) => write!(
                f,
                "SEQ is under lower bound {b} (already ACKed data retransmitted)"
            ),
            Reason::AckUnderLower(b) => write!(
                f,
                "ignored ACK under lower bound {b} (possible overly delayed)"
            ),
            Reason::OuterDaddr { outer, inner } => {
                write!(f, "outer daddr {outer} != inner {inner}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_the_kernel_log() {
        let r = Reason::TcpInvalid {
            class: PacketClass::SynAck,
            dir: Direction::Reply,
            state: TcpState::Established,
        };
        assert_eq!(
            r.to_string(),
            "packet (index 1) in dir 1 invalid, state ESTABLISHED"
        );
        assert_eq!(
            Reason::AckUnderLower(7).to_string(),
            "ignored ACK under lower bound 7 (possible overly delayed)"
        );
        assert_eq!(
            Reason::OuterDaddr {
                outer: [1, 2, 3, 4].into(),
                inner: [5, 6, 7, 8].into()
            }
            .to_string(),
            "outer daddr 1.2.3.4 != inner 5.6.7.8"
        );
        assert_eq!(Reason::from("fragment").to_string(), "fragment");
    }
}
