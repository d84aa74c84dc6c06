//! Packet views over raw IPv4 bytes, and packet building.
//!
//! [`parse`] turns the bytes a host or a capture hands us into a [`Packet`]: the IPv4
//! header fields plus a transport-layer summary ([`L4`]). Parsing never panics and
//! never allocates. Errors are split the way the kernel splits them:
//!
//! * a broken IPv4 header is a [`WireError`]: `ip_rcv()` drops such a packet before
//!   netfilter ever sees it;
//! * a broken transport header is [`L4::Malformed`]: netfilter sees the packet, conntrack
//!   cannot track it, and the filter table sees it as INVALID.
//!
//! IPv4, TCP and UDP headers are read by hand (they are on every packet's path);
//! ICMP messages with `etherparse`. TCP options are walked the way
//! `nf_conntrack_proto_tcp.c` walks them (a malformed option ends the walk silently).

mod build;
mod checksum;
pub mod sctp;
mod tcp_options;

pub use build::{
    decode_hex, icmp_error_reply, BuildError, IcmpSpec, IpSpec, PacketSpec, TcpOptionsSpec,
    TcpSpec, Transport, UdpSpec, ICMP_ERROR_QUOTE_MAX,
};
pub use checksum::{ipv4_header_checksum, transport_checksum_ok, udplite_checksum_ok};
pub use sctp::SctpInfo;
pub use tcp_options::TcpOptions;

use core::fmt;
use std::net::Ipv4Addr;

/// IP protocol numbers the engine knows by name.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;
}

/// TCP flag bits as they sit in byte 13 of the TCP header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    /// Flags in the order tcpdump and the kernel-oracle print them (`SFRPAUEC`).
    pub const LETTERS: [(char, u8); 8] = [
        ('S', SYN),
        ('F', FIN),
        ('R', RST),
        ('P', PSH),
        ('A', ACK),
        ('U', URG),
        ('E', ECE),
        ('C', CWR),
    ];

    /// `"SA"`, `"FA"`, `"R"`...; `"-"` for no flags.
    pub fn to_letters(flags: u8) -> String {
        let s: String = LETTERS
            .iter()
            .filter(|(_, bit)| flags & bit != 0)
            .map(|(c, _)| *c)
            .collect();
        if s.is_empty() {
            "-".into()
        } else {
            s
        }
    }

    /// Parses flag letters (any order, case-insensitive; `|`, `,`, `+` and spaces ignored).
    pub fn from_letters(text: &str) -> Result<u8, char> {
        let mut bits = 0;
        for ch in text.chars() {
            if "|,+ ".contains(ch) {
                continue;
            }
            let up = ch.to_ascii_uppercase();
            match LETTERS.iter().find(|(c, _)| *c == up) {
                Some((_, bit)) => bits |= bit,
                None => return Err(ch),
            }
        }
        Ok(bits)
    }
}

/// Why the IPv4 layer of a packet is unusable (the kernel drops it in `ip_rcv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Fewer than 20 bytes.
    TooShort { len: usize },
    /// The version nibble is not 4.
    NotIpv4 { version: u8 },
    /// IHL below 5 words, or beyond the bytes present.
    BadHeaderLength { ihl: u8 },
    /// The total-length field is smaller than the header or larger than the bytes present.
    BadTotalLength { total_len: u16, available: usize },
    /// The IPv4 header checksum does not verify.
    BadHeaderChecksum,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort { len } => {
                write!(f, "packet too short for an IPv4 header ({len} bytes)")
            }
            WireError::NotIpv4 { version } => write!(f, "not an IPv4 packet (version {version})"),
            WireError::BadHeaderLength { ihl } => write!(f, "bad IPv4 header length (ihl {ihl})"),
            WireError::BadTotalLength {
                total_len,
                available,
            } => write!(
                f,
                "bad IPv4 total length {total_len} ({available} bytes present)"
            ),
            WireError::BadHeaderChecksum => write!(f, "bad IPv4 header checksum"),
        }
    }
}

impl std::error::Error for WireError {}

/// The IPv4 header fields the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub id: u16,
    /// The total-length field: bytes beyond it are link-layer padding and ignored.
    pub total_len: u16,
    /// Header length in bytes (IHL * 4).
    pub header_len: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units.
    pub fragment_offset: u16,
}

impl Ipv4Info {
    /// True for any piece of a fragmented datagram (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.fragment_offset != 0
    }

    /// Bytes of transport-layer data (header included).
    pub fn payload_len(&self) -> u16 {
        self.total_len - self.header_len
    }
}

/// A parsed IPv4 packet. Offsets refer to the byte slice that was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub ip: Ipv4Info,
    pub l4: L4,
}

impl Packet {
    /// A placeholder for [`parse_into`] to fill: all zero, no transport layer.
    pub const EMPTY: Packet = Packet {
        ip: Ipv4Info {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            protocol: 0,
            ttl: 0,
            tos: 0,
            id: 0,
            total_len: 0,
            header_len: 0,
            dont_fragment: false,
            more_fragments: false,
            fragment_offset: 0,
        },
        l4: L4::Other,
    };
}

/// The transport layer as conntrack sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Tcp(TcpInfo),
    Udp(UdpInfo),
    Icmp(IcmpInfo),
    /// SCTP: the common header; the chunks are read from the bytes ([`sctp::chunks`]).
    Sctp(SctpInfo),
    /// UDP-Lite (RFC 3828): UDP's header, where the length field is the checksum
    /// coverage (0 = the whole datagram).
    UdpLite(UdpInfo),
    /// Any other protocol: conntrack tracks it by addresses only.
    Other,
    /// A non-first fragment: no transport header to read.
    Fragment,
    /// The transport header is truncated or inconsistent.
    Malformed(L4Error),
}

/// Why a transport header could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Error {
    /// Fewer bytes than the fixed header (`"truncated packet"` / `"short packet"`).
    Truncated { protocol: u8 },
    /// TCP data offset below 5 words or beyond the segment.
    BadDataOffset { data_offset: u8 },
}

impl fmt::Display for L4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            L4Error::Truncated {
                protocol: proto::TCP,
            } => f.write_str("truncated packet"),
            L4Error::Truncated { .. } => f.write_str("short packet"),
            L4Error::BadDataOffset { .. } => f.write_str("truncated packet"),
        }
    }
}

/// A TCP segment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// Byte 13 of the header: CWR ECE URG ACK PSH RST SYN FIN.
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// Header length in bytes (data offset * 4).
    pub header_len: u8,
    pub options: TcpOptions,
    /// Bytes of payload after the header.
    pub payload_len: u16,
    /// Offset of the TCP header in the packet.
    pub offset: u16,
}

impl TcpInfo {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
    /// Offset of the payload in the packet.
    pub fn payload_offset(&self) -> usize {
        self.offset as usize + self.header_len as usize
    }
}

/// A UDP datagram's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpInfo {
    pub sport: u16,
    pub dport: u16,
    /// The length field (header + payload).
    pub length: u16,
    pub checksum: u16,
    /// Bytes after the 8-byte header, up to the IP total length.
    pub payload_len: u16,
    pub offset: u16,
}

/// ICMP types conntrack cares about.
pub mod icmp_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACH: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const ADDRESS: u8 = 17;
    pub const ADDRESS_REPLY: u8 = 18;

    /// Error messages quote the packet that caused them (`icmp_is_err`).
    pub fn is_error(t: u8) -> bool {
        matches!(
            t,
            DEST_UNREACH | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAMETER_PROBLEM
        )
    }
}

/// An ICMP message's header, and for error messages the quoted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    pub icmp_type: u8,
    pub code: u8,
    pub checksum: u16,
    /// Bytes 4..8: identifier and sequence for echo-like messages.
    pub rest: [u8; 4],
    /// For error types: the quoted packet's header, if it could be read.
    pub inner: Option<InnerPacket>,
    pub offset: u16,
}

impl IcmpInfo {
    /// The echo identifier (bytes 4..6).
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.rest[0], self.rest[1]])
    }
    /// The echo sequence number (bytes 6..8).
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.rest[2], self.rest[3]])
    }
}

/// The header of the packet an ICMP error quotes (IP header + first 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerPacket {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub is_fragment: bool,
    /// The first bytes of the quoted transport header (zero-filled when missing).
    pub l4_head: [u8; 8],
    /// How many of `l4_head`'s bytes were actually present.
    pub l4_len: u8,
}

impl InnerPacket {
    /// Ports of a quoted TCP/UDP header, if at least 4 bytes were quoted.
    pub fn ports(&self) -> Option<(u16, u16)> {
        (self.l4_len >= 4).then(|| {
            (
                u16::from_be_bytes([self.l4_head[0], self.l4_head[1]]),
                u16::from_be_bytes([self.l4_head[2], self.l4_head[3]]),
            )
        })
    }
}

/// Parses raw IPv4 bytes. See the module docs for what is an error and what is
/// a malformed transport header.
pub fn parse(bytes: &[u8]) -> Result<Packet, WireError> {
    let mut pkt = Packet::EMPTY;
    parse_into(bytes, &mut pkt)?;
    Ok(pkt)
}

/// [`parse`] into a caller's [`Packet`], which is left unspecified on error. The
/// hot paths parse this way: every field is written once, straight into place, so
/// reading the packet back never has to wait on a copy of freshly written bytes.
#[inline]
pub fn parse_into(bytes: &[u8], out: &mut Packet) -> Result<(), WireError> {
    parse_ipv4(bytes, &mut out.ip)?;
    let data = &bytes[..out.ip.total_len as usize];
    if out.ip.fragment_offset != 0 {
        out.l4 = L4::Fragment;
    } else {
        parse_l4(data, &out.ip, &mut out.l4);
    }
    Ok(())
}

/// A big-endian u16 at `at` (the caller has checked the length).
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
/// A big-endian u32 at `at` (the caller has checked the length).
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The IPv4 header, checked in `ip_rcv`'s order: length, version, IHL, total length,
/// header checksum.
#[inline(always)]
fn parse_ipv4(bytes: &[u8], out: &mut Ipv4Info) -> Result<(), WireError> {
    if bytes.len() < 20 {
        return Err(WireError::TooShort { len: bytes.len() });
    }
    let version = bytes[0] >> 4;
    if version != 4 {
        return Err(WireError::NotIpv4 { version });
    }
    let ihl = bytes[0] & 0x0f;
    let header_len = u16::from(ihl) * 4;
    if ihl < 5 || bytes.len() < usize::from(header_len) {
        return Err(WireError::BadHeaderLength { ihl });
    }
    let total_len = be16(bytes, 2);
    if total_len < header_len || total_len as usize > bytes.len() {
        return Err(WireError::BadTotalLength {
            total_len,
            available: bytes.len(),
        });
    }
    if !checksum::ipv4_header_ok(&bytes[..usize::from(header_len)]) {
        return Err(WireError::BadHeaderChecksum);
    }
    let frag = be16(bytes, 6);
    *out = Ipv4Info {
        src: Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]),
        dst: Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]),
        protocol: bytes[9],
        ttl: bytes[8],
        tos: bytes[1],
        id: be16(bytes, 4),
        total_len,
        header_len,
        dont_fragment: frag & 0x4000 != 0,
        more_fragments: frag & 0x2000 != 0,
        fragment_offset: frag & 0x1fff,
    };
    Ok(())
}

/// Writes the transport layer into `out`. TCP and UDP, the protocols of nearly every
/// packet, write their variant straight into `out` rather than returning it, so such a
/// packet is never assembled in a temporary and copied.
#[inline(always)]
fn parse_l4(data: &[u8], ip: &Ipv4Info, out: &mut L4) {
    let off = ip.header_len as usize;
    let seg = &data[off..];
    let offset = off as u16;
    match ip.protocol {
        proto::TCP => parse_tcp(seg, offset, out),
        proto::UDP => parse_udp(seg, offset, proto::UDP, out),
        proto::UDPLITE => parse_udp(seg, offset, proto::UDPLITE, out),
        proto::ICMP => *out = parse_icmp(seg, offset),
        proto::SCTP => *out = parse_sctp(seg, offset),
        _ => *out = L4::Other,
    }
}

#[inline(always)]
fn parse_tcp(seg: &[u8], offset: u16, out: &mut L4) {
    if seg.len() < 20 {
        *out = L4::Malformed(L4Error::Truncated {
            protocol: proto::TCP,
        });
        return;
    }
    let data_offset = seg[12] >> 4;
    let header_len = data_offset * 4;
    if data_offset < 5 || seg.len() < usize::from(header_len) {
        *out = L4::Malformed(L4Error::BadDataOffset { data_offset });
        return;
    }
    *out = L4::Tcp(TcpInfo {
        sport: be16(seg, 0),
        dport: be16(seg, 2),
        seq: be32(seg, 4),
        ack: be32(seg, 8),
        flags: seg[13],
        window: be16(seg, 14),
        urgent: be16(seg, 18),
        header_len,
        options: TcpOptions::NONE,
        payload_len: (seg.len() - header_len as usize) as u16,
        offset,
    });
    if let (L4::Tcp(tcp), true) = (out, header_len > 20) {
        tcp.options.read(&seg[20..usize::from(header_len)]);
    }
}

/// UDP, or UDP-Lite (the same header).
#[inline(always)]
fn parse_udp(seg: &[u8], offset: u16, protocol: u8, out: &mut L4) {
    if seg.len() < 8 {
        *out = L4::Malformed(L4Error::Truncated { protocol });
        return;
    }
    let udp = UdpInfo {
        sport: be16(seg, 0),
        dport: be16(seg, 2),
        length: be16(seg, 4),
        checksum: be16(seg, 6),
        payload_len: (seg.len() - 8) as u16,
        offset,
    };
    *out = if protocol == proto::UDP {
        L4::Udp(udp)
    } else {
        L4::UdpLite(udp)
    };
}

/// The 12-byte common header (`nf_ct_sctp: short packet` without it).
fn parse_sctp(seg: &[u8], offset: u16) -> L4 {
    if seg.len() < 12 {
        return L4::Malformed(L4Error::Truncated {
            protocol: proto::SCTP,
        });
    }
    L4::Sctp(SctpInfo {
        sport: be16(seg, 0),
        dport: be16(seg, 2),
        vtag: be32(seg, 4),
        offset,
    })
}

/// Conntrack needs the 8-byte header of any ICMP message. etherparse also insists
/// that a timestamp request or reply (code 0) is exactly 20 bytes long; the kernel
/// does not, and tracks shorter or longer ones like any other, so for those the
/// header is read by hand.
fn parse_icmp(seg: &[u8], offset: u16) -> L4 {
    let (icmp_type, code, checksum, rest) = match etherparse::Icmpv4Slice::from_slice(seg) {
        Ok(msg) => (
            msg.type_u8(),
            msg.code_u8(),
            msg.checksum(),
            msg.bytes5to8(),
        ),
        Err(_)
            if seg.len() >= 8
                && matches!(seg[0], icmp_type::TIMESTAMP | icmp_type::TIMESTAMP_REPLY) =>
        {
            (
                seg[0],
                seg[1],
                be16(seg, 2),
                [seg[4], seg[5], seg[6], seg[7]],
            )
        }
        Err(_) => {
            return L4::Malformed(L4Error::Truncated {
                protocol: proto::ICMP,
            })
        }
    };
    let inner = if icmp_type::is_error(icmp_type) {
        parse_inner(&seg[8..])
    } else {
        None
    };
    L4::Icmp(IcmpInfo {
        icmp_type,
        code,
        checksum,
        rest,
        inner,
        offset,
    })
}

/// Reads a quoted packet the way `nf_ct_get_tuplepr` does: an IPv4 header
/// (its checksum and total length are not checked) and up to 8 bytes after it.
fn parse_inner(quoted: &[u8]) -> Option<InnerPacket> {
    if quoted.len() < 20 || quoted[0] >> 4 != 4 {
        return None;
    }
    let ihl = (quoted[0] & 0x0f) as usize * 4;
    if ihl < 20 || ihl > quoted.len() {
        return None;
    }
    let frag = u16::from_be_bytes([quoted[6], quoted[7]]);
    let l4 = &quoted[ihl..];
    let n = l4.len().min(8);
    let mut l4_head = [0u8; 8];
    l4_head[..n].copy_from_slice(&l4[..n]);
    Some(InnerPacket {
        src: Ipv4Addr::new(quoted[12], quoted[13], quoted[14], quoted[15]),
        dst: Ipv4Addr::new(quoted[16], quoted[17], quoted[18], quoted[19]),
        protocol: quoted[9],
        is_fragment: frag & 0x1fff != 0,
        l4_head,
        l4_len: n as u8,
    })
}
