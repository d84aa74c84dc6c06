//! The per-packet trace of the router pipeline (`Decision::trace`): raw table,
//! conntrack before/after, routing, filter chain, LOG lines, and the OUTPUT walk of
//! answers the router sends.

use super::{ip, Pkt};
use crate::conntrack::Settings;
use crate::firewall::{Firewall, Iface, Outcome};
use crate::rules::{CtChange, TraceLine};
use crate::wire::{PacketSpec, TcpSpec, Transport, UdpSpec};

fn fw(rules: &str) -> Firewall {
    Firewall::with_rules(Settings::default(), rules).unwrap_or_else(|e| panic!("{e}"))
}

fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: &str, seq: u32, ack: u32) -> Vec<u8> {
    Pkt::build(PacketSpec {
        ip: ip(src, dst),
        transport: Transport::Tcp(TcpSpec {
            sport,
            dport,
            flags: flags.into(),
            seq,
            ack,
            win: 64240,
            urg: 0,
            options: Default::default(),
            payload: Vec::new(),
            bad_csum: false,
        }),
    })
    .bytes
}

fn udp(src: &str, dst: &str, dport: u16) -> Vec<u8> {
    Pkt::build(PacketSpec {
        ip: ip(src, dst),
        transport: Transport::Udp(UdpSpec {
            sport: 5000,
            dport,
            payload: b"x".to_vec(),
            bad_csum: false,
            no_csum: false,
        }),
    })
    .bytes
}

const SERVER: &str = "203.0.113.5";

const ROUTER: &str = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
    -A PREROUTING -s 192.168.1.10/32 -j MARK --set-xmark 0x5/0xffffffff\nCOMMIT\n\
    *filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
    -A INPUT -p udp -j REJECT --reject-with icmp-port-unreachable\n\
    -A FORWARD -m state --state INVALID -j DROP\n\
    -A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT\n\
    -A FORWARD -m mark --mark 0x5 -j LOG --log-prefix \"marked \"\n\
    -A FORWARD -s 192.168.1.0/24 -j ACCEPT\nCOMMIT\n";

#[test]
fn a_new_connection_through_every_stage() {
    let mut f = fw(ROUTER);
    let d = f
        .process(
            0,
            Iface::Lan,
            &tcp("192.168.1.10", 40000, "203.0.113.5", 80, "S", 1000, 0),
        )
        .unwrap();
    assert_eq!(d.outcome, Outcome::Forwarded);
    let lines = d.explain();
    assert_eq!(lines[0], "raw:PREROUTING:rule:1:MARK");
    assert_eq!(lines[1], "raw:PREROUTING:policy:ACCEPT");
    assert_eq!(
        lines[2],
        "conntrack: NEW original, entry #1 created: SYN_SENT [UNREPLIED] timeout 120s"
    );
    assert_eq!(lines[3], "route: forward lan -> wan");
    assert_eq!(lines[4], "filter:FORWARD:rule:3:LOG");
    assert!(
        lines[5].starts_with(
            "log <4>: marked IN=lan OUT=wan MAC= SRC=192.168.1.10 DST=203.0.113.5 LEN=40 "
        ) && lines[5].ends_with("SYN URGP=0 MARK=0x5"),
        "{}",
        lines[5]
    );
    assert_eq!(lines[6], "filter:FORWARD:rule:4:ACCEPT");
    assert_eq!(lines.len(), 7);

    // The answer updates the entry; the trace shows it before and after.
    let d = f
        .process(
            10,
            Iface::Wan,
            &tcp("203.0.113.5", 80, "192.168.1.10", 40000, "SA", 5000, 1001),
        )
        .unwrap();
    let TraceLine::Conntrack(ct) = &d.trace()[1] else {
        panic!("{:?}", d.trace());
    };
    assert_eq!(ct.change, CtChange::Updated);
    assert_eq!(
        ct.to_string(),
        "conntrack: ESTABLISHED reply, entry #1 updated: SYN_SENT [UNREPLIED] timeout 119s -> SYN_RECV timeout 60s"
    );
    assert_eq!(d.explain()[3], "filter:FORWARD:rule:2:ACCEPT");

    // A segment with a flag combination TCP never sends is INVALID, with the
    // tracker's reason.
    let d = f
        .process(
            20,
            Iface::Lan,
            &tcp("192.168.1.10", 40000, "203.0.113.5", 80, "SF", 1001, 0),
        )
        .unwrap();
    assert_eq!(d.outcome, Outcome::Dropped);
    assert_eq!(
        d.explain()[2],
        "conntrack: INVALID (invalid tcp flag combination)"
    );
    assert_eq!(d.explain()[4], "filter:FORWARD:rule:1:DROP");
}

#[test]
fn a_dropped_first_packet_leaves_its_entry_unconfirmed() {
    let mut f = fw(ROUTER);
    let d = f
        .process(
            0,
            Iface::Wan,
            &tcp("203.0.113.5", 1, "192.168.1.10", 22, "S", 1, 0),
        )
        .unwrap();
    assert_eq!(d.outcome, Outcome::Dropped);
    assert_eq!(
        d.explain(),
        [
            "raw:PREROUTING:policy:ACCEPT",
            "conntrack: NEW original, entry #1 created: SYN_SENT [UNREPLIED] timeout 120s; discarded unconfirmed with the packet",
            "route: forward wan -> lan",
            "filter:FORWARD:policy:DROP",
        ]
    );
    assert!(f.conntrack().is_empty());
}

#[test]
fn a_rst_ends_an_unreplied_connection() {
    let mut f = fw("-A FORWARD -m state --state NEW,ESTABLISHED -j ACCEPT");
    f.process(
        0,
        Iface::Lan,
        &tcp("192.168.1.10", 1, "203.0.113.5", 2, "S", 100, 0),
    )
    .unwrap();
    let d = f
        .process(
            5,
            Iface::Wan,
            &tcp("203.0.113.5", 2, "192.168.1.10", 1, "RA", 0, 101),
        )
        .unwrap();
    assert_eq!(
        d.explain()[0],
        "conntrack: ESTABLISHED reply, entry #1 destroyed"
    );
    assert!(f.conntrack().is_empty());
}

#[test]
fn input_rejects_answer_from_the_address_that_was_asked() {
    let mut f = fw(ROUTER);
    // A LAN host asks the router's WAN address: the error comes from that address,
    // not from the LAN side's.
    let d = f
        .process(0, Iface::Lan, &udp("192.168.1.20", "198.51.100.1", 53))
        .unwrap();
    assert_eq!(d.outcome, Outcome::Rejected);
    assert_eq!(&d.emitted[0].bytes[12..16], &[198, 51, 100, 1]);
    assert_eq!(
        d.explain()[2..],
        [
            "route: input: 198.51.100.1 is the router's own address (arrived on lan)",
            "filter:INPUT:rule:1:REJECT",
            "sent: icmp_error 198.51.100.1 > 192.168.1.20 out of lan",
            "raw:OUTPUT:policy:ACCEPT",
            "filter:OUTPUT:policy:ACCEPT",
        ]
    );
    // OUTPUT rules apply to the answer.
    let mut f = fw(&ROUTER.replace(
        ":OUTPUT ACCEPT [0:0]\n-A INPUT",
        ":OUTPUT DROP [0:0]\n-A INPUT",
    ));
    let d = f
        .process(0, Iface::Lan, &udp("192.168.1.20", "192.168.1.1", 53))
        .unwrap();
    assert_eq!(d.outcome, Outcome::Dropped);
    assert_eq!(
        d.explain().last().unwrap(),
        "stack: icmp_error dropped in filter OUTPUT"
    );
    let c = f.rules().counters();
    assert_eq!(
        c.table("filter").unwrap().policy("OUTPUT").unwrap().packets,
        1
    );
}

#[test]
fn without_conntrack_rules_the_trace_says_so() {
    let mut f = fw("-A FORWARD -p udp -j ACCEPT");
    let d = f
        .process(0, Iface::Lan, &udp("192.168.1.20", "203.0.113.9", 53))
        .unwrap();
    assert_eq!(
        d.explain(),
        [
            "conntrack: INVALID, not loaded (no rule uses it)",
            "route: forward lan -> wan",
            "filter:FORWARD:rule:1:ACCEPT",
        ]
    );
}

#[test]
fn a_syn_after_close_replaces_the_entry() {
    let mut f = fw("-A FORWARD -m state --state NEW,ESTABLISHED -j ACCEPT");
    let c = "192.168.1.10";
    f.process(0, Iface::Lan, &tcp(c, 1, SERVER, 2, "S", 100, 0))
        .unwrap();
    f.process(10, Iface::Wan, &tcp(SERVER, 2, c, 1, "SA", 500, 101))
        .unwrap();
    f.process(20, Iface::Lan, &tcp(c, 1, SERVER, 2, "A", 101, 501))
        .unwrap();
    let d = f
        .process(30, Iface::Lan, &tcp(c, 1, SERVER, 2, "R", 101, 0))
        .unwrap();
    assert_eq!(
        d.explain()[0],
        "conntrack: ESTABLISHED original, entry #1 updated: ESTABLISHED [ASSURED] timeout 431999s -> CLOSE [ASSURED] timeout 10s"
    );
    let d = f
        .process(40, Iface::Lan, &tcp(c, 1, SERVER, 2, "S", 9000, 0))
        .unwrap();
    assert_eq!(
        d.explain()[0],
        "conntrack: NEW original, entry #1 destroyed and replaced by entry #2: SYN_SENT [UNREPLIED] timeout 120s"
    );
    // A rule added on the live router applies to the next packet; the table stays.
    f.apply_command("-I FORWARD -p tcp --dport 2 -j DROP")
        .unwrap();
    let d = f
        .process(50, Iface::Wan, &tcp(SERVER, 2, c, 1, "SA", 7000, 9001))
        .unwrap();
    assert_eq!(d.outcome, Outcome::Forwarded);
    let d = f
        .process(60, Iface::Lan, &tcp(c, 1, SERVER, 2, "A", 9001, 7001))
        .unwrap();
    assert_eq!(d.outcome, Outcome::Dropped);
    assert_eq!(d.explain().last().unwrap(), "filter:FORWARD:rule:1:DROP");
    assert_eq!(f.conntrack().len(), 1);
}
