//! Ready-made scenarios for the preset menu.
//!
//! Most presets are packet sequences recorded from Linux with the kernel-oracle
//! (`engine/tests/kernel/*.trace.json`, embedded by `build.rs`): the same bytes at the
//! same times with the same rules, so what the page shows is what the kernel did. Two
//! cannot be recorded (a network namespace cannot shrink `nf_conntrack_max`, and real
//! timeouts take minutes): the SYN flood against a small table and the timeouts tour
//! are built here from packet descriptions.

use std::net::Ipv4Addr;

use wasmwall::wire::{
    self, IcmpSpec, IpSpec, PacketSpec, TcpOptionsSpec, TcpSpec, Transport, UdpSpec,
};
use wasmwall::Iface;

use crate::session::{Event, Scenario};

/// A recorded kernel-oracle trace, reduced to what a preset needs.
pub(crate) struct KernelTrace {
    pub name: &'static str,
    pub description: &'static str,
    pub rules: &'static str,
    pub sysctl: &'static [(&'static str, &'static str)],
    pub steps: &'static [TraceStep],
}

/// One step of a [`KernelTrace`]; `from` is empty for a step that only waits.
pub(crate) struct TraceStep {
    pub t_ms: u64,
    pub from: &'static str,
    pub hex: &'static str,
    pub note: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/kernel_traces.rs"));

/// The router guide's stateful ruleset: replies and related traffic may come back in,
/// anything may go out, nothing new comes in.
pub const GUIDE_RULES: &str = "-P FORWARD DROP\n\
-A FORWARD -m state --state INVALID -j DROP\n\
-A FORWARD -d 192.168.1.0/24 -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
-A FORWARD -s 192.168.1.0/24 -j ACCEPT";

/// Where a preset's scenario comes from.
enum Source {
    Kernel(&'static KernelTrace),
    Built(fn() -> Scenario),
}

/// One entry of the preset menu.
pub struct Preset {
    /// The `<option>` value, also used in links.
    pub id: &'static str,
    pub title: &'static str,
    source: Source,
}

impl Preset {
    /// The preset's scenario, at its start.
    pub fn scenario(&self) -> Scenario {
        match self.source {
            Source::Kernel(trace) => from_trace(trace, self.title),
            Source::Built(build) => build(),
        }
    }

    /// The kernel-oracle trace the preset replays, if it is a recorded one.
    pub fn kernel_trace(&self) -> Option<&'static str> {
        match self.source {
            Source::Kernel(t) => Some(t.name),
            Source::Built(_) => None,
        }
    }
}

/// Every preset, in menu order.
pub const PRESETS: &[Preset] = &[
    Preset {
        id: "tcp-handshake",
        title: "TCP: handshake, data and teardown",
        source: Source::Kernel(&TCP_CLOSE_CLIENT_FIN),
    },
    Preset {
        id: "tcp-rst",
        title: "TCP: connection reset (RST)",
        source: Source::Kernel(&TCP_RST_EXACT_CLIENT),
    },
    Preset {
        id: "tcp-simultaneous-open",
        title: "TCP: simultaneous open",
        source: Source::Kernel(&TCP_SIMULTANEOUS_OPEN),
    },
    Preset {
        id: "udp",
        title: "UDP: request, reply, stream",
        source: Source::Kernel(&UDP_STREAM_ASSURED),
    },
    Preset {
        id: "icmp-echo",
        title: "ICMP: echo request and reply (ping)",
        source: Source::Kernel(&ICMP_ECHO),
    },
    Preset {
        id: "icmp-error",
        title: "ICMP: a RELATED error (port unreachable)",
        source: Source::Kernel(&ICMP_ERROR_UDP_PORT_UNREACH),
    },
    Preset {
        id: "ftp",
        title: "FTP: a RELATED data connection",
        source: Source::Kernel(&FTP_ACTIVE_PORT),
    },
    Preset {
        id: "tcp-invalid",
        title: "TCP: out-of-window segments are INVALID",
        source: Source::Kernel(&TCP_WINDOW_SEQ_FAR),
    },
    Preset {
        id: "router-itself",
        title: "The router itself: ping, closed ports, INPUT and OUTPUT",
        source: Source::Kernel(&LOCAL_INPUT_CHAIN),
    },
    Preset {
        id: "syn-flood",
        title: "SYN flood against a 16-entry table",
        source: Source::Built(syn_flood),
    },
    Preset {
        id: "timeouts",
        title: "Timeouts: entries expiring",
        source: Source::Built(timeouts),
    },
    Preset {
        id: "blank",
        title: "Blank: the guide's rules, no packets yet",
        source: Source::Built(blank),
    },
];

/// The preset the page opens with.
pub const DEFAULT_PRESET: &str = "tcp-handshake";

/// The preset with this id.
pub fn preset(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}

fn from_trace(trace: &KernelTrace, title: &str) -> Scenario {
    let events = trace
        .steps
        .iter()
        .map(|s| match Iface::from_name(s.from) {
            Some(from) => Event::packet(
                s.t_ms,
                from,
                wire::decode_hex(s.hex).expect("build.rs embeds valid hex"),
                s.note,
            ),
            None => Event::wait(s.t_ms, if s.note.is_empty() { "wait" } else { s.note }),
        })
        .collect();
    Scenario {
        title: title.to_string(),
        description: format!(
            "{} (Recorded from Linux: kernel-oracle scenario {}.)",
            trace.description, trace.name
        ),
        rules: trace.rules.to_string(),
        sysctl: trace
            .sysctl
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        events,
    }
}

fn addr(text: &str) -> Ipv4Addr {
    text.parse().expect("preset addresses are valid")
}

/// A TCP segment with the kernel-oracle's defaults (window 64240, no options).
fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: &str, seq: u32, ack: u32) -> Vec<u8> {
    tcp_with(src, sport, dst, dport, flags, seq, ack, Vec::new())
}

#[allow(clippy::too_many_arguments)]
fn tcp_with(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: &str,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
) -> Vec<u8> {
    build(
        src,
        dst,
        Transport::Tcp(TcpSpec {
            sport,
            dport,
            flags: flags.into(),
            seq,
            ack,
            win: 64240,
            urg: 0,
            options: TcpOptionsSpec {
                mss: flags.contains('S').then_some(1460),
                ..TcpOptionsSpec::default()
            },
            payload,
            bad_csum: false,
        }),
    )
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    build(
        src,
        dst,
        Transport::Udp(UdpSpec {
            sport,
            dport,
            payload: payload.to_vec(),
            bad_csum: false,
            no_csum: false,
        }),
    )
}

fn icmp_echo(src: &str, dst: &str, icmp_type: u8, id: u16, seq: u16) -> Vec<u8> {
    build(
        src,
        dst,
        Transport::Icmp(IcmpSpec {
            icmp_type,
            payload: b"wasmwall".to_vec(),
            ..IcmpSpec::echo(id, seq)
        }),
    )
}

fn build(src: &str, dst: &str, transport: Transport) -> Vec<u8> {
    PacketSpec {
        ip: IpSpec::new(addr(src), addr(dst)),
        transport,
    }
    .build()
    .expect("preset packets are valid")
}

/// A 16-entry table flooded with spoofed SYNs for a published web server.
fn syn_flood() -> Scenario {
    const CLIENT: &str = "192.168.1.10";
    const REMOTE: &str = "203.0.113.5";
    const SERVER: &str = "192.168.1.20";
    let mut events = vec![
        Event::packet(
            0,
            Iface::Lan,
            tcp(CLIENT, 40000, REMOTE, 443, "S", 1000, 0),
            "a LAN client opens a connection: SYN_SENT [UNREPLIED]",
        ),
        Event::packet(
            100,
            Iface::Wan,
            tcp(REMOTE, 443, CLIENT, 40000, "SA", 5000, 1001),
            "SYN-ACK: SYN_RECV",
        ),
        Event::packet(
            200,
            Iface::Lan,
            tcp(CLIENT, 40000, REMOTE, 443, "A", 1001, 5001),
            "ACK: ESTABLISHED and ASSURED, so early drop will spare it",
        ),
    ];
    for i in 0..40u32 {
        let src = format!("198.18.{}.{}", (i * 37) % 256, (i * 91) % 254 + 1);
        let sport = 1024 + ((i * 7919) % 60000) as u16;
        let note = match i {
            0 => "spoofed SYN flood for the web server begins: each SYN makes a SYN_SENT [UNREPLIED] entry".to_string(),
            14 => "the table is full (16 of 16): the next SYNs need early drop".to_string(),
            _ => format!("spoofed SYN {}", i + 1),
        };
        events.push(Event::packet(
            300 + u64::from(i) * 50,
            Iface::Wan,
            tcp(&src, sport, SERVER, 80, "S", 7_000_000 + i, 0),
            note,
        ));
    }
    let end = 300 + 40 * 50;
    events.push(Event::packet(
        end,
        Iface::Lan,
        tcp_with(
            CLIENT,
            40000,
            REMOTE,
            443,
            "PA",
            1001,
            5001,
            b"hello".to_vec(),
        ),
        "the ASSURED connection survived the flood: its data still passes",
    ));
    Scenario {
        title: "SYN flood against a 16-entry table".into(),
        description: "The table holds 16 entries (nf_conntrack_max=16) in 256 hash buckets. \
            The ruleset is the router guide's plus one rule publishing a web server at \
            192.168.1.20:80. A LAN client's connection becomes ASSURED; then spoofed SYNs \
            fill the table with [UNREPLIED] entries. Once it is full, each new SYN makes \
            conntrack look at 8 buckets from the new packet's bucket: if it finds entries \
            that are not ASSURED it evicts them (early drop, counted as early_drop); if it \
            finds none, the packet is dropped before the rules see it and the kernel logs \
            \"nf_conntrack: table full, dropping packet\". After such a drop the garbage \
            collector evicts every unassured entry. The ASSURED connection survives all \
            of it."
            .into(),
        rules: format!("{GUIDE_RULES}\n-A FORWARD -d 192.168.1.20/32 -p tcp --dport 80 -j ACCEPT"),
        sysctl: vec![
            ("max".into(), "16".into()),
            ("buckets".into(), "256".into()),
        ],
        events,
    }
}

/// One connection of each kind, then time passes until every entry has expired.
fn timeouts() -> Scenario {
    const HOST: &str = "192.168.1.10";
    let events = vec![
        Event::packet(
            0,
            Iface::Lan,
            udp(HOST, 5353, "203.0.113.53", 53, b"query"),
            "DNS query: UDP entry [UNREPLIED], 30 s",
        ),
        Event::packet(
            100,
            Iface::Wan,
            udp("203.0.113.53", 53, HOST, 5353, b"answer"),
            "answer: replied, still 30 s (UDP is only ASSURED after 2 s of traffic)",
        ),
        Event::packet(
            200,
            Iface::Lan,
            icmp_echo(HOST, "203.0.113.7", 8, 7, 1),
            "ping: ICMP entry, 30 s",
        ),
        Event::packet(
            300,
            Iface::Wan,
            icmp_echo("203.0.113.7", HOST, 0, 7, 1),
            "echo reply: replied, 30 s",
        ),
        Event::packet(
            400,
            Iface::Lan,
            tcp(HOST, 40100, "203.0.113.80", 443, "S", 1000, 0),
            "a SYN nobody answers: SYN_SENT, 120 s",
        ),
        Event::packet(
            500,
            Iface::Lan,
            tcp(HOST, 40200, "203.0.113.5", 80, "S", 2000, 0),
            "another connection: SYN",
        ),
        Event::packet(
            600,
            Iface::Wan,
            tcp("203.0.113.5", 80, HOST, 40200, "SA", 9000, 2001),
            "SYN-ACK",
        ),
        Event::packet(
            700,
            Iface::Lan,
            tcp(HOST, 40200, "203.0.113.5", 80, "A", 2001, 9001),
            "ACK: ESTABLISHED, 5 days (432000 s)",
        ),
        Event::packet(
            800,
            Iface::Lan,
            tcp(HOST, 40200, "203.0.113.5", 80, "RA", 2001, 9001),
            "the client resets it: CLOSE, 10 s",
        ),
        Event::wait(10_850, "10 s later: the CLOSE entry has expired"),
        Event::wait(
            30_400,
            "30 s after their last packets: the UDP and ICMP entries have expired",
        ),
        Event::wait(
            120_450,
            "120 s after the unanswered SYN: SYN_SENT has expired, the table is empty",
        ),
    ];
    Scenario {
        title: "Timeouts: entries expiring".into(),
        description: "Every entry has a timeout that counts down on the engine's clock and is \
            reset by the packets of its connection: 30 s for UDP and ICMP, 120 s for an \
            unanswered SYN, 10 s for a reset TCP connection, 5 days for an established one. \
            The last three steps only let time pass; use the clock buttons to jump ahead \
            yourself."
            .into(),
        rules: GUIDE_RULES.into(),
        sysctl: Vec::new(),
        events,
    }
}

fn blank() -> Scenario {
    Scenario {
        title: "Blank".into(),
        description: "The router guide's stateful ruleset and an empty timeline: craft \
            packets below, or import a capture."
            .into(),
        rules: GUIDE_RULES.into(),
        sysctl: Vec::new(),
        events: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Session, StepOutcome};
    use wasmwall::{CtState, Outcome};

    #[test]
    fn ids_are_unique_and_every_preset_loads() {
        for (i, p) in PRESETS.iter().enumerate() {
            assert!(
                PRESETS[..i].iter().all(|q| q.id != p.id),
                "duplicate {}",
                p.id
            );
            let mut s = Session::new(p.scenario()).unwrap_or_else(|e| panic!("{}: {e}", p.id));
            assert!(!s.scenario().description.is_empty());
            s.seek(usize::MAX);
            for r in s.records() {
                assert!(
                    !matches!(r.outcome, StepOutcome::BadPacket(_)),
                    "{}: step {} is not a valid packet",
                    p.id,
                    r.index
                );
            }
        }
        assert!(preset(DEFAULT_PRESET).is_some());
    }

    #[test]
    fn handshake_preset_uses_the_guide_rules_and_a_lan_client() {
        let scenario = preset("tcp-handshake").unwrap().scenario();
        assert_eq!(scenario.rules, GUIDE_RULES);
        let wasmwall_first = &scenario.events[0];
        let crate::session::EventKind::Packet { from, bytes } = &wasmwall_first.kind else {
            panic!("the first event is a packet")
        };
        assert_eq!(*from, Iface::Lan);
        assert_eq!(&bytes[12..15], &[192, 168, 1]);
        assert_eq!(scenario.events.len(), 11, "handshake, data, teardown");
    }

    #[test]
    fn syn_flood_shows_early_drop_table_full_and_a_surviving_connection() {
        let mut s = Session::new(syn_flood()).unwrap();
        s.seek(usize::MAX);
        let stats = s.firewall().conntrack().stats();
        assert!(stats.early_drop > 0, "{stats:?}");
        assert!(stats.drop > 0, "{stats:?}");
        let full = s
            .records()
            .iter()
            .filter_map(|r| r.decision())
            .filter(|d| d.reason.as_deref() == Some(wasmwall::conntrack::TABLE_FULL))
            .count();
        assert_eq!(full as u64, stats.drop);
        let last = s.last_packet().unwrap().decision().unwrap();
        assert_eq!(
            (last.outcome, last.ctstate),
            (Outcome::Forwarded, CtState::Established)
        );
        assert!(s.firewall().conntrack().len() <= 16);
    }

    #[test]
    fn timeouts_preset_ends_with_an_empty_table() {
        let mut s = Session::new(timeouts()).unwrap();
        s.seek(9);
        assert_eq!(s.firewall().conntrack().len(), 4);
        s.seek(10);
        assert_eq!(s.firewall().conntrack().len(), 3, "CLOSE expired");
        s.seek(11);
        assert_eq!(s.firewall().conntrack().len(), 1, "UDP and ICMP expired");
        s.seek(12);
        assert_eq!(s.firewall().conntrack().len(), 0);
    }
}
