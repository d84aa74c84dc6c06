//! Properties of the connection table that must hold for any packet sequence.

use proptest::prelude::*;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use wasmwall::conntrack::{Conntrack, Settings, Template, Tuple};
use wasmwall::wire::{self, IcmpSpec, IpSpec, PacketSpec, TcpSpec, Transport, UdpSpec};

/// A packet between a few hosts, so that flows collide, reply and close.
#[derive(Debug, Clone)]
struct Step {
    advance_ms: u64,
    kind: u8,
    a: u8,
    b: u8,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    reverse: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![Just(0u64), 1..2_000u64, 100_000..200_000u64],
        0u8..4,
        0u8..4,
        0u8..4,
        0u16..3,
        0u16..3,
        any::<u8>(),
        0u32..4,
        0u32..4,
        any::<bool>(),
    )
        .prop_map(
            |(advance_ms, kind, a, b, sport, dport, flags, seq, ack, reverse)| Step {
                advance_ms,
                kind,
                a,
                b,
                sport,
                dport,
                flags,
                seq,
                ack,
                reverse,
            },
        )
}

fn build(s: &Step) -> Vec<u8> {
    let lan = Ipv4Addr::new(192, 168, 1, 10 + s.a);
    let wan = Ipv4Addr::new(203, 0, 113, 5 + s.b);
    let (src, dst) = if s.reverse { (wan, lan) } else { (lan, wan) };
    let (sp, dp) = (40000 + s.sport, 80 + s.dport);
    let (sp, dp) = if s.reverse { (dp, sp) } else { (sp, dp) };
    let transport = match s.kind {
        0 | 1 => Transport::Tcp(TcpSpec {
            sport: sp,
            dport: dp,
            flags: wire::tcp_flags::to_letters(s.flags).replace('-', ""),
            seq: 1000 + s.seq * 1000,
            ack: 1000 + s.ack * 1000,
            win: 65535,
            urg: 0,
            options: Default::default(),
            payload: vec![],
            bad_csum: false,
        }),
        2 => Transport::Udp(UdpSpec {
            sport: sp,
            dport: dp,
            payload: vec![1, 2],
            bad_csum: false,
            no_csum: false,
        }),
        _ => Transport::Icmp(IcmpSpec {
            icmp_type: if s.reverse { 0 } else { 8 },
            ..IcmpSpec::echo(s.sport, 1)
        }),
    };
    PacketSpec {
        ip: IpSpec::new(src, dst),
        transport,
    }
    .build()
    .unwrap()
}

fn small_table() -> Conntrack {
    Conntrack::new(Settings {
        max: 8,
        buckets: 4,
        ..Settings::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn table_invariants_hold(steps in prop::collection::vec(step(), 1..120)) {
        let mut ct = small_table();
        let mut now = 0;
        for s in &steps {
            now += s.advance_ms;
            let bytes = build(s);
            let pkt = wire::parse(&bytes).unwrap();
            let assured_before: HashMap<u32, (Tuple, u64)> = ct
                .entries()
                .filter(|e| e.is_assured())
                .map(|e| (e.id, (*e.original(), e.expires_ms)))
                .collect();
            let tracked = ct.track(now, &bytes, &pkt, &Template::default());
            let _ = ct.confirm(now, &tracked, &bytes, &pkt);

            prop_assert!(ct.len() <= ct.settings().max as usize, "table exceeds its maximum");
            for e in ct.entries() {
                prop_assert!(e.original().invert().is_some(), "entry without a reply tuple");
                prop_assert_eq!(ct.find(&e.reply()).map(|(f, _)| f.id), Some(e.id), "reply tuple finds another entry");
                prop_assert!(e.timeout_secs(now) <= 432_000);
            }
            // An ASSURED entry only disappears by expiring or by a packet of its own flow.
            let (pt, _) = ct.find(&tuple_of(&bytes)).map_or((None, None), |(e, d)| (Some(e.id), Some(d)));
            let _ = pt;
            for (id, (orig, expires)) in assured_before {
                let still_there = ct.entries().any(|e| e.id == id);
                let own_flow = {
                    let t = tuple_of(&bytes);
                    t == orig || Some(t) == orig.invert()
                };
                prop_assert!(still_there || expires <= now || own_flow, "ASSURED entry {} was evicted", id);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let mut ct = small_table();
        if let Ok(pkt) = wire::parse(&bytes) {
            let t = ct.track(0, &bytes, &pkt, &Template::default());
            let _ = ct.confirm(0, &t, &bytes, &pkt);
            let _ = ct.render_proc(1);
        }
    }

    #[test]
    fn mutated_packets_never_panic(s in step(), at in 0usize..60, value in any::<u8>()) {
        let mut bytes = build(&s);
        if at < bytes.len() {
            bytes[at] = value;
        }
        let mut ct = small_table();
        if let Ok(pkt) = wire::parse(&bytes) {
            let t = ct.track(0, &bytes, &pkt, &Template::default());
            let _ = ct.confirm(0, &t, &bytes, &pkt);
        }
    }
}

fn tuple_of(bytes: &[u8]) -> Tuple {
    let p = wire::parse(bytes).unwrap();
    match p.l4 {
        wire::L4::Tcp(t) => Tuple::ports(6, p.ip.src, t.sport, p.ip.dst, t.dport),
        wire::L4::Udp(u) => Tuple::ports(17, p.ip.src, u.sport, p.ip.dst, u.dport),
        wire::L4::Icmp(i) => Tuple::icmp(p.ip.src, p.ip.dst, i.id(), i.icmp_type, i.code),
        _ => Tuple::addresses(p.ip.protocol, p.ip.src, p.ip.dst),
    }
}

/// With a full table of ASSURED entries, a new flow is dropped and counted.
#[test]
fn full_table_of_assured_entries_drops_new_packets() {
    let mut ct = Conntrack::new(Settings {
        max: 2,
        buckets: 2,
        ..Settings::default()
    });
    let mut now = 0;
    for port in [1u16, 2] {
        for (reverse, when) in [(false, 0), (true, 100), (false, 2_500)] {
            now += when;
            let s = Step {
                advance_ms: 0,
                kind: 2,
                a: 0,
                b: 0,
                sport: port,
                dport: 0,
                flags: 0,
                seq: 0,
                ack: 0,
                reverse,
            };
            let bytes = build(&s);
            let pkt = wire::parse(&bytes).unwrap();
            let t = ct.track(now, &bytes, &pkt, &Template::default());
            ct.confirm(now, &t, &bytes, &pkt).unwrap();
        }
    }
    assert!(ct.entries().all(|e| e.is_assured()));
    let s = Step {
        advance_ms: 0,
        kind: 2,
        a: 1,
        b: 1,
        sport: 0,
        dport: 0,
        flags: 0,
        seq: 0,
        ack: 0,
        reverse: false,
    };
    let bytes = build(&s);
    let pkt = wire::parse(&bytes).unwrap();
    let t = ct.track(now, &bytes, &pkt, &Template::default());
    assert!(t.dropped);
    assert_eq!(
        t.reason.map(|r| r.to_string()).as_deref(),
        Some(wasmwall::conntrack::TABLE_FULL)
    );
    assert_eq!(ct.stats().drop, 1);
    assert_eq!(ct.len(), 2);
}

/// A full table of unreplied entries makes room by evicting one of them.
#[test]
fn full_table_evicts_unassured_entries() {
    let mut ct = Conntrack::new(Settings {
        max: 4,
        buckets: 1,
        ..Settings::default()
    });
    for port in 0..10u16 {
        let s = Step {
            advance_ms: 0,
            kind: 2,
            a: 0,
            b: 0,
            sport: port,
            dport: 0,
            flags: 0,
            seq: 0,
            ack: 0,
            reverse: false,
        };
        let bytes = build(&s);
        let pkt = wire::parse(&bytes).unwrap();
        let t = ct.track(0, &bytes, &pkt, &Template::default());
        assert!(!t.dropped, "unassured entries can always be evicted");
        ct.confirm(0, &t, &bytes, &pkt).unwrap();
        assert!(ct.len() <= 4);
    }
    assert!(ct.stats().early_drop > 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Exporting and importing a table changes nothing: both copies go on identically.
    #[test]
    fn snapshot_round_trip_is_exact(first in prop::collection::vec(step(), 1..40), then in prop::collection::vec(step(), 1..40)) {
        let mut a = small_table();
        let mut now = 0;
        for s in &first {
            now += s.advance_ms;
            let bytes = build(s);
            let pkt = wire::parse(&bytes).unwrap();
            let t = a.track(now, &bytes, &pkt, &Template::default());
            let _ = a.confirm(now, &t, &bytes, &pkt);
        }
        let snap = a.export();
        let mut b = Conntrack::import(snap.clone()).expect("own snapshot is valid");
        prop_assert_eq!(b.export(), snap);
        for s in &then {
            now += s.advance_ms;
            let bytes = build(s);
            let pkt = wire::parse(&bytes).unwrap();
            let ta = a.track(now, &bytes, &pkt, &Template::default());
            let tb = b.track(now, &bytes, &pkt, &Template::default());
            prop_assert_eq!(&ta.state, &tb.state);
            let _ = a.confirm(now, &ta, &bytes, &pkt);
            let _ = b.confirm(now, &tb, &bytes, &pkt);
            prop_assert_eq!(a.render_proc(now), b.render_proc(now));
        }
    }
}

#[test]
fn corrupt_snapshots_are_refused() {
    let mut ct = small_table();
    let s = Step {
        advance_ms: 0,
        kind: 0,
        a: 0,
        b: 0,
        sport: 0,
        dport: 0,
        flags: 0x02,
        seq: 0,
        ack: 0,
        reverse: false,
    };
    let bytes = build(&s);
    let pkt = wire::parse(&bytes).unwrap();
    let t = ct.track(0, &bytes, &pkt, &Template::default());
    ct.confirm(0, &t, &bytes, &pkt).unwrap();
    let good = ct.export();

    let mut bad = good.clone();
    // An ICMP error's tuple has no inverse.
    bad.entries[0].original = wasmwall::conntrack::Tuple::icmp(
        std::net::Ipv4Addr::new(1, 2, 3, 4),
        std::net::Ipv4Addr::new(5, 6, 7, 8),
        3,
        3,
        0,
    );
    assert!(matches!(
        Conntrack::import(bad),
        Err(wasmwall::conntrack::SnapshotError::NoReplyTuple { .. })
    ));
    let mut dup = good.clone();
    dup.entries.push(dup.entries[0].clone());
    assert!(Conntrack::import(dup).is_err());
    let mut full = good.clone();
    full.settings.max = 0;
    assert!(Conntrack::import(full).is_ok(), "max 0 means unlimited");
    let mut scale = good.clone();
    if let wasmwall::conntrack::ProtoState::Tcp(t) = &mut scale.entries[0].proto {
        t.seen[0].scale = 40;
    }
    assert!(
        Conntrack::import(scale).is_err(),
        "a window scale above 14 is refused"
    );
    let mut mismatch = good;
    mismatch.entries[0].proto = wasmwall::conntrack::ProtoState::Icmp;
    assert!(Conntrack::import(mismatch).is_err());
}
