//! Internet checksums (RFC 1071) for IPv4 headers and transport segments.
//!
//! `Sum16BitWords` sums native-endian words; `.to_be()` turns its result into the
//! numeric checksum value that is stored big-endian on the wire.

use super::{proto, Packet, L4};
use etherparse::checksum::Sum16BitWords;

/// The one's-complement sum over an IPv4 header: 0 when the stored checksum is right,
/// otherwise the checksum to store (with the checksum field zeroed).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    Sum16BitWords::new()
        .add_slice(header)
        .ones_complement()
        .to_be()
}

/// Verifies a TCP, UDP or ICMP checksum as `nf_ip_checksum` does, over the transport
/// bytes up to the IP total length. UDP with checksum 0 ("none") always passes;
/// other protocols have nothing to verify.
pub fn transport_checksum_ok(bytes: &[u8], packet: &Packet) -> bool {
    let ip = &packet.ip;
    let seg = &bytes[ip.header_len as usize..ip.total_len as usize];
    let pseudo = |p: u8| {
        Sum16BitWords::new()
            .add_4bytes(ip.src.octets())
            .add_4bytes(ip.dst.octets())
            .add_2bytes([0, p])
            .add_2bytes((seg.len() as u16).to_be_bytes())
    };
    match packet.l4 {
        L4::Tcp(_) => pseudo(proto::TCP).add_slice(seg).ones_complement() == 0,
        L4::Udp(u) if u.checksum == 0 => true,
        L4::Udp(_) => pseudo(proto::UDP).add_slice(seg).ones_complement() == 0,
        L4::Icmp(_) => Sum16BitWords::new().add_slice(seg).ones_complement() == 0,
        _ => true,
    }
}

/// Computes the checksum to store in a transport header whose checksum field is zero.
pub(crate) fn transport_checksum(src: [u8; 4], dst: [u8; 4], protocol: u8, seg: &[u8]) -> u16 {
    if protocol == proto::ICMP {
        return Sum16BitWords::new()
            .add_slice(seg)
            .ones_complement()
            .to_be();
    }
    Sum16BitWords::new()
        .add_4bytes(src)
        .add_4bytes(dst)
        .add_2bytes([0, protocol])
        .add_2bytes((seg.len() as u16).to_be_bytes())
        .add_slice(seg)
        .ones_complement()
        .to_be()
}
