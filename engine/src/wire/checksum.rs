//! Internet checksums (RFC 1071) for IPv4 headers and transport segments.
//!
//! The one's-complement sum does not depend on byte order up to a final byte swap
//! (RFC 1071, section 2), and 16-bit words can be summed several at a time in a wider
//! accumulator (section 2 (B)), so the bytes are summed as native-endian 32-bit words
//! into 64-bit lanes and the carries folded back at the end. A sum that verifies is
//! `0xffff` in any byte order.

use super::{proto, Packet, L4};

/// Adds `data` to a one's-complement accumulator (below 2^48) as native-endian 16-bit
/// words; an odd byte at the end is padded with zero, as RFC 1071 says. The result
/// stays below 2^49.
///
/// The bytes are read as native-endian 32-bit words added into four 64-bit lanes: a
/// 32-bit word is two 16-bit words, and 2^32 ≡ 1 modulo 2^16 - 1, so the lanes need no
/// end-around carry until [`fold`] (a packet of at most 2^16 bytes adds below 2^46 to
/// each lane). Without carries to chain, the lanes add independently.
fn add(acc: u64, data: &[u8]) -> u64 {
    let mut lanes = [0u64; 4];
    let mut blocks = data.chunks_exact(16);
    for blk in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(blk.chunks_exact(4)) {
            *lane += u64::from(u32::from_ne_bytes(word.try_into().unwrap_or_default()));
        }
    }
    let mut rest = blocks.remainder();
    if rest.len() >= 8 {
        let w = word(rest);
        lanes[0] += w & 0xffff_ffff;
        lanes[1] += w >> 32;
        rest = &rest[8..];
    }
    acc + tail_sum(rest) + lanes.iter().sum::<u64>()
}

/// The first 8 bytes of `bytes` as a native-endian word (the caller has checked the
/// length).
#[inline(always)]
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_ne_bytes(w)
}

/// The sum of up to 7 trailing bytes: a 32-bit word, a 16-bit word and a last byte
/// padded with zero, each at an even offset, so each adds as whole 16-bit words. Read
/// straight from the slice (no staging buffer, whose narrow stores a wide load could
/// not forward from).
#[inline(always)]
fn tail_sum(mut rest: &[u8]) -> u64 {
    let mut sum = 0;
    if let [a, b, c, d, more @ ..] = rest {
        sum += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        rest = more;
    }
    if let [a, b, more @ ..] = rest {
        sum += u64::from(u16::from_ne_bytes([*a, *b]));
        rest = more;
    }
    if let [a] = rest {
        sum += u64::from(u16::from_ne_bytes([*a, 0]));
    }
    sum
}

/// Adds the IPv4 pseudo-header of a transport segment.
fn add_pseudo(acc: u64, src: [u8; 4], dst: [u8; 4], protocol: u8, len: usize) -> u64 {
    acc + u64::from(u32::from_ne_bytes(src))
        + u64::from(u32::from_ne_bytes(dst))
        + u64::from(u16::from_ne_bytes([0, protocol]))
        + u64::from(u16::from_ne_bytes((len as u16).to_be_bytes()))
}

/// Folds the carries back into 16 bits (still in native word order).
fn fold(acc: u64) -> u16 {
    let acc = (acc & 0xffff_ffff) + (acc >> 32); // at most 33 bits
    let acc = (acc & 0xffff) + (acc >> 16); // at most 18 bits
    let acc = (acc & 0xffff) + (acc >> 16); // at most 17 bits
    ((acc & 0xffff) + (acc >> 16)) as u16
}

/// The checksum to store for a folded sum, as a number to write big-endian.
fn to_store(sum: u16) -> u16 {
    u16::from_be_bytes((!sum).to_ne_bytes())
}

/// The one's-complement sum over an IPv4 header: 0 when the stored checksum is right,
/// otherwise the checksum to store (with the checksum field zeroed).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    to_store(fold(add(0, header)))
}

/// Whether an IPv4 header's checksum verifies.
pub(crate) fn ipv4_header_ok(header: &[u8]) -> bool {
    fold(add(0, header)) == 0xffff
}

/// Verifies a TCP, UDP or ICMP checksum as `nf_ip_checksum` does, over the transport
/// bytes up to the IP total length. UDP with checksum 0 ("none") always passes;
/// other protocols have nothing to verify.
pub fn transport_checksum_ok(bytes: &[u8], packet: &Packet) -> bool {
    let ip = &packet.ip;
    let seg = &bytes[ip.header_len as usize..ip.total_len as usize];
    let pseudo = |p: u8| add_pseudo(0, ip.src.octets(), ip.dst.octets(), p, seg.len());
    let sum = match &packet.l4 {
        L4::Tcp(_) => add(pseudo(proto::TCP), seg),
        L4::Udp(u) if u.checksum == 0 => return true,
        L4::Udp(_) => add(pseudo(proto::UDP), seg),
        L4::Icmp(_) => add(0, seg),
        L4::Sctp(_) => return super::sctp::checksum_ok(seg),
        L4::UdpLite(_) => return udplite_checksum_ok(bytes, packet),
        _ => return true,
    };
    fold(sum) == 0xffff
}

/// Verifies a UDP-Lite checksum as conntrack does (`udplite_error`): over the first
/// `coverage` bytes (the length field; 0 means all), with a pseudo-header of the
/// whole datagram's length. Linux 6.18 (`nf_ip_checksum_partial`) passes the length
/// and `IPPROTO_UDP` to `csum_tcpudp_nofold` in swapped places: 17 stands where the
/// length goes and the length is cut to the 8-bit protocol slot. So the kernel
/// verifies with protocol 17 (where RFC 3828 says 136) and the length modulo 256:
/// a correctly checksummed datagram of 256 bytes or more is INVALID.
/// A coverage outside 8..=length fails.
pub fn udplite_checksum_ok(bytes: &[u8], packet: &Packet) -> bool {
    let ip = &packet.ip;
    let seg = &bytes[ip.header_len as usize..ip.total_len as usize];
    let coverage = match seg.get(4..6) {
        Some(c) => usize::from(u16::from_be_bytes([c[0], c[1]])),
        None => return false,
    };
    let coverage = if coverage == 0 { seg.len() } else { coverage };
    if coverage < 8 || coverage > seg.len() {
        return false;
    }
    let start = add_pseudo(
        0,
        ip.src.octets(),
        ip.dst.octets(),
        proto::UDP,
        seg.len() & 0xff,
    );
    fold(add(start, &seg[..coverage])) == 0xffff
}

/// Computes the checksum to store in a transport header whose checksum field is zero.
pub(crate) fn transport_checksum(src: [u8; 4], dst: [u8; 4], protocol: u8, seg: &[u8]) -> u16 {
    let start = if protocol == proto::ICMP {
        0
    } else {
        add_pseudo(0, src, dst, protocol, seg.len())
    };
    to_store(fold(add(start, seg)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::checksum::Sum16BitWords;

    /// The reference: etherparse's 16-bit word sum.
    fn reference(data: &[u8]) -> u16 {
        Sum16BitWords::new()
            .add_slice(data)
            .ones_complement()
            .to_be()
    }

    #[test]
    fn agrees_with_a_plain_word_sum_at_every_length() {
        let mut data = Vec::new();
        let mut x: u32 = 0x1234_5678;
        for len in 0..300 {
            assert_eq!(ipv4_header_checksum(&data), reference(&data), "len {len}");
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            data.push((x >> 16) as u8);
        }
        // All ones carries out of every word.
        for len in 0..64 {
            assert_eq!(
                ipv4_header_checksum(&[0xff; 64][..len]),
                reference(&[0xff; 64][..len])
            );
        }
        assert_eq!(ipv4_header_checksum(&[0; 20]), reference(&[0; 20]));
    }

    #[test]
    fn a_header_with_its_checksum_verifies() {
        let mut h = [
            0x45, 0, 0, 0x3c, 0x1c, 0x46, 0x40, 0, 0x40, 6, 0, 0, 0xac, 0x10, 0x0a, 0x63, 0xac,
            0x10, 0x0a, 0x0c,
        ];
        let c = ipv4_header_checksum(&h);
        assert_eq!(c, 0xb1e6);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(ipv4_header_ok(&h));
        assert_eq!(ipv4_header_checksum(&h), 0);
        h[0] ^= 1;
        assert!(!ipv4_header_ok(&h));
    }
}
