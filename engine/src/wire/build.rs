//! Building packets from a structured description.
//!
//! [`PacketSpec`] mirrors the kernel-oracle's step format (`ip` plus one of `tcp`,
//! `udp`, `icmp` or raw transport bytes), so a scenario written for the kernel can be
//! crafted byte for byte by the engine, and the browser app crafts packets the same way.
//! All checksums are correct unless a `bad_csum` flag asks otherwise.

use super::checksum::transport_checksum;
use super::{ipv4_header_checksum, proto, tcp_flags};
use core::fmt;
use std::net::Ipv4Addr;

/// A packet to build.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PacketSpec {
    pub ip: IpSpec,
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub transport: Transport,
}

/// IPv4 header fields; everything but the addresses has the kernel-oracle's default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IpSpec {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    #[cfg_attr(feature = "serde", serde(default = "default_ttl"))]
    pub ttl: u8,
    #[cfg_attr(feature = "serde", serde(default))]
    pub id: u16,
    #[cfg_attr(feature = "serde", serde(default))]
    pub tos: u8,
    #[cfg_attr(feature = "serde", serde(default))]
    pub df: bool,
    /// The raw flags + fragment-offset field; overrides `df` when set.
    #[cfg_attr(feature = "serde", serde(default))]
    pub frag: Option<u16>,
    /// Overrides the protocol number the transport would imply.
    #[cfg_attr(feature = "serde", serde(default))]
    pub proto: Option<u8>,
}

#[cfg(feature = "serde")]
fn default_ttl() -> u8 {
    64
}

impl IpSpec {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> IpSpec {
        IpSpec {
            src,
            dst,
            ttl: 64,
            id: 0,
            tos: 0,
            df: false,
            frag: None,
            proto: None,
        }
    }
}

/// The transport layer of a [`PacketSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Transport {
    Tcp(TcpSpec),
    Udp(UdpSpec),
    Icmp(IcmpSpec),
    /// Arbitrary transport bytes (`ip.proto` says which protocol).
    RawL4Hex(String),
}

/// A TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TcpSpec {
    pub sport: u16,
    pub dport: u16,
    /// Flag letters: `S F R P A U E C`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub flags: String,
    #[cfg_attr(feature = "serde", serde(default))]
    pub seq: u32,
    #[cfg_attr(feature = "serde", serde(default))]
    pub ack: u32,
    #[cfg_attr(feature = "serde", serde(default = "default_win"))]
    pub win: u16,
    #[cfg_attr(feature = "serde", serde(default))]
    pub urg: u16,
    /// Encoded options (see [`TcpOptionsSpec`]).
    #[cfg_attr(feature = "serde", serde(default))]
    pub options: TcpOptionsSpec,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub payload: Vec<u8>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub bad_csum: bool,
}

#[cfg(feature = "serde")]
fn default_win() -> u16 {
    65535
}

/// TCP options to encode, in Linux's order: MSS, SACK-permitted + timestamps, window scale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TcpOptionsSpec {
    #[cfg_attr(feature = "serde", serde(default))]
    pub mss: Option<u16>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub sackok: bool,
    #[cfg_attr(feature = "serde", serde(default))]
    pub ts: Option<(u32, u32)>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub wscale: Option<u8>,
    /// Raw option bytes, used instead of the fields above when present.
    #[cfg_attr(feature = "serde", serde(default))]
    pub raw: Option<Vec<u8>>,
}

impl TcpOptionsSpec {
    /// The option bytes, padded with end-of-list to a multiple of 4.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(raw) = &self.raw {
            out.extend_from_slice(raw);
        } else {
            if let Some(mss) = self.mss {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&mss.to_be_bytes());
            }
            match (self.sackok, self.ts) {
                (true, Some((v, e))) => {
                    out.extend_from_slice(&[4, 2, 8, 10]);
                    out.extend_from_slice(&v.to_be_bytes());
                    out.extend_from_slice(&e.to_be_bytes());
                }
                (false, Some((v, e))) => {
                    out.extend_from_slice(&[1, 1, 8, 10]);
                    out.extend_from_slice(&v.to_be_bytes());
                    out.extend_from_slice(&e.to_be_bytes());
                }
                (true, None) => out.extend_from_slice(&[1, 1, 4, 2]),
                (false, None) => {}
            }
            if let Some(ws) = self.wscale {
                out.extend_from_slice(&[1, 3, 3, ws]);
            }
        }
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }
}

/// A UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UdpSpec {
    pub sport: u16,
    pub dport: u16,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub payload: Vec<u8>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub bad_csum: bool,
    /// Send checksum 0 ("no checksum").
    #[cfg_attr(feature = "serde", serde(default))]
    pub no_csum: bool,
}

/// An ICMP message. Echo-like messages use `id`, `seq` and `payload`; errors quote
/// `quoted` (raw bytes of the offending packet, normally its IP header + 8 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IcmpSpec {
    #[cfg_attr(
        feature = "serde",
        serde(rename = "type", default = "default_icmp_type")
    )]
    pub icmp_type: u8,
    #[cfg_attr(feature = "serde", serde(default))]
    pub code: u8,
    #[cfg_attr(feature = "serde", serde(default))]
    pub id: u16,
    #[cfg_attr(feature = "serde", serde(default))]
    pub seq: u16,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub payload: Vec<u8>,
    /// For error messages: the quoted packet's bytes.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub quoted: Option<Vec<u8>>,
    /// The 32-bit word after the checksum of an error message (next-hop MTU for type 3 code 4).
    #[cfg_attr(feature = "serde", serde(default))]
    pub rest: u32,
    #[cfg_attr(feature = "serde", serde(default))]
    pub bad_csum: bool,
}

#[cfg(feature = "serde")]
fn default_icmp_type() -> u8 {
    8
}

impl IcmpSpec {
    /// An echo request.
    pub fn echo(id: u16, seq: u16) -> IcmpSpec {
        IcmpSpec {
            icmp_type: 8,
            code: 0,
            id,
            seq,
            payload: Vec::new(),
            quoted: None,
            rest: 0,
            bad_csum: false,
        }
    }
    /// An error message quoting `packet` (IP header + 8 bytes of it).
    pub fn error(icmp_type: u8, code: u8, packet: &[u8]) -> IcmpSpec {
        let ihl = packet.first().map_or(20, |b| (b & 0x0f) as usize * 4);
        let n = (ihl + 8).min(packet.len());
        IcmpSpec {
            icmp_type,
            code,
            id: 0,
            seq: 0,
            payload: Vec::new(),
            quoted: Some(packet[..n].to_vec()),
            rest: 0,
            bad_csum: false,
        }
    }
}

/// Why a [`PacketSpec`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    UnknownTcpFlag(char),
    BadHex(String),
    TooLong(usize),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::UnknownTcpFlag(c) => {
                write!(f, "unknown TCP flag letter {c:?} (use S F R P A U E C)")
            }
            BuildError::BadHex(s) => write!(f, "not hex bytes: {s:?}"),
            BuildError::TooLong(n) => write!(f, "packet of {n} bytes exceeds 65535"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Decodes a hex string (spaces allowed).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, BuildError> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !clean.len().is_multiple_of(2) {
        return Err(BuildError::BadHex(text.into()));
    }
    clean
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| BuildError::BadHex(text.into()))
        })
        .collect()
}

impl PacketSpec {
    /// The packet's bytes.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let (protocol, mut l4) = match &self.transport {
            Transport::Tcp(t) => (proto::TCP, build_tcp(t)?),
            Transport::Udp(u) => (proto::UDP, build_udp(u)),
            Transport::Icmp(i) => (proto::ICMP, build_icmp(i)),
            Transport::RawL4Hex(h) => (self.ip.proto.unwrap_or(0), decode_hex(h)?),
        };
        let ip = &self.ip;
        let (src, dst) = (ip.src.octets(), ip.dst.octets());
        match &self.transport {
            Transport::Tcp(t) => {
                let c = transport_checksum(src, dst, protocol, &l4);
                finish_checksum(&mut l4, 16, c, t.bad_csum)
            }
            Transport::Udp(u) => {
                let mut c = transport_checksum(src, dst, protocol, &l4);
                if c == 0 {
                    c = 0xffff;
                }
                if u.no_csum {
                    c = 0;
                }
                finish_checksum(&mut l4, 6, c, u.bad_csum)
            }
            Transport::Icmp(i) => {
                let c = transport_checksum(src, dst, protocol, &l4);
                finish_checksum(&mut l4, 2, c, i.bad_csum)
            }
            Transport::RawL4Hex(_) => {}
        }
        let total = 20 + l4.len();
        if total > 65535 {
            return Err(BuildError::TooLong(total));
        }
        let frag = ip.frag.unwrap_or(if ip.df { 0x4000 } else { 0 });
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&[0x45, ip.tos]);
        out.extend_from_slice(&(total as u16).to_be_bytes());
        out.extend_from_slice(&ip.id.to_be_bytes());
        out.extend_from_slice(&frag.to_be_bytes());
        out.extend_from_slice(&[ip.ttl, ip.proto.unwrap_or(protocol), 0, 0]);
        out.extend_from_slice(&src);
        out.extend_from_slice(&dst);
        let c = ipv4_header_checksum(&out);
        out[10..12].copy_from_slice(&c.to_be_bytes());
        out.extend_from_slice(&l4);
        Ok(out)
    }
}

fn finish_checksum(seg: &mut [u8], at: usize, mut c: u16, corrupt: bool) {
    if corrupt {
        c ^= 0x5a5a;
    }
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn build_tcp(t: &TcpSpec) -> Result<Vec<u8>, BuildError> {
    let flags = tcp_flags::from_letters(&t.flags).map_err(BuildError::UnknownTcpFlag)?;
    let opts = t.options.encode();
    let doff = ((20 + opts.len()) / 4) as u8;
    let mut seg = Vec::with_capacity(20 + opts.len() + t.payload.len());
    seg.extend_from_slice(&t.sport.to_be_bytes());
    seg.extend_from_slice(&t.dport.to_be_bytes());
    seg.extend_from_slice(&t.seq.to_be_bytes());
    seg.extend_from_slice(&t.ack.to_be_bytes());
    seg.extend_from_slice(&[doff << 4, flags]);
    seg.extend_from_slice(&t.win.to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(&t.urg.to_be_bytes());
    seg.extend_from_slice(&opts);
    seg.extend_from_slice(&t.payload);
    Ok(seg)
}

fn build_udp(u: &UdpSpec) -> Vec<u8> {
    let len = (8 + u.payload.len()) as u16;
    let mut seg = Vec::with_capacity(len as usize);
    seg.extend_from_slice(&u.sport.to_be_bytes());
    seg.extend_from_slice(&u.dport.to_be_bytes());
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(&u.payload);
    seg
}

fn build_icmp(i: &IcmpSpec) -> Vec<u8> {
    let mut msg = vec![i.icmp_type, i.code, 0, 0];
    match &i.quoted {
        Some(quoted) => {
            msg.extend_from_slice(&i.rest.to_be_bytes());
            msg.extend_from_slice(quoted);
        }
        None => {
            msg.extend_from_slice(&i.id.to_be_bytes());
            msg.extend_from_slice(&i.seq.to_be_bytes());
            msg.extend_from_slice(&i.payload);
        }
    }
    msg
}

/// The most an ICMP error may quote: 576 bytes minus its own IP and ICMP headers.
pub const ICMP_ERROR_QUOTE_MAX: usize = 576 - 20 - 8;

/// The ICMP error a Linux router sends about `offending` (`icmp_send`): from `src`
/// (the router's address towards the sender) back to the offending packet's source,
/// TOS `(tos & 0x1e) | 0xc0`, TTL 64, no DF, quoting as much of the packet as fits in
/// 576 bytes. `rest` is the word after the checksum (the next-hop MTU for "fragmentation
/// needed"). The IP id is the caller's (the kernel picks a random one).
pub fn icmp_error_reply(
    offending: &[u8],
    icmp_type: u8,
    code: u8,
    rest: u32,
    src: Ipv4Addr,
    ip_id: u16,
) -> Vec<u8> {
    let quoted = &offending[..offending.len().min(ICMP_ERROR_QUOTE_MAX)];
    let dst = Ipv4Addr::new(offending[12], offending[13], offending[14], offending[15]);
    let spec = PacketSpec {
        ip: IpSpec {
            id: ip_id,
            tos: (offending[1] & 0x1e) | 0xc0,
            ..IpSpec::new(src, dst)
        },
        transport: Transport::Icmp(IcmpSpec {
            icmp_type,
            code,
            id: 0,
            seq: 0,
            payload: Vec::new(),
            quoted: Some(quoted.to_vec()),
            rest,
            bad_csum: false,
        }),
    };
    // A quote of at most 548 bytes always fits.
    spec.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{parse, transport_checksum_ok, L4};

    /// The kernel-oracle's handshake SYN-ACK, byte for byte.
    #[test]
    fn builds_the_oracle_syn_ack() {
        let spec = PacketSpec {
            ip: IpSpec {
                id: 2,
                ..IpSpec::new([203, 0, 113, 5].into(), [192, 168, 1, 10].into())
            },
            transport: Transport::Tcp(TcpSpec {
                sport: 80,
                dport: 40000,
                flags: "SA".into(),
                seq: 5000,
                ack: 1001,
                win: 65160,
                urg: 0,
                options: TcpOptionsSpec {
                    mss: Some(1460),
                    ..Default::default()
                },
                payload: vec![],
                bad_csum: false,
            }),
        };
        let bytes = spec.build().unwrap();
        assert_eq!(
            decode_hex("4500002c0002000040067d12cb007105c0a8010a00509c4000001388000003e96012fe88e7d30000020405b4").unwrap(),
            bytes
        );
        let p = parse(&bytes).unwrap();
        assert!(transport_checksum_ok(&bytes, &p));
        let L4::Tcp(t) = p.l4 else { panic!("not tcp") };
        assert_eq!(t.options.mss, Some(1460));
    }

    #[test]
    fn bad_checksum_is_detected() {
        let spec = PacketSpec {
            ip: IpSpec::new([192, 168, 1, 10].into(), [203, 0, 113, 5].into()),
            transport: Transport::Udp(UdpSpec {
                sport: 5000,
                dport: 53,
                payload: b"q".to_vec(),
                bad_csum: true,
                no_csum: false,
            }),
        };
        let bytes = spec.build().unwrap();
        assert!(!transport_checksum_ok(&bytes, &parse(&bytes).unwrap()));
    }
}
