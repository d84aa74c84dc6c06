//! The packet the kernel sends back for `-j REJECT` (`nf_reject_ipv4.c`, `icmp.c`).
//!
//! **tcp-reset** (`nf_send_reset`): not for non-first fragments, non-TCP packets,
//! segments with RST set or a bad TCP checksum. The answer goes from the original
//! destination to the source with the ports swapped, in a 20-byte IP header
//! (TOS 0, id 0, DF, TTL 64) and a 20-byte TCP header (window 0). If the segment
//! had ACK, the reset's seq is its ack number and only RST is set; otherwise seq is
//! 0, ack is seq + SYN + FIN + payload length, and RST|ACK is set.
//!
//! **ICMP** (`nf_send_unreach` → `icmp_send`, type 3 with the REJECT's code): not
//! for non-first fragments, packets whose transport checksum is wrong (UDP without
//! checksum, GRE, AH, ESP, SCTP, UDP-Lite and DCCP are not checked; other protocols
//! are, over their whole payload), ICMP errors or ICMP types above 18, or
//! broadcast/multicast destinations. The error comes from `router_addr` with TOS
//! `(tos & 0x1e) | 0xc0`, no DF, TTL 64, and quotes the packet as it is at the hook
//! (TTL already decremented in FORWARD) up to 576 bytes in all. The kernel picks a
//! random IP id; this builds id 0.

use super::target::RejectWith;
use crate::wire::{icmp_type, proto, Packet};
use std::net::Ipv4Addr;

/// The most an ICMP error may be (`576`: the minimum reassembly size).
const ICMP_MAX: usize = 576;

/// Builds the REJECT answer, or None when the kernel sends nothing.
pub fn reject_response(
    bytes: &[u8],
    packet: &Packet,
    with: RejectWith,
    router_addr: Ipv4Addr,
) -> Option<Vec<u8>> {
    let ip = &packet.ip;
    if ip.fragment_offset != 0 {
        return None;
    }
    let data = bytes.get(..usize::from(ip.total_len))?;
    let thoff = usize::from(ip.header_len);
    let seg = data.get(thoff..)?;
    match with.icmp_code() {
        None => tcp_reset(packet, seg),
        Some(code) => icmp_unreach(data, seg, packet, code, router_addr),
    }
}

fn tcp_reset(packet: &Packet, seg: &[u8]) -> Option<Vec<u8>> {
    let ip = &packet.ip;
    if ip.protocol != proto::TCP || seg.len() < 20 || seg[13] & 0x04 != 0 || !unicast(ip.dst) {
        return None;
    }
    if pseudo_sum(ip.src, ip.dst, proto::TCP, seg) != 0xffff {
        return None;
    }
    let be32 = |o: usize| u32::from_be_bytes([seg[o], seg[o + 1], seg[o + 2], seg[o + 3]]);
    let (seq, ack_seq, flags) = (be32(4), be32(8), seg[13]);
    let mut out = ip_header(ip.dst, ip.src, proto::TCP, 40, 0, true);
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&seg[2..4]);
    tcp[2..4].copy_from_slice(&seg[0..2]);
    tcp[12] = 5 << 4;
    if flags & 0x10 != 0 {
        tcp[4..8].copy_from_slice(&ack_seq.to_be_bytes());
        tcp[13] = 0x04;
    } else {
        let doff = u32::from(seg[12] >> 4) * 4;
        let payload = (seg.len() as u32).wrapping_sub(doff);
        let syn_fin = u32::from(flags & 0x02 != 0) + u32::from(flags & 0x01 != 0);
        let ack = seq.wrapping_add(syn_fin).wrapping_add(payload);
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[13] = 0x14;
    }
    let csum = !pseudo_sum(ip.dst, ip.src, proto::TCP, &tcp);
    tcp[16..18].copy_from_slice(&csum.to_be_bytes());
    out.extend_from_slice(&tcp);
    Some(out)
}

fn icmp_unreach(
    data: &[u8],
    seg: &[u8],
    packet: &Packet,
    code: u8,
    router: Ipv4Addr,
) -> Option<Vec<u8>> {
    let ip = &packet.ip;
    if !checksum_ok(ip.src, ip.dst, ip.protocol, seg) || !unicast(ip.dst) {
        return None;
    }
    if ip.protocol == proto::ICMP {
        let t = *seg.first()?;
        if t > icmp_type::ADDRESS_REPLY || icmp_type::is_error(t) {
            return None;
        }
    }
    let quote = &data[..data.len().min(ICMP_MAX - 28)];
    let total = 28 + quote.len();
    let mut out = ip_header(
        router,
        ip.src,
        proto::ICMP,
        total as u16,
        (ip.tos & 0x1e) | 0xc0,
        false,
    );
    let mut icmp = vec![icmp_type::DEST_UNREACH, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quote);
    let csum = !fold(sum(&icmp));
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());
    out.extend_from_slice(&icmp);
    Some(out)
}

/// `nf_reject_verify_csum` + `nf_ip_checksum`: may the kernel answer this packet?
fn checksum_ok(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, seg: &[u8]) -> bool {
    match protocol {
        proto::UDP if seg.len() < 8 || seg[6..8] == [0, 0] => true,
        proto::TCP | proto::UDP => pseudo_sum(src, dst, protocol, seg) == 0xffff,
        // GRE, ESP, AH, SCTP, UDP-Lite, DCCP: other integrity checks.
        47 | 50 | 51 | 132 | 136 | 33 => true,
        _ => fold(sum(seg)) == 0xffff,
    }
}

fn unicast(a: Ipv4Addr) -> bool {
    !a.is_multicast() && !a.is_broadcast()
}

/// A 20-byte IPv4 header with its checksum.
fn ip_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, total: u16, tos: u8, df: bool) -> Vec<u8> {
    let mut h = vec![0x45, tos];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0, if df { 0x40 } else { 0 }, 0, 64, protocol, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let csum = !fold(sum(&h));
    h[10..12].copy_from_slice(&csum.to_be_bytes());
    h
}

/// The one's-complement sum (RFC 1071) of big-endian 16-bit words, unfolded.
fn sum(data: &[u8]) -> u64 {
    data.chunks(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The folded sum over the TCP/UDP pseudo-header and `seg` (0xffff when valid).
fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, seg: &[u8]) -> u16 {
    let pseudo = sum(&src.octets()) + sum(&dst.octets()) + u64::from(protocol) + seg.len() as u64;
    fold(pseudo + sum(seg))
}
