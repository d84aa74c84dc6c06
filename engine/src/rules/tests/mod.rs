//! Tests of the rule engine: parsing (with error positions), canonical save,
//! matching and counters, REJECT answers, and agreement with recorded kernel traces.

mod commands;
mod eval;
mod fuzz;
mod list;
mod parse;
mod pipeline;
mod reject;
mod save;
mod traces;

use super::{PacketContext, Ruleset};
use crate::conntrack::ctinfo::CtState;
use crate::wire::{self, IcmpSpec, IpSpec, PacketSpec, TcpSpec, Transport, UdpSpec};
use std::net::Ipv4Addr;

/// A built packet and its parsed view.
pub(super) struct Pkt {
    pub bytes: Vec<u8>,
    pub packet: wire::Packet,
}

impl Pkt {
    pub fn from_bytes(bytes: Vec<u8>) -> Pkt {
        let packet = wire::parse(&bytes).expect("test packet parses");
        Pkt { bytes, packet }
    }

    pub fn build(spec: PacketSpec) -> Pkt {
        Pkt::from_bytes(spec.build().expect("test packet builds"))
    }

    /// A FORWARD context from `lan` to `wan` with the given state.
    pub fn ctx(&self, state: CtState) -> PacketContext<'_> {
        PacketContext {
            bytes: &self.bytes,
            packet: &self.packet,
            in_iface: Some("lan"),
            out_iface: Some("wan"),
            ctstate: state,
            ct: None,
            ct_dir: None,
            now_ms: 0,
            mark: 0,
            topology: crate::firewall::Topology::default(),
            conntrack: None,
        }
    }
}

pub(super) fn ip(src: &str, dst: &str) -> IpSpec {
    IpSpec::new(
        src.parse::<Ipv4Addr>().unwrap(),
        dst.parse::<Ipv4Addr>().unwrap(),
    )
}

pub(super) fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: &str) -> Pkt {
    let t = TcpSpec {
        sport,
        dport,
        flags: flags.into(),
        seq: 1000,
        ack: if flags.contains('A') { 5000 } else { 0 },
        win: 65535,
        urg: 0,
        options: Default::default(),
        payload: Vec::new(),
        bad_csum: false,
    };
    Pkt::build(PacketSpec {
        ip: ip(src, dst),
        transport: Transport::Tcp(t),
    })
}

pub(super) fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Pkt {
    let u = UdpSpec {
        sport,
        dport,
        payload: b"hello".to_vec(),
        bad_csum: false,
        no_csum: false,
    };
    Pkt::build(PacketSpec {
        ip: ip(src, dst),
        transport: Transport::Udp(u),
    })
}

pub(super) fn icmp(src: &str, dst: &str, icmp_type: u8, code: u8) -> Pkt {
    let mut i = IcmpSpec::echo(7, 1);
    i.icmp_type = icmp_type;
    i.code = code;
    Pkt::build(PacketSpec {
        ip: ip(src, dst),
        transport: Transport::Icmp(i),
    })
}

/// Parses or panics with the error.
pub(super) fn rules(text: &str) -> Ruleset {
    Ruleset::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
