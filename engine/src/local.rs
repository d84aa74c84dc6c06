//! The router's own IP stack: what Linux answers when a packet accepted by INPUT is
//! delivered to it and nothing listens (the kernel-oracle's router runs no services).
//!
//! - ICMP echo request → echo reply (`icmp_echo`): same id, sequence, code and data,
//!   TOS copied, TTL 64, no DF. Timestamp request → timestamp reply (`icmp_timestamp`).
//!   Other ICMP messages are consumed silently.
//! - TCP → reset (`tcp_v4_send_reset`), unless the segment is itself a reset: a
//!   segment with ACK gets `[R] seq=its ack`, one without gets `[RA] seq=0
//!   ack=seq+SYN+FIN+data`; window 0, IP id 0, DF, TTL 64, TOS copied without ECN.
//! - UDP → ICMP port unreachable (`icmp_send`, as for REJECT).
//! - any other protocol but IGMP → ICMP protocol unreachable.
//!
//! Nothing answers a packet whose checksum is wrong (the stack checks it whatever
//! `nf_conntrack_checksum` says), a packet to a broadcast address (echo requests
//! to broadcasts are ignored, `icmp_echo_ignore_broadcasts`; ICMP errors and resets
//! are never sent to broadcasts), or a fragment not reassembled.
//!
//! The answer leaves through the OUTPUT hook like any packet the router sends; as a
//! new packet of the router's own, conntrack tracks it: an echo reply is the reply of
//! the request's entry, a reset answering a connection's first packet removes its
//! entry, an ICMP error is RELATED to the entry of the packet it quotes.

use crate::wire::{
    self, icmp_type, tcp_flags, IcmpSpec, IpSpec, Packet, PacketSpec, TcpInfo, TcpOptionsSpec,
    TcpSpec, Transport, L4,
};
use std::net::Ipv4Addr;

/// IGMP: handled by the stack, never answered.
const IGMP: u8 = 2;
/// Milliseconds in a day: ICMP timestamps count from midnight UTC.
const DAY_MS: u64 = 86_400_000;

/// An answer of the router's stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub bytes: Vec<u8>,
    /// `tcp_rst`, `icmp_error` or `reply` (an echo or timestamp reply).
    pub kind: &'static str,
}

/// What the stack does with a datagram delivered to it: an answer, or why none.
/// `broadcast`: the destination is a broadcast address; `ip_id`: the id for an
/// answer whose IP id the kernel randomises; `now_ms`: the engine's clock, standing
/// in for the time of day in timestamp replies.
pub(crate) fn answer(
    bytes: &[u8],
    pkt: &Packet,
    broadcast: bool,
    ip_id: u16,
    now_ms: u64,
) -> Result<Answer, &'static str> {
    if pkt.ip.is_fragment() {
        return Err("a fragment: the router's stack waits for the rest");
    }
    // The router has no SCTP or UDP-Lite listener: the stack answers those like any
    // protocol it does not handle, whatever their headers hold.
    let l4 = match pkt.l4 {
        L4::Sctp(_)
        | L4::UdpLite(_)
        | L4::Malformed(wire::L4Error::Truncated {
            protocol: wire::proto::SCTP | wire::proto::UDPLITE,
        }) => L4::Other,
        l4 => l4,
    };
    if !matches!(l4, L4::Other) && !wire::transport_checksum_ok(bytes, pkt) {
        return Err("bad checksum: the router's stack drops it");
    }
    if broadcast {
        return Err("sent to a broadcast address: the router does not answer");
    }
    let src = pkt.ip.dst;
    match l4 {
        L4::Icmp(ic) => match ic.icmp_type {
            icmp_type::ECHO => Ok(Answer {
                bytes: echo_reply(bytes, pkt, icmp_type::ECHO_REPLY, ip_id, None),
                kind: "reply",
            }),
            // `icmp_timestamp`: at least the originate time after the header.
            icmp_type::TIMESTAMP if pkt.ip.total_len - pkt.ip.header_len >= 12 => {
                let ms = u32::try_from(now_ms % DAY_MS).unwrap_or(0);
                Ok(Answer {
                    bytes: echo_reply(bytes, pkt, icmp_type::TIMESTAMP_REPLY, ip_id, Some(ms)),
                    kind: "reply",
                })
            }
            _ => Err("an ICMP message the router's stack takes without answering"),
        },
        L4::Tcp(t) if t.has(tcp_flags::RST) => {
            Err("a reset to a closed port: the router's stack drops it")
        }
        L4::Tcp(t) => Ok(Answer {
            bytes: reset(pkt, &t),
            kind: "tcp_rst",
        }),
        L4::Udp(_) => Ok(Answer {
            bytes: wire::icmp_error_reply(bytes, icmp_type::DEST_UNREACH, 3, 0, src, ip_id),
            kind: "icmp_error",
        }),
        L4::Other if pkt.ip.protocol == IGMP => Err("IGMP: taken by the router's stack"),
        L4::Other => Ok(Answer {
            bytes: wire::icmp_error_reply(bytes, icmp_type::DEST_UNREACH, 2, 0, src, ip_id),
            kind: "icmp_error",
        }),
        L4::Fragment | L4::Malformed(_) | L4::Sctp(_) | L4::UdpLite(_) => {
            Err("a broken transport header: the stack drops it")
        }
    }
}

/// An echo (or timestamp) reply: the request's id, sequence, code and data under the
/// new type; a timestamp reply carries the originate time and the receive and
/// transmit times set to `stamp`, and nothing else.
fn echo_reply(
    bytes: &[u8],
    pkt: &Packet,
    reply_type: u8,
    ip_id: u16,
    stamp: Option<u32>,
) -> Vec<u8> {
    let icmp = &bytes[usize::from(pkt.ip.header_len)..usize::from(pkt.ip.total_len)];
    let word = |at: usize| u16::from_be_bytes([icmp[at], icmp[at + 1]]);
    let mut payload = icmp[8..].to_vec();
    if let Some(ms) = stamp {
        payload.resize(12, 0);
        payload[4..8].copy_from_slice(&ms.to_be_bytes());
        payload[8..12].copy_from_slice(&ms.to_be_bytes());
    }
    let spec = PacketSpec {
        ip: IpSpec {
            id: ip_id,
            tos: pkt.ip.tos,
            ..IpSpec::new(pkt.ip.dst, pkt.ip.src)
        },
        transport: Transport::Icmp(IcmpSpec {
            icmp_type: reply_type,
            code: icmp[1],
            id: word(4),
            seq: word(6),
            payload,
            quoted: None,
            rest: 0,
            bad_csum: false,
        }),
    };
    // No longer than the request, so it always builds.
    spec.build().unwrap_or_default()
}

/// `tcp_v4_send_reset` for a segment no socket wants.
fn reset(pkt: &Packet, t: &TcpInfo) -> Vec<u8> {
    let (seq, ack, flags) = if t.has(tcp_flags::ACK) {
        (t.ack, 0, "R")
    } else {
        let len = u32::from(t.payload_len)
            + u32::from(t.has(tcp_flags::SYN))
            + u32::from(t.has(tcp_flags::FIN));
        (0, t.seq.wrapping_add(len), "RA")
    };
    let spec = PacketSpec {
        ip: IpSpec {
            tos: pkt.ip.tos & !0x03,
            df: true,
            ..IpSpec::new(pkt.ip.dst, pkt.ip.src)
        },
        transport: Transport::Tcp(TcpSpec {
            sport: t.dport,
            dport: t.sport,
            flags: flags.into(),
            seq,
            ack,
            win: 0,
            urg: 0,
            options: TcpOptionsSpec::default(),
            payload: Vec::new(),
            bad_csum: false,
        }),
    };
    spec.build().unwrap_or_default()
}

/// Whether `dst` is a broadcast address for the router: the limited broadcast or the
/// directed broadcast of one of its networks.
pub(crate) fn is_broadcast(dst: Ipv4Addr, nets: &[(Ipv4Addr, u8)]) -> bool {
    dst.is_broadcast()
        || nets.iter().any(|&(addr, prefix)| {
            let host_bits = 32 - u32::from(prefix.min(32));
            if host_bits < 2 {
                return false;
            }
            let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
            u32::from(dst) == (u32::from(addr) & mask) | !mask
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_to(spec: &PacketSpec) -> Result<Answer, &'static str> {
        let bytes = spec.build().unwrap();
        let pkt = wire::parse(&bytes).unwrap();
        answer(&bytes, &pkt, false, 7, 0)
    }

    fn tcp(flags: &str, seq: u32, ack: u32, payload: &[u8]) -> PacketSpec {
        PacketSpec {
            ip: IpSpec::new(
                Ipv4Addr::new(192, 168, 1, 50),
                Ipv4Addr::new(192, 168, 1, 1),
            ),
            transport: Transport::Tcp(TcpSpec {
                sport: 40000,
                dport: 22,
                flags: flags.into(),
                seq,
                ack,
                win: 65535,
                urg: 0,
                options: TcpOptionsSpec::default(),
                payload: payload.to_vec(),
                bad_csum: false,
            }),
        }
    }

    fn tcp_of(a: &Answer) -> TcpInfo {
        match wire::parse(&a.bytes).unwrap().l4 {
            L4::Tcp(t) => t,
            other => panic!("not TCP: {other:?}"),
        }
    }

    #[test]
    fn resets_follow_tcp_v4_send_reset() {
        let syn = answer_to(&tcp("S", 100, 0, b"hello")).unwrap();
        let t = tcp_of(&syn);
        assert_eq!((t.flags, t.seq, t.ack, t.window), (0x14, 0, 106, 0));
        assert_eq!((t.sport, t.dport), (22, 40000));
        let ack = tcp_of(&answer_to(&tcp("PA", 400, 88, b"x")).unwrap());
        assert_eq!((ack.flags, ack.seq, ack.ack), (0x04, 88, 0));
        let fin = tcp_of(&answer_to(&tcp("F", 800, 0, b"")).unwrap());
        assert_eq!((fin.flags, fin.ack), (0x14, 801));
        assert!(answer_to(&tcp("RA", 1, 2, b"")).is_err());
    }

    #[test]
    fn a_bad_checksum_gets_no_answer() {
        let mut spec = tcp("S", 1, 0, b"");
        if let Transport::Tcp(t) = &mut spec.transport {
            t.bad_csum = true;
        }
        assert!(answer_to(&spec).is_err());
    }

    #[test]
    fn broadcasts_of_both_networks() {
        let nets = [
            (Ipv4Addr::new(192, 168, 1, 1), 24),
            (Ipv4Addr::new(198, 51, 100, 1), 24),
        ];
        for b in ["192.168.1.255", "198.51.100.255", "255.255.255.255"] {
            assert!(is_broadcast(b.parse().unwrap(), &nets), "{b}");
        }
        for n in ["192.168.1.0", "192.168.1.1", "192.168.2.255", "10.0.0.255"] {
            assert!(!is_broadcast(n.parse().unwrap(), &nets), "{n}");
        }
    }
}
