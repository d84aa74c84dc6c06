//! Bad input through the WIT interface: garbage packets, bad rules, bad settings and
//! corrupt state come back as typed errors equal to the native engine's, the firewall
//! keeps its rules and table, and no call traps. Also: state export/import round trips,
//! the trace and event switches, and the clock's bounds.

mod common;

use common::*;
use wasmwall::conntrack::{Conntrack, Settings};
use wasmwall::firewall as nat;
use wasmwall::rules::Ruleset;
use wasmwall_host::*;

const RULES: &str = "\
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p tcp --dport 21 -j CT --helper ftp
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:LOGDROP - [0:0]
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -p tcp --dport 23 -j REJECT --reject-with tcp-reset
-A FORWARD -p udp --dport 53 -j REJECT
-A FORWARD -s 192.168.1.0/24 -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -j LOGDROP
-A LOGDROP -j DROP
COMMIT
";

/// A component firewall and a native one with the same rules, settings and trace.
fn pair(rules: &str) -> (Firewall, nat::Firewall) {
    let settings = Settings::default();
    let mut comp = runtime().firewall(&config_for(&settings)).unwrap();
    comp.load_rules(rules).unwrap().unwrap();
    let native = nat::Firewall::with_rules(settings, rules).unwrap();
    (comp, native)
}

/// Sends the first `n` fixture packets through both, checking the decisions.
fn warm_up(comp: &mut Firewall, native: &mut nat::Firewall, n: usize) -> u64 {
    let mut now = 1_000;
    for (from, bytes) in fixture_packets().into_iter().take(n) {
        now += 7;
        let want = result(&native.process(now, from, &bytes), true);
        assert_eq!(comp.process(now, iface(from), &bytes).unwrap(), want);
    }
    now
}

fn assert_same_table(comp: &mut Firewall, native: &mut nat::Firewall, now: u64) {
    comp.advance(now).unwrap();
    native.advance(now);
    assert_eq!(
        comp.render_table().unwrap(),
        native.conntrack_mut().render_proc(now)
    );
    assert_eq!(
        decode_state(&comp.export_state().unwrap()),
        native.conntrack().export()
    );
}

/// A TCP SYN from the LAN, as the proxy would build it.
fn syn(sport: u16, dport: u16) -> Vec<u8> {
    use wasmwall::wire::{IpSpec, PacketSpec, TcpSpec, Transport};
    PacketSpec {
        ip: IpSpec::new([192, 168, 1, 20].into(), [203, 0, 113, 9].into()),
        transport: Transport::Tcp(TcpSpec {
            sport,
            dport,
            flags: "S".into(),
            seq: 1000,
            ack: 0,
            win: 64240,
            urg: 0,
            options: Default::default(),
            payload: Vec::new(),
            bad_csum: false,
        }),
    }
    .build()
    .unwrap()
}

#[test]
fn garbage_packets_are_typed_errors_and_change_nothing() {
    let (mut comp, mut native) = pair(RULES);
    let now = warm_up(&mut comp, &mut native, 40);
    let before = comp.export_state().unwrap();
    let mut bad_checksum = syn(40000, 80);
    bad_checksum[10] ^= 0xff;
    let mut long_total = syn(40000, 80);
    long_total[3] = 200;
    let mut ihl4 = syn(40000, 80);
    ihl4[0] = 0x44;
    let cases: Vec<(Vec<u8>, WireError)> = vec![
        (vec![], WireError::TooShort(0)),
        (vec![0x45], WireError::TooShort(1)),
        (vec![0x45; 19], WireError::TooShort(19)),
        (vec![0x60; 40], WireError::NotIpv4(6)),
        (ihl4, WireError::BadHeaderLength(4)),
        (
            long_total,
            WireError::BadTotalLength(TotalLength {
                total_len: 200,
                available: 40,
            }),
        ),
        (bad_checksum, WireError::BadHeaderChecksum),
    ];
    for (bytes, wanted) in cases {
        for from in [nat::Iface::Lan, nat::Iface::Wan] {
            let got = comp.process(now, iface(from), &bytes).unwrap();
            assert_eq!(got, Err(ProcessError::BadPacket(wanted)));
            assert_eq!(got, result(&native.process(now, from, &bytes), true));
        }
        assert_eq!(comp.export_state().unwrap(), before, "the table changed");
    }
    // The instance keeps working.
    let ok = comp.process(now, Iface::Lan, &syn(40001, 80)).unwrap();
    assert_eq!(
        ok,
        result(&native.process(now, nat::Iface::Lan, &syn(40001, 80)), true)
    );
    assert_eq!(ok.map(|d| d.outcome), Ok(Outcome::Forwarded));
}

#[test]
fn random_and_mutated_packets_agree_with_the_native_engine() {
    let (mut comp, mut native) = pair(RULES);
    let packets = fixture_packets();
    let mut rng = Rng::new(0x5eed);
    let mut now = 0;
    let mut batch = Vec::new();
    let mut want = Vec::new();
    for n in 0..4000 {
        now += rng.below(40) as u64;
        let mut bytes = if rng.below(5) == 0 {
            (0..rng.below(80)).map(|_| rng.next() as u8).collect()
        } else {
            packets[rng.below(packets.len())].1.clone()
        };
        if !bytes.is_empty() {
            for _ in 0..rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            if rng.below(6) == 0 {
                bytes.truncate(rng.below(bytes.len() + 1));
            }
        }
        let from = if rng.below(2) == 0 {
            nat::Iface::Lan
        } else {
            nat::Iface::Wan
        };
        let expected = result(&native.process(now, from, &bytes), true);
        if n % 2 == 0 {
            let got = comp.process(now, iface(from), &bytes).unwrap();
            assert_eq!(got, expected, "packet {n}: {bytes:02x?}");
        } else {
            batch.push(Packet {
                now_ms: now,
                ingress: iface(from),
                bytes,
            });
            want.push(expected);
            // Batches interleave with single calls; flush one before the next single.
            let got = comp.process_batch(&batch).unwrap();
            assert_eq!(got, want, "batch ending at packet {n}");
            batch.clear();
            want.clear();
        }
    }
    assert_same_table(&mut comp, &mut native, now + 1);
}

#[test]
fn bad_rules_are_refused_where_they_are_wrong_and_the_old_rules_stay() {
    let (mut comp, mut native) = pair(RULES);
    let saved = comp.save_rules(false).unwrap();
    let bad = [
        "-A FORWARD -p tcp --dport 99999 -j ACCEPT",
        "-A FORWARD -m nosuchmatch -j ACCEPT",
        "-A FORWARD -j NOSUCHCHAIN",
        "-P FORWARD MAYBE",
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 300.1.1.1 -j ACCEPT\nCOMMIT\n",
        "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
        "\u{0}\u{1}\u{2}garbage\u{7f}",
        "-A FORWARD -m conntrack --ctstate NEW,SOMETIMES -j ACCEPT",
    ];
    for text in bad {
        let want = Ruleset::parse(text).expect_err(text);
        let got = comp.load_rules(text).unwrap();
        assert_eq!(got, Err(rules_error(&want)), "{text:?}");
        assert!(want.line >= 1 && want.column >= 1);
        assert_eq!(comp.save_rules(false).unwrap(), saved, "rules changed");
    }
    // The old rules still decide: telnet is rejected with a reset.
    let d = comp
        .process(5, Iface::Lan, &syn(40000, 23))
        .unwrap()
        .unwrap();
    assert_eq!(
        Ok(d.clone()),
        result(&native.process(5, nat::Iface::Lan, &syn(40000, 23)), true)
    );
    assert_eq!(d.outcome, Outcome::Rejected);
    let filter = d.filter.unwrap();
    assert_eq!(filter.verdict, Verdict::Reject(RejectWith::TcpReset));
    assert_eq!((filter.chain.as_str(), filter.rule), ("FORWARD", Some(3)));
    assert_eq!(d.emitted.len(), 1);
    assert_eq!(d.emitted[0].kind, EmittedKind::TcpRst);
    assert_eq!(d.emitted[0].iface, Iface::Lan);
}

#[test]
fn loaded_rules_are_summarised() {
    let mut comp = runtime().firewall(&config(0)).unwrap();
    let info = comp.load_rules(RULES).unwrap().unwrap();
    assert!(info.tracking);
    let chains: Vec<(String, String, Option<Policy>, u32)> = info
        .chains
        .into_iter()
        .map(|c| (c.table, c.name, c.policy, c.rules))
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        chains,
        vec![
            (s("raw"), s("PREROUTING"), Some(Policy::Accept), 1),
            (s("raw"), s("OUTPUT"), Some(Policy::Accept), 0),
            (s("filter"), s("INPUT"), Some(Policy::Accept), 0),
            (s("filter"), s("FORWARD"), Some(Policy::Drop), 6),
            (s("filter"), s("OUTPUT"), Some(Policy::Accept), 0),
            (s("filter"), s("LOGDROP"), None, 1),
        ]
    );
    let plain = comp.load_rules("-A FORWARD -j ACCEPT").unwrap().unwrap();
    assert!(!plain.tracking);
    // Without conntrack in use, packets make no entries.
    comp.process(1, Iface::Lan, &syn(40000, 80))
        .unwrap()
        .unwrap();
    assert_eq!(comp.render_table().unwrap(), "");
}

#[test]
fn bad_settings_are_refused_and_change_nothing() {
    let rt = runtime();
    let with = |name: &str, value: &str| Config {
        settings: vec![Setting {
            name: name.into(),
            value: value.into(),
        }],
        ..config(0)
    };
    let refused = |c: Config| rt.instantiate(&c).unwrap().err();
    assert_eq!(
        refused(with("tcp_nonsense", "1")),
        Some(ConfigError::UnknownSetting("tcp_nonsense".into()))
    );
    let bad_value = |n: &str, v: &str| {
        Some(ConfigError::BadValue(Setting {
            name: n.into(),
            value: v.into(),
        }))
    };
    assert_eq!(
        refused(with("tcp_loose", "yes")),
        bad_value("tcp_loose", "yes")
    );
    assert_eq!(
        refused(with("udp_timeout", "4294967296")),
        bad_value("udp_timeout", "4294967296")
    );
    assert_eq!(
        refused(with("nf_conntrack_buckets", "4194304")),
        bad_value("nf_conntrack_buckets", "4194304")
    );
    assert_eq!(
        refused(with("net.netfilter.nf_conntrack_udp_timeout", "5")),
        None
    );

    let mut fw = rt.firewall(&config(64)).unwrap();
    let before = fw.settings().unwrap();
    let native = Settings {
        max: 64,
        ..Settings::default()
    };
    assert_eq!(before.len(), 33);
    for s in &before {
        assert_eq!(Some(s.value.parse::<u64>().unwrap()), native.get(&s.name));
    }
    assert_eq!(
        fw.set_setting("nf_conntrack_tcp_loose", "maybe").unwrap(),
        Err(ConfigError::BadValue(Setting {
            name: "nf_conntrack_tcp_loose".into(),
            value: "maybe".into()
        }))
    );
    assert_eq!(
        fw.set_setting("buckets", "99999999").unwrap(),
        Err(ConfigError::BadValue(Setting {
            name: "buckets".into(),
            value: "99999999".into()
        }))
    );
    assert!(fw.set_setting("no_such", "1").unwrap().is_err());
    assert_eq!(fw.settings().unwrap(), before);
    fw.set_setting("net.netfilter.nf_conntrack_tcp_loose", "0")
        .unwrap()
        .unwrap();
    let after = fw.settings().unwrap();
    let loose = after.iter().find(|s| s.name == "tcp_loose").unwrap();
    assert_eq!(loose.value, "0");
}

#[test]
fn corrupt_state_is_refused_and_the_table_stays() {
    let (mut comp, mut native) = pair(RULES);
    let now = warm_up(&mut comp, &mut native, 120);
    let good = comp.export_state().unwrap();
    let snapshot = decode_state(&good);
    assert!(
        snapshot.entries.len() >= 2,
        "the warm-up made too few entries"
    );

    let malformed = |r: Result<(), StateError>| matches!(r, Err(StateError::Malformed(_)));
    assert!(malformed(comp.import_state(&[]).unwrap()));
    assert!(malformed(comp.import_state(b"WWCT").unwrap()));
    assert!(malformed(comp.import_state(b"{\"entries\": []}").unwrap()));
    // State of the first layout (version 1, entries with both tuples) is refused.
    let mut v1 = good.clone();
    v1[4] = 1;
    assert_eq!(
        comp.import_state(&v1).unwrap(),
        Err(StateError::UnsupportedVersion(1))
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(malformed(comp.import_state(&trailing).unwrap()));
    for len in (0..good.len()).step_by((good.len() / 300).max(1)) {
        assert!(
            malformed(comp.import_state(&good[..len]).unwrap()),
            "a {len}-byte prefix was accepted"
        );
    }

    // Well-formed state that breaks the table's invariants.
    let mut dup = snapshot.clone();
    let mut twin = dup.entries[0].clone();
    twin.id = dup.next_id;
    dup.next_id += 1;
    dup.entries.push(twin.clone());
    let mut bad_reply = snapshot.clone();
    // An ICMP error's tuple has no inverse.
    bad_reply.entries[0].original = wasmwall::conntrack::Tuple::icmp(
        std::net::Ipv4Addr::new(1, 2, 3, 4),
        std::net::Ipv4Addr::new(5, 6, 7, 8),
        3,
        3,
        0,
    );
    let mut bad_id = snapshot.clone();
    bad_id.next_id = bad_id.entries[0].id;
    let mut mismatch = snapshot.clone();
    // A tracker state of another protocol than the entry's.
    mismatch.entries[0].proto = if mismatch.entries[0].original.protocol == 1 {
        wasmwall::conntrack::ProtoState::Generic
    } else {
        wasmwall::conntrack::ProtoState::Icmp
    };
    let mut too_many = snapshot.clone();
    too_many.settings.max = 1;
    let mut buckets = snapshot.clone();
    buckets.settings.buckets = 1 << 30;
    let first = snapshot.entries[0].id;
    let cases = [
        (dup, StateError::DuplicateTuple(twin.id)),
        (bad_reply, StateError::NoReplyTuple(first)),
        (bad_id, StateError::BadId(first)),
        (mismatch, StateError::ProtocolMismatch(first)),
        (
            too_many,
            StateError::TooManyEntries(EntryCount {
                entries: snapshot.entries.len() as u32,
                max: 1,
            }),
        ),
        (
            buckets,
            StateError::BadSetting(Setting {
                name: "buckets".into(),
                value: (1u32 << 30).to_string(),
            }),
        ),
    ];
    for (snap, wanted) in cases {
        assert_eq!(
            comp.import_state(&encode_state(&snap)).unwrap(),
            Err(wanted)
        );
    }
    assert_eq!(
        comp.export_state().unwrap(),
        good,
        "a refused import changed the table"
    );
    assert_same_table(&mut comp, &mut native, now);

    // Random corruption: whatever the component accepts, the native engine accepts too,
    // and both then behave the same; nothing traps.
    let packets = fixture_packets();
    let mut rng = Rng::new(77);
    let mut accepted = 0;
    for _ in 0..300 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(3) {
            let at = STATE_HEADER.len() + rng.below(bytes.len() - STATE_HEADER.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        let mut fresh = runtime()
            .firewall(&config_for(&Settings::default()))
            .unwrap();
        fresh.load_rules(RULES).unwrap().unwrap();
        let pristine = fresh.export_state().unwrap();
        let imported = fresh.import_state(&bytes).unwrap();
        let native_snapshot =
            postcard::from_bytes::<wasmwall::conntrack::Snapshot>(&bytes[STATE_HEADER.len()..]);
        match imported {
            Ok(()) => {
                accepted += 1;
                let snap = native_snapshot.expect("the component decoded what postcard cannot");
                let mut other = nat::Firewall::with_rules(snap.settings.clone(), RULES).unwrap();
                *other.conntrack_mut() = Conntrack::import(snap).expect("native import");
                let mut t = now;
                for _ in 0..20 {
                    let (from, p) = &packets[rng.below(packets.len())];
                    t += 3;
                    assert_eq!(
                        fresh.process(t, iface(*from), p).unwrap(),
                        result(&other.process(t, *from, p), true)
                    );
                }
                fresh.advance(t + 500_000).unwrap();
                fresh.render_table().unwrap();
            }
            Err(e) => {
                assert_eq!(
                    fresh.export_state().unwrap(),
                    pristine,
                    "{e:?} changed the table"
                );
            }
        }
    }
    assert!(accepted < 300, "no corruption was detected");
}

#[test]
fn state_moves_between_instances() {
    let (mut a, mut native) = pair(RULES);
    let now = warm_up(&mut a, &mut native, 200);
    assert_same_table(&mut a, &mut native, now);
    let state = a.export_state().unwrap();
    println!(
        "exported state: {} entries in {} bytes",
        a.entries().unwrap().len(),
        state.len()
    );
    let mut b = runtime()
        .firewall(&config_for(&Settings::default()))
        .unwrap();
    b.load_rules(RULES).unwrap().unwrap();
    b.import_state(&state).unwrap().unwrap();
    assert_eq!(b.export_state().unwrap(), state);
    a.advance(now).unwrap();
    b.advance(now).unwrap();
    assert_eq!(b.entries().unwrap(), a.entries().unwrap());
    assert_eq!(b.render_table().unwrap(), a.render_table().unwrap());
    assert_eq!(b.settings().unwrap(), a.settings().unwrap());
    assert_eq!(b.stats().unwrap(), a.stats().unwrap());
    // The new instance goes on like a native firewall given the same state (router
    // state outside the table, such as the IP ids of generated packets, starts afresh).
    let mut moved = nat::Firewall::with_rules(Settings::default(), RULES).unwrap();
    *moved.conntrack_mut() = Conntrack::import(decode_state(&state)).unwrap();
    let mut t = now;
    for (from, p) in fixture_packets().iter().skip(200).take(100) {
        t += 5;
        assert_eq!(
            b.process(t, iface(*from), p).unwrap(),
            result(&moved.process(t, *from, p), true)
        );
    }
    assert_same_table(&mut b, &mut moved, t);
    // A table with entries imported into an instance that has its own replaces it.
    let mut c = runtime().firewall(&config(0)).unwrap();
    c.load_rules(RULES).unwrap().unwrap();
    c.process(1, Iface::Lan, &syn(50000, 80)).unwrap().unwrap();
    c.import_state(&state).unwrap().unwrap();
    assert_eq!(c.export_state().unwrap(), state);
}

#[test]
fn trace_and_events_only_when_asked() {
    for on in [false, true] {
        let mut fw = runtime()
            .firewall(&Config {
                trace: on,
                events: on,
                ..config(0)
            })
            .unwrap();
        fw.load_rules(RULES).unwrap().unwrap();
        let d = fw
            .process(10, Iface::Lan, &syn(40000, 80))
            .unwrap()
            .unwrap();
        let explained = d.trace.clone();
        let filter = d.filter.unwrap();
        assert_eq!((filter.chain.as_str(), filter.rule), ("FORWARD", Some(5)));
        let events = fw.drain_events().unwrap();
        if on {
            assert!(
                explained
                    .iter()
                    .any(|l| l.starts_with("conntrack: NEW original, entry #1 created")),
                "{explained:?}"
            );
            assert!(explained.contains(&"filter:FORWARD:rule:5:ACCEPT".to_string()));
            assert_eq!(
                filter.trace,
                ["filter:FORWARD:rule:5:ACCEPT".to_string()],
                "trace"
            );
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, EventKind::New);
            assert_eq!(Some(events[0].id), d.entry_id);
            assert!(events[0]
                .line
                .starts_with("tcp      6 120 SYN_SENT src=192.168.1.20"));
            assert_eq!(fw.drain_events().unwrap(), vec![], "drained twice");
        } else {
            assert!(explained.is_empty());
            assert!(filter.trace.is_empty());
            assert!(events.is_empty());
        }
    }
}

#[test]
fn the_clock_is_bounded_and_never_traps() {
    let mut fw = runtime().firewall(&config(0)).unwrap();
    fw.load_rules(RULES).unwrap().unwrap();
    fw.process(u64::MAX, Iface::Lan, &syn(40000, 80))
        .unwrap()
        .unwrap();
    let e = fw.entries().unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].expires_ms, (1 << 60) + 120_000);
    assert_eq!(e[0].timeout_secs, 120);
    fw.advance(u64::MAX).unwrap();
    assert_eq!(fw.entries().unwrap().len(), 1, "the clock went past 2^60");
    // Going back in time changes nothing the table reports.
    fw.advance(0).unwrap();
    assert_eq!(fw.entries().unwrap()[0].timeout_secs, 120);
    fw.flush(u64::MAX).unwrap();
    assert_eq!(fw.render_table().unwrap(), "");
}

#[test]
fn instances_do_not_share_tables() {
    let mut a = runtime().firewall(&config(0)).unwrap();
    let mut b = runtime().firewall(&config(0)).unwrap();
    for fw in [&mut a, &mut b] {
        fw.load_rules(RULES).unwrap().unwrap();
    }
    a.process(1, Iface::Lan, &syn(40000, 80)).unwrap().unwrap();
    assert_eq!(a.entries().unwrap().len(), 1);
    assert_eq!(b.entries().unwrap().len(), 0);
}
