//! REJECT answers, checked against packets Linux 6.18 emitted (recorded with the
//! kernel-oracle): for each case the packet as sent, the REJECT type, and what the
//! kernel sent back (None: nothing).

use super::Pkt;
use crate::rules::{reject_response, RejectWith};
use crate::wire::decode_hex;
use std::net::Ipv4Addr;

const LAN_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const WAN_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// `ip_decrease_ttl` as `ip_forward` runs it before the FORWARD hook: the checksum
/// is patched incrementally (which can differ from a recomputation).
pub(super) fn decrease_ttl(b: &mut [u8]) {
    b[8] = b[8].wrapping_sub(1);
    let x = u32::from(u16::from_le_bytes([b[10], b[11]])) + 1;
    let x = x + u32::from(x >= 0xffff);
    b[10..12].copy_from_slice(&(x as u16).to_le_bytes());
}

/// Masks what the kernel randomises (IP id) and what depends on it (IP checksum).
pub(super) fn masked(b: &[u8]) -> Vec<u8> {
    let mut b = b.to_vec();
    if b.len() >= 12 {
        b[4..6].fill(0);
        b[10..12].fill(0);
    }
    b
}

use RejectWith::*;

/// (from wan?, sent packet, REJECT type, kernel answer)
const CASES: &[(bool, &str, RejectWith, Option<&str>)] = &[
    // UDP with TOS 0xfc: the error's TOS is (0xfc & 0x1e) | 0xc0.
    (false, "45fc00210001000040117c0dc0a80114cb00710503e80035000dba2268656c6c6f", IcmpPortUnreachable,
     Some("45dc003db18b0000400144f3c0a80101c0a801140303fadd0000000045fc0021000100003f117d0dc0a80114cb00710503e80035000dba2268656c6c6f")),
    // UDP with a bad checksum: nothing.
    (false, "450000210002000040117d08c0a80114cb00710503e90035000de07b68656c6c6f", IcmpPortUnreachable, None),
    // TCP SYN with a bad checksum: no reset.
    (false, "450000280003000040067d0ac0a80115cb0071059c400050000003e8000000005002ffff4bfd0000", TcpReset, None),
    // SYN|FIN with 5 bytes: ack = seq + 1 + 1 + 5, RST|ACK.
    (false, "4500002d0004000040067d04c0a80115cb0071059c410050000007d0000000005003ffffe3f000006162636465", TcpReset,
     Some("450000280000400040063d0dcb007105c0a8011500509c4100000000000007d7501400000da50000")),
    // PSH|ACK: seq = its ack, RST only.
    (false, "4500002b0005000040067d05c0a80115cb0071059c420050000000640000022b5018ffff206b000078797a", TcpReset,
     Some("450000280000400040063d0dcb007105c0a8011500509c420000022b000000005004000013600000")),
    // No RST for a RST.
    (false, "450000280006000040067d07c0a80115cb0071059c43005000000064000000005004ffff15260000", TcpReset, None),
    // A bare ACK with ack 0: seq 0, RST only.
    (false, "45000028000f000040067cfec0a80115cb0071059c45005000000064000000005010ffff15180000", TcpReset,
     Some("450000280000400040063d0dcb007105c0a8011500509c4500000000000000005004000015880000")),
    // Echo request: port unreachable quoting it.
    (false, "450000200008000040017d13c0a80114cb007105080019270007000170696e67", IcmpPortUnreachable,
     Some("45c0003cb193000040014508c0a80101c0a801140303fcfc0000000045000020000800003f017e13c0a80114cb007105080019270007000170696e67")),
    // Timestamp request (type 13) is answered too.
    (false, "4500001c0010000040017d0fc0a80114cb0071050d00f2f700070001", IcmpPortUnreachable,
     Some("45c00038b1f00000400144afc0a80101c0a801140303fcfc000000004500001c001000003f017e0fc0a80114cb0071050d00f2f700070001")),
    // No error for an ICMP error, nor for an unknown type (30 > 18).
    (false, "450000380009000040017cfac0a80114cb0071050303fad8000000004500001c0009000040117d06cb007105c0a80114003503e80008fdfe", IcmpPortUnreachable, None),
    (false, "4500001c0011000040017d0ec0a80114cb0071051e00e1f700070001", IcmpPortUnreachable, None),
    // Protocol 253 is checksummed over its payload: this one is wrong, so nothing.
    (false, "4500001c000a000040fd7c17c0a80116cb0071050102030405060708", IcmpProtoUnreachable, None),
    // First fragment (MF, offset 0): answered; a later fragment is not.
    (false, "45000021000b200040115cffc0a80114cb00710503eb0035000d06186672616730", IcmpPortUnreachable,
     Some("45c0003db19e0000400144fcc0a80101c0a801140303fadd0000000045000021000b20003f115dffc0a80114cb00710503eb0035000d06186672616730")),
    (false, "45000021000c000340117cfbc0a80114cb00710503ec0035000d03176672616733", IcmpPortUnreachable, None),
    // From wan: the error comes from the wan address.
    (true, "45000023000d000040117cddcb007105c0a8013203ed0035000f428c66726f6d77616e", IcmpHostUnreachable,
     Some("45c0003fa745000040016c7ec6336401cb0071050301faff0000000045000023000d00003f117dddcb007105c0a8013203ed0035000f428c66726f6d77616e")),
    // TOS 0x10, TTL 5: admin prohibited (code 13) quoting TTL 4.
    (false, "45100028000e00000506b7edc0a80117cb0071059c44005000000bb8000000005002ffff09d10000", IcmpAdminProhibited,
     Some("45d00044c8c4000040012dbcc0a80101c0a80117030dfad20000000045100028000e00000406b8edc0a80117cb0071059c44005000000bb8000000005002ffff09d10000")),
];

#[test]
fn answers_match_the_kernel() {
    for (i, &(from_wan, sent, with, want)) in CASES.iter().enumerate() {
        let mut bytes = decode_hex(sent).unwrap();
        decrease_ttl(&mut bytes);
        let p = Pkt::from_bytes(bytes);
        let router = if from_wan { WAN_ADDR } else { LAN_ADDR };
        let got = reject_response(&p.bytes, &p.packet, with, router);
        let want = want.map(|w| decode_hex(w).unwrap());
        assert_eq!(
            got.as_deref().map(masked),
            want.as_deref().map(masked),
            "case {i}"
        );
    }
}

#[test]
fn big_packets_are_quoted_up_to_576_bytes() {
    let mut b = decode_hex("450004040007000040117920c0a80114cb00710503ea003503f0aae1").unwrap();
    b.resize(0x404, b'x');
    decrease_ttl(&mut b);
    let p = Pkt::from_bytes(b.clone());
    let got = reject_response(&p.bytes, &p.packet, IcmpPortUnreachable, LAN_ADDR).unwrap();
    assert_eq!(got.len(), 576);
    assert_eq!(
        masked(&got[..28]),
        masked(&decode_hex("45c00240b191000040014306c0a80101c0a801140303efb100000000").unwrap())
    );
    assert_eq!(&got[28..], &b[..548]);
}

#[test]
fn generated_headers_are_valid() {
    let p = super::tcp("192.168.1.10", 40000, "203.0.113.5", 23, "S");
    let rst = reject_response(&p.bytes, &p.packet, TcpReset, LAN_ADDR).unwrap();
    let parsed = crate::wire::parse(&rst).unwrap();
    assert!(crate::wire::transport_checksum_ok(&rst, &parsed));
    let p = super::udp("192.168.1.10", 1, "203.0.113.5", 2);
    let err = reject_response(&p.bytes, &p.packet, IcmpNetProhibited, LAN_ADDR).unwrap();
    let parsed = crate::wire::parse(&err).unwrap();
    assert!(crate::wire::transport_checksum_ok(&err, &parsed));
    assert_eq!((err[20], err[21]), (3, 9));
    // tcp-reset never answers other protocols; nothing for broadcast destinations.
    assert_eq!(
        reject_response(&p.bytes, &p.packet, TcpReset, LAN_ADDR),
        None
    );
    let b = super::udp("192.168.1.10", 1, "255.255.255.255", 2);
    assert_eq!(
        reject_response(&b.bytes, &b.packet, IcmpPortUnreachable, LAN_ADDR),
        None
    );
}
