//! Bad input everywhere: every public entry point answers garbage with a typed error or
//! INVALID, never a panic; a failed rules load keeps the previous ruleset; a refused
//! snapshot leaves the table as it was; the command line reports errors on stderr with a
//! non-zero exit, never a panic.

#[path = "support/harness.rs"]
mod harness;

use std::net::Ipv4Addr;
use std::process::Command;
use wasmwall::conntrack::{Conntrack, ProtoState, Settings, Snapshot, SnapshotError, Tuple};
use wasmwall::rules::Ruleset;
use wasmwall::wire::{self, IpSpec, PacketSpec, TcpSpec, Transport};
use wasmwall::{CtState, Firewall, Iface, Outcome};

const RULES: &str = harness::RULESETS[0];

/// A small deterministic generator for garbage.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn syn(src: Ipv4Addr, dst: Ipv4Addr, sport: u16) -> Vec<u8> {
    PacketSpec {
        ip: IpSpec::new(src, dst),
        transport: Transport::Tcp(TcpSpec {
            sport,
            dport: 80,
            flags: "S".into(),
            seq: 1,
            ack: 0,
            win: 65535,
            urg: 0,
            options: Default::default(),
            payload: Vec::new(),
            bad_csum: false,
        }),
    }
    .build()
    .expect("builds")
}

fn firewall_with_entries() -> Firewall {
    let mut fw = Firewall::with_rules(Settings::default(), RULES).expect("parses");
    for i in 0..5 {
        let p = syn(
            Ipv4Addr::new(192, 168, 1, 10),
            Ipv4Addr::new(203, 0, 113, 5),
            4000 + i,
        );
        fw.process(1000, Iface::Lan, &p).expect("valid");
    }
    assert_eq!(fw.conntrack().len(), 5);
    fw
}

#[test]
fn garbage_packets_are_errors_or_invalid_and_leave_the_table_alone() {
    let mut fw = firewall_with_entries();
    let before = fw.conntrack().export();
    for seed in 0..3000u64 {
        let mut bytes = garbage(seed, (seed % 90) as usize);
        if seed % 2 == 0 {
            // Half with a valid IPv4 header, so the garbage reaches conntrack.
            harness::fix_ipv4_header(&mut bytes);
        }
        if let Ok(d) = fw.process(2000, Iface::Wan, &bytes) {
            if d.created {
                fw.conntrack_mut().flush(2000);
                *fw.conntrack_mut() = Conntrack::import(before.clone()).expect("imports");
            }
        }
    }
    // Errors never touch the table; every truncation of a valid packet is an error
    // or INVALID, never a panic.
    let mut fw = firewall_with_entries();
    let snap = fw.conntrack().export();
    let p = syn(
        Ipv4Addr::new(192, 168, 1, 10),
        Ipv4Addr::new(203, 0, 113, 5),
        4000,
    );
    for n in 0..p.len() {
        match fw.process(3000, Iface::Lan, &p[..n]) {
            Err(_) => {}
            Ok(d) => assert_eq!(d.ctstate, CtState::Invalid, "{n} bytes"),
        }
    }
    assert_eq!(fw.conntrack().export().entries, snap.entries);
}

#[test]
fn time_near_the_end_of_u64_does_not_overflow() {
    // Regression: `now + timeout` overflowed (a panic in debug builds, a wrapped
    // expiry in release) when a host passed a time near u64::MAX.
    let mut fw = Firewall::with_rules(Settings::default(), RULES).expect("parses");
    let p = syn(
        Ipv4Addr::new(192, 168, 1, 10),
        Ipv4Addr::new(203, 0, 113, 5),
        4000,
    );
    for now in [u64::MAX - 1000, u64::MAX] {
        let d = fw.process(now, Iface::Lan, &p).expect("valid");
        assert_eq!(d.outcome, Outcome::Forwarded);
        let e = fw.conntrack().entries().next().expect("an entry");
        assert!(e.expires_ms >= now, "expiry wrapped around");
        fw.advance(now);
    }
    // A fragment at the end of time: the reassembly timeout does not overflow either.
    let mut frag = p.clone();
    frag[6] = 0x20; // MF
    frag[10] = 0;
    frag[11] = 0;
    let c = wire::ipv4_header_checksum(&frag[..20]);
    frag[10..12].copy_from_slice(&c.to_be_bytes());
    fw.process(u64::MAX, Iface::Lan, &frag).expect("a fragment");
    fw.process(u64::MAX, Iface::Lan, &frag).expect("a fragment");
}

#[test]
fn absurd_bucket_counts_do_not_exhaust_memory() {
    // Regression: `buckets` (a setting, and a field of imported snapshots) was
    // allocated as given: 2^32 - 1 buckets is 16 GiB.
    let mut s = Settings::default();
    s.set("buckets", "4294967295").expect("a number");
    let mut fw = Firewall::with_rules(s.clone(), RULES).expect("parses");
    let p = syn(
        Ipv4Addr::new(192, 168, 1, 10),
        Ipv4Addr::new(203, 0, 113, 5),
        4000,
    );
    assert_eq!(
        fw.process(1, Iface::Lan, &p).expect("valid").outcome,
        Outcome::Forwarded
    );
    let mut snap = Conntrack::default().export();
    snap.settings = s;
    let ct = Conntrack::import(snap).expect("imports");
    assert!(ct.is_empty());
}

#[test]
fn garbage_rules_are_refused_and_the_previous_ruleset_stays() {
    let mut fw = firewall_with_entries();
    let saved = fw.rules().save(true);
    let bad = [
        "-A FORWARD -j NOPE\n",
        "-A FORWARD -p tcp --dport 99999 -j ACCEPT\n",
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m state --state BOGUS -j ACCEPT\nCOMMIT\n",
        "*nat\nCOMMIT\n",
        "-A\n",
        "\u{0}\u{1}\u{2}",
        "-A FORWARD -s 300.1.1.1 -j DROP\n",
        "-A FORWARD -m conntrack --ctstate\n",
    ];
    for text in bad {
        let e = fw.load_rules(text).expect_err(text);
        assert!(e.line >= 1 && e.column >= 1, "{text:?}: {e}");
        assert_eq!(fw.rules().save(true), saved, "{text:?} changed the rules");
    }
    let rules_only = fw.rules().save(false);
    for seed in 0..500 {
        let text = String::from_utf8_lossy(&garbage(seed, 64)).into_owned();
        if fw.load_rules(&text).is_err() {
            assert_eq!(fw.rules().save(false), rules_only);
        } else {
            fw.load_rules(RULES).expect("parses");
        }
    }
    assert_eq!(fw.conntrack().len(), 5, "rule loads keep the table");
    assert!(Ruleset::parse("-P FORWARD MAYBE\n").is_err());
}

#[test]
fn corrupt_snapshots_are_refused_and_the_table_stays_as_it_was() {
    let mut fw = firewall_with_entries();
    let good = fw.conntrack().export();
    let json = serde_json::to_string(&good).expect("serialises");

    // Not JSON, truncated JSON, wrong shapes: serde errors.
    for n in [0, 1, json.len() / 2, json.len() - 1] {
        assert!(serde_json::from_str::<Snapshot>(&json[..n]).is_err());
    }
    assert!(serde_json::from_str::<Snapshot>("{\"entries\": 5}").is_err());

    // Well-formed but inconsistent snapshots: typed errors.
    let mut corrupt: Vec<(Snapshot, &str)> = Vec::new();
    let mut s = good.clone();
    s.settings.max = 2;
    corrupt.push((s, "too many"));
    let mut s = good.clone();
    s.entries[1].original = s.entries[0].original;
    corrupt.push((s, "duplicate tuple"));
    let mut s = good.clone();
    s.entries[1].id = s.entries[0].id;
    corrupt.push((s, "duplicate id"));
    let mut s = good.clone();
    s.next_id = 0; // regression: accepted before, then ids were handed out twice
    corrupt.push((s, "next_id 0"));
    let mut s = good.clone();
    s.entries[0].proto = ProtoState::Icmp;
    corrupt.push((s, "protocol state"));
    let mut s = good.clone();
    s.entries[2].original = Tuple::icmp(
        Ipv4Addr::new(1, 2, 3, 4),
        Ipv4Addr::new(5, 6, 7, 8),
        1,
        3,
        0,
    );
    corrupt.push((s, "ICMP error tuple"));
    for (snap, what) in corrupt {
        let err: SnapshotError = Conntrack::import(snap).expect_err(what);
        assert!(!err.to_string().is_empty());
        // The firewall's table is untouched: import builds a new tracker or nothing.
        assert_eq!(fw.conntrack().export(), good, "{what}");
    }
    let p = syn(
        Ipv4Addr::new(192, 168, 1, 10),
        Ipv4Addr::new(203, 0, 113, 5),
        4000,
    );
    let d = fw.process(5000, Iface::Lan, &p).expect("valid");
    assert_eq!(d.ctstate, CtState::New, "the old entries still work");
}

#[test]
fn bad_settings_are_typed_errors() {
    let mut s = Settings::default();
    assert!(s.set("no_such_setting", "1").is_err());
    assert!(s.set("tcp_loose", "maybe").is_err());
    assert!(s.set("max", "-1").is_err());
    assert!(s.set("max", "99999999999999999999").is_err());
    assert_eq!(s, Settings::default());
}

fn wasmwall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmwall"))
}

#[test]
fn the_command_line_never_panics_on_garbage() {
    let dir = std::env::temp_dir().join(format!("wasmwall-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = |name: &str, data: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, data).expect("write");
        p
    };
    let garbage_file = file("garbage", &garbage(1, 4096));
    let empty = file("empty", b"");
    let bad_rules = file("bad.rules", b"-A FORWARD -j NOPE\n");
    let good_rules = file("good.rules", RULES.as_bytes());
    // A pcap header with a bogus link type, and one whose record overruns the file.
    let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    let mut weird_link = pcap.clone();
    weird_link.extend_from_slice(&12345u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes());
    pcap.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0]);
    pcap.extend_from_slice(&garbage(2, 40));
    let overrun = file("overrun.pcap", &pcap);
    let weird = file("weird.pcap", &weird_link);
    let trace = file(
        "trace.json",
        br#"{"steps": [{"t": "soon", "packet_hex": "zz", "from": "moon"}], "rules_restored": 7}"#,
    );
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let cases: Vec<Vec<String>> = vec![
        vec!["replay".into(), s(&garbage_file)],
        vec!["replay".into(), s(&empty)],
        vec!["replay".into(), s(&trace)],
        vec!["replay".into()],
        vec!["frobnicate".into()],
        vec![
            "replay".into(),
            "--rules".into(),
            s(&bad_rules),
            "--pcap".into(),
            s(&overrun),
        ],
        vec![
            "replay".into(),
            "--rules".into(),
            s(&good_rules),
            "--pcap".into(),
            s(&garbage_file),
        ],
        vec![
            "replay".into(),
            "--rules".into(),
            s(&good_rules),
            "--pcap".into(),
            s(&weird),
        ],
        vec![
            "replay".into(),
            "--rules".into(),
            s(&good_rules),
            "--pcap".into(),
            s(&overrun),
            "--set".into(),
            "tcp_loose=banana".into(),
        ],
        vec![
            "replay".into(),
            "--rules".into(),
            s(&good_rules),
            "--pcap".into(),
            s(&overrun),
        ],
    ];
    for args in cases {
        let out = wasmwall().args(&args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "wasmwall {args:?} panicked:\n{stderr}"
        );
        assert_ne!(out.status.code(), Some(101), "wasmwall {args:?} panicked");
        if !out.status.success() {
            assert!(
                !stderr.trim().is_empty(),
                "wasmwall {args:?}: silent failure"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_table_with_a_self_inverse_tuple_exports_and_imports() {
    // Regression (fuzz target `engine`): a packet from a host to itself makes an entry
    // whose reply tuple equals its original; import refused the export as a
    // duplicate tuple.
    let mut fw = Firewall::with_rules(Settings::default(), harness::RULESETS[2]).expect("parses");
    let me = Ipv4Addr::new(192, 168, 1, 10);
    let p = PacketSpec {
        ip: IpSpec::new(me, me),
        transport: Transport::RawL4Hex("00".into()),
    };
    let mut p = p;
    p.ip.proto = Some(99);
    fw.process(1, Iface::Lan, &p.build().expect("builds"))
        .expect("valid");
    let snap = fw.conntrack().export();
    assert_eq!(snap.entries.len(), 1);
    assert_eq!(*snap.entries[0].original(), snap.entries[0].reply());
    let ct = Conntrack::import(snap.clone()).expect("imports");
    assert_eq!(ct.export(), snap);
}

#[test]
fn chain_names_that_cannot_be_saved_are_refused() {
    // Regressions (fuzz target `rules`): quotes made an empty chain name and one with
    // blanks, and `-o!` an interface named `!'; all were accepted and saved as text
    // that does not parse back.
    for text in [
        "-P \"\" ACCEPT\n",
        "-N \"\"\n",
        "-N \"A B\"\n",
        "*filter\n:\"FORWARD DROP \" - [0:0]\nCOMMIT\n",
        "-N A\n-E A \"B C\"\n",
        // And interface names: `!' alone, blanks.
        "-A FORWARD -o!\n",
        "-A FORWARD -i \"eth 0\" -j ACCEPT\n",
    ] {
        assert!(Ruleset::parse(text).is_err(), "{text:?} was accepted");
    }
}
