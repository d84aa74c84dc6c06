//! Connection tuples.
//!
//! Conntrack identifies a flow by its *original* tuple (as the first packet saw it) and
//! the *reply* tuple it expects back (the inverse). For TCP, UDP and UDP-Lite the tuple
//! holds ports; for ICMP it holds the echo identifier, the message type and its code
//! (the reply tuple carries the reply type: echo 8 ↔ echo-reply 0, timestamp 13 ↔ 14,
//! info 15 ↔ 16, address-mask 17 ↔ 18); other protocols are tracked by addresses alone.

use crate::wire::{icmp_type, proto};
use std::net::Ipv4Addr;

/// Which way a packet travels relative to the connection's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum Direction {
    Original = 0,
    Reply = 1,
}

impl Direction {
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Original => Direction::Reply,
            Direction::Reply => Direction::Original,
        }
    }
}

/// A connection tuple. For ICMP, `sport` is the identifier and `dport` is
/// `type << 8 | code` (see [`Tuple::icmp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Tuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub sport: u16,
    pub dport: u16,
}

impl Tuple {
    /// A TCP/UDP-style tuple with ports.
    pub fn ports(protocol: u8, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Tuple {
        Tuple {
            src,
            dst,
            protocol,
            sport,
            dport,
        }
    }

    /// An ICMP tuple: identifier, type and code.
    pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, id: u16, icmp_type: u8, code: u8) -> Tuple {
        Tuple {
            src,
            dst,
            protocol: proto::ICMP,
            sport: id,
            dport: u16::from(icmp_type) << 8 | u16::from(code),
        }
    }

    /// An address-only tuple (the generic tracker).
    pub fn addresses(protocol: u8, src: Ipv4Addr, dst: Ipv4Addr) -> Tuple {
        Tuple {
            src,
            dst,
            protocol,
            sport: 0,
            dport: 0,
        }
    }

    /// A GRE tuple (`gre_pkt_to_tuple`), from the GRE header's first bytes. GRE
    /// version 0, or a header shorter than 4 bytes, is tracked like the generic
    /// protocol (both keys 0). Version 1 is PPTP's enhanced GRE: it must carry PPP
    /// (protocol 0x880b) or conntrack cannot build a tuple at all (the packet is
    /// INVALID); the destination key is its call ID (from 8 bytes on; with fewer
    /// bytes both keys stay 0) and the source key would come from the PPTP helper's
    /// keymap, which is never set up here, so it is 0.
    pub fn gre(src: Ipv4Addr, dst: Ipv4Addr, head: &[u8]) -> Option<Tuple> {
        const VERSION_MASK: u8 = 0x07;
        const PROTO_PPP: [u8; 2] = [0x88, 0x0b];
        let mut t = Tuple::addresses(proto::GRE, src, dst);
        if head.len() < 4 || head[1] & VERSION_MASK != 1 {
            return Some(t);
        }
        if head.len() < 8 {
            return Some(t);
        }
        if head[2..4] != PROTO_PPP {
            return None;
        }
        t.dport = u16::from_be_bytes([head[6], head[7]]);
        Some(t)
    }

    pub fn icmp_type(&self) -> u8 {
        (self.dport >> 8) as u8
    }
    pub fn icmp_code(&self) -> u8 {
        self.dport as u8
    }
    pub fn icmp_id(&self) -> u16 {
        self.sport
    }

    /// Whether the protocol's tuple carries ports.
    pub fn has_ports(&self) -> bool {
        matches!(
            self.protocol,
            proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP
        )
    }

    /// The tuple a reply would carry, or `None` when no reply exists
    /// (an ICMP type without a reply type: `nf_ct_invert_tuple` fails).
    pub fn invert(&self) -> Option<Tuple> {
        let mut inv = Tuple {
            src: self.dst,
            dst: self.src,
            ..*self
        };
        if self.protocol == proto::ICMP {
            inv.dport =
                u16::from(icmp_reply_type(self.icmp_type())?) << 8 | u16::from(self.icmp_code());
        } else if self.has_ports() || self.protocol == proto::GRE {
            inv.sport = self.dport;
            inv.dport = self.sport;
        }
        Some(inv)
    }
}

/// The ICMP type that answers `t` (`invmap` in `nf_conntrack_proto_icmp.c`).
pub fn icmp_reply_type(t: u8) -> Option<u8> {
    use icmp_type::*;
    Some(match t {
        ECHO => ECHO_REPLY,
        ECHO_REPLY => ECHO,
        TIMESTAMP => TIMESTAMP_REPLY,
        TIMESTAMP_REPLY => TIMESTAMP,
        INFO_REQUEST => INFO_REPLY,
        INFO_REPLY => INFO_REQUEST,
        ADDRESS => ADDRESS_REPLY,
        ADDRESS_REPLY => ADDRESS,
        _ => return None,
    })
}

/// Only requests may open an ICMP "connection" (`valid_new` in the kernel).
pub fn icmp_may_create(t: u8) -> bool {
    use icmp_type::*;
    matches!(t, ECHO | TIMESTAMP | INFO_REQUEST | ADDRESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_inverts_addresses_and_ports() {
        let t = Tuple::ports(
            6,
            [192, 168, 1, 10].into(),
            40000,
            [203, 0, 113, 5].into(),
            80,
        );
        let r = t.invert().unwrap();
        assert_eq!((r.src, r.sport, r.dst, r.dport), (t.dst, 80, t.src, 40000));
        assert_eq!(r.invert(), Some(t));
    }

    #[test]
    fn icmp_echo_maps_to_reply_and_errors_do_not_invert() {
        let t = Tuple::icmp([192, 168, 1, 10].into(), [203, 0, 113, 5].into(), 7, 8, 0);
        let r = t.invert().unwrap();
        assert_eq!((r.icmp_type(), r.icmp_code(), r.icmp_id()), (0, 0, 7));
        let err = Tuple::icmp([1, 1, 1, 1].into(), [2, 2, 2, 2].into(), 0, 3, 3);
        assert_eq!(err.invert(), None);
    }
}
