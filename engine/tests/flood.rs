//! SYN flood: the `synflood` workload of `../shared/workloads/gen_workload.py` (bare SYNs
//! from random sources in 10.0.0.0/8 to 192.168.1.10:80, interleaved with complete
//! connections from 172.16.0.0/16) through a router with the default table maximum of
//! 4096 and the seed-style ruleset.
//!
//! What must hold: every packet of every connection that completed its handshake keeps
//! passing while the flood makes the table evict; the table never exceeds its maximum and
//! the heap stays flat; evictions (`early_drop`) and packets dropped for a full table
//! (`drop`, with the kernel's "nf_conntrack: table full, dropping packet") are counted.
//!
//! `cargo test` replays a tenth of the flood (100 000 SYNs, 100 connections) in a debug
//! build; `cargo xtask flood` (and `cargo xtask test`) replays the full workload, 1 000 000
//! SYNs and 1000 connections, in release: set `WASMWALL_FLOOD_SYNS` and
//! `WASMWALL_FLOOD_LEGIT` to choose. The capture is generated once into
//! `target/workloads/` by the workload generator (python3); a missing generator is a
//! failure, not a skip.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use wasmwall::conntrack::{Conntrack, TABLE_FULL};
use wasmwall::wire::{self, L4};
use wasmwall::{Firewall, Iface, Outcome, Settings};

/// Counts live heap bytes and their peak, to show that memory stays flat.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are
// updated on the side. (The engine itself forbids `unsafe`; this is test code.)
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The seed-style ruleset of the router guide, for a web server at 192.168.1.10.
const RULES: &str = "\
-P FORWARD DROP
-A FORWARD -m state --state INVALID -j DROP
-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -d 192.168.1.0/24 -p tcp --dport 80 -j ACCEPT
";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `target/workloads/synflood-SYNS-LEGIT.pcap`, generated when missing.
fn workload(syns: u64, legit: u64) -> PathBuf {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = engine.parent().expect("the engine is inside the workspace");
    let script = std::env::var_os("WASMWALL_WORKLOAD_GEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/workloads/gen_workload.py"));
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("workloads");
    let out = dir.join(format!("synflood-{syns}-{legit}.pcap"));
    if out.exists() {
        return out;
    }
    assert!(
        script.exists(),
        "the workload generator {} is missing (set WASMWALL_WORKLOAD_GEN)",
        script.display()
    );
    std::fs::create_dir_all(&dir).expect("create target/workloads");
    let tmp = dir.join(format!(
        "synflood-{syns}-{legit}.{}.tmp",
        std::process::id()
    ));
    let status = Command::new("python3")
        .arg(&script)
        .args(["synflood", "--syns", &syns.to_string()])
        .args(["--legit", &legit.to_string(), "-o"])
        .arg(&tmp)
        .status()
        .expect("python3 runs the workload generator");
    assert!(status.success(), "gen_workload.py synflood failed");
    std::fs::rename(&tmp, &out).expect("move the capture into place");
    out
}

/// IPv4 packets of a classic pcap file (Ethernet, raw IPv4 or Linux cooked), with their
/// times in microseconds.
fn read_pcap(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let data = std::fs::read(path).expect("readable capture");
    assert!(data.len() >= 24, "capture too short");
    let le = match &data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        m => panic!("not a classic microsecond pcap (magic {m:02x?})"),
    };
    let u32_at = |i: usize| {
        let b = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32_at(20);
    let strip = match link {
        1 => 14,
        101 => 0,
        113 => 16,
        l => panic!("unsupported link type {l}"),
    };
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= data.len() {
        let t = u64::from(u32_at(i)) * 1_000_000 + u64::from(u32_at(i + 4));
        let n = u32_at(i + 8) as usize;
        let frame = &data[i + 16..(i + 16 + n).min(data.len())];
        i += 16 + n;
        if frame.len() > strip {
            out.push((t, frame[strip..].to_vec()));
        }
    }
    out
}

fn lan() -> (Ipv4Addr, u8) {
    (Ipv4Addr::new(192, 168, 1, 0), 24)
}

fn in_net(a: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX << (32 - u32::from(len));
    u32::from(a) & mask == u32::from(net) & mask
}

/// One real connection of the workload: its packets' outcomes in order.
#[derive(Default)]
struct Legit {
    outcomes: Vec<Outcome>,
    /// Whether its entry was ASSURED right after the handshake's last ACK.
    assured_after_handshake: bool,
}

struct Report {
    packets: usize,
    table_full_drops: u64,
    peak_entries: usize,
    legit: usize,
    completed: usize,
    broken_handshakes: usize,
    heap_warm: usize,
    heap_peak_after_warm: usize,
}

fn replay(syns: u64, legit: u64) -> Report {
    let path = workload(syns, legit);
    let packets = read_pcap(&path);
    assert_eq!(
        packets.len() as u64,
        syns + 9 * legit,
        "packets in the capture"
    );
    // Heap figures below are the engine's: the capture itself is allocated already.
    let base = LIVE.load(Ordering::Relaxed);
    let settings = Settings::default();
    assert_eq!(settings.max, 4096, "the default table maximum");
    let mut fw = Firewall::with_rules(settings, RULES).expect("the seed ruleset parses");
    let t0 = packets.first().map_or(0, |p| p.0);
    let mut conns: HashMap<(Ipv4Addr, u16), Legit> = HashMap::new();
    let mut table_full_drops = 0u64;
    let mut peak_entries = 0;
    let mut heap_warm = None;
    let mut heap_peak_after_warm = 0;
    let started = Instant::now();
    for (i, (t, bytes)) in packets.iter().enumerate() {
        let now_ms = (t - t0) / 1000;
        let p = wire::parse(bytes).expect("workload packets parse");
        let from = if in_net(p.ip.src, lan()) {
            Iface::Lan
        } else {
            Iface::Wan
        };
        let d = fw.process(now_ms, from, bytes).expect("a valid packet");
        if d.reason.as_deref() == Some(TABLE_FULL) {
            assert_eq!(d.outcome, Outcome::Dropped);
            table_full_drops += 1;
        }
        let L4::Tcp(tcp) = p.l4 else {
            panic!("the workload is TCP only")
        };
        let client = if from == Iface::Lan {
            (p.ip.dst, tcp.dport)
        } else {
            (p.ip.src, tcp.sport)
        };
        if client.0.octets()[..2] == [172, 16] {
            let c = conns.entry(client).or_default();
            c.outcomes.push(d.outcome);
            if c.outcomes.len() == 3 && d.outcome == Outcome::Forwarded {
                let tuple =
                    wasmwall::conntrack::Tuple::ports(6, p.ip.src, tcp.sport, p.ip.dst, tcp.dport);
                c.assured_after_handshake = fw
                    .conntrack()
                    .find(&tuple)
                    .is_some_and(|(e, _)| e.is_assured());
            }
        }
        // A host reads the event stream (like `conntrack -E`); undrained, it would grow.
        if i % 1024 == 0 {
            fw.conntrack_mut().drain_events();
        }
        let ct: &Conntrack = fw.conntrack();
        peak_entries = peak_entries.max(ct.len());
        assert!(ct.len() <= 4096, "table above its maximum at packet {i}");
        let live = LIVE.load(Ordering::Relaxed).saturating_sub(base);
        match heap_warm {
            None if ct.len() >= 4000 => heap_warm = Some(live),
            Some(_) => heap_peak_after_warm = heap_peak_after_warm.max(live),
            None => {}
        }
    }
    let took = started.elapsed();
    let stats = fw.conntrack().stats();
    let mut completed = 0;
    let mut broken = 0;
    let mut rescued = 0;
    for (client, c) in &conns {
        assert_eq!(c.outcomes.len(), 9, "connection {client:?} has 9 packets");
        let all_passed = c.outcomes.iter().all(|o| *o == Outcome::Forwarded);
        // Completed: its entry saw SYN, SYN-ACK and ACK and became ASSURED. (An entry
        // evicted between SYN-ACK and ACK leaves the ACK to be picked up as a new,
        // unassured connection by `tcp_loose`: that handshake was broken by the flood.)
        if c.outcomes[..3].iter().all(|o| *o == Outcome::Forwarded) && c.assured_after_handshake {
            completed += 1;
            assert!(
                c.outcomes.iter().all(|o| *o == Outcome::Forwarded),
                "{client:?} completed its handshake but later packets were dropped: {:?}",
                c.outcomes
            );
        } else {
            broken += 1;
            rescued += usize::from(all_passed);
        }
    }
    assert_eq!(conns.len() as u64, legit, "every real connection seen");
    assert_eq!(
        stats.drop, table_full_drops,
        "drop counts table-full packets"
    );
    let n = packets.len();
    println!(
        "synflood: {n} packets in {:.2} s ({:.0} packets/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    println!(
        "conntrack stats: entries={} found={} invalid={} insert={} insert_failed={} drop={} early_drop={}",
        fw.conntrack().len(),
        stats.found,
        stats.invalid,
        stats.insert,
        stats.insert_failed,
        stats.drop,
        stats.early_drop
    );
    println!(
        "dropped for a full table (\"{TABLE_FULL}\"): {table_full_drops}; peak table {peak_entries}/4096"
    );
    println!(
        "real connections: {legit}; completed the handshake and passed every packet: {completed}; \
         handshake broken by the flood: {broken} (of which {rescued} still passed every packet, \
         picked up again by tcp_loose)"
    );
    Report {
        packets: n,
        table_full_drops,
        peak_entries,
        legit: conns.len(),
        completed,
        broken_handshakes: broken,
        heap_warm: heap_warm.unwrap_or(0),
        heap_peak_after_warm,
    }
}

#[test]
fn syn_flood_spares_established_connections() {
    let syns = env_num("WASMWALL_FLOOD_SYNS", 100_000);
    let legit = env_num("WASMWALL_FLOOD_LEGIT", 100);
    let r = replay(syns, legit);
    println!(
        "engine heap: {} KiB once the table was full, at most {} KiB after that \
         (process peak, capture included: {} KiB)",
        r.heap_warm / 1024,
        r.heap_peak_after_warm / 1024,
        PEAK.load(Ordering::Relaxed) / 1024
    );
    assert_eq!(r.packets as u64, syns + 9 * legit);
    assert_eq!(r.legit as u64, legit);
    assert_eq!(r.peak_entries, 4096, "the flood fills the table");
    // The flood must not keep most real connections out: early drop evicts embryonic
    // entries, so only a handshake whose SYN was evicted before its reply breaks.
    assert!(
        r.completed * 10 >= r.legit * 9,
        "only {} of {} connections completed their handshake",
        r.completed,
        r.legit
    );
    assert_eq!(r.completed + r.broken_handshakes, r.legit);
    // Flat memory: the table is full from early on; what is allocated after that
    // (besides the capture, held since the start) must not grow with the flood.
    assert!(r.heap_warm > 0, "the table filled up");
    let growth = r.heap_peak_after_warm.saturating_sub(r.heap_warm);
    assert!(
        growth < 2 << 20,
        "heap grew by {} KiB during the flood",
        growth / 1024
    );
    let _ = r.table_full_drops;
}

/// When every entry is ASSURED, early drop finds nothing to evict: new connections are
/// dropped with the kernel's message and counted, established ones keep passing.
#[test]
fn a_table_of_assured_entries_drops_new_connections() {
    let settings = Settings {
        max: 64,
        buckets: 64,
        ..Settings::default()
    };
    let mut fw = Firewall::with_rules(settings, RULES).expect("parses");
    let server = Ipv4Addr::new(192, 168, 1, 10);
    let tcp = |src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: &str, seq, ack| {
        wire::PacketSpec {
            ip: wire::IpSpec::new(src, dst),
            transport: wire::Transport::Tcp(wire::TcpSpec {
                sport,
                dport,
                flags: flags.into(),
                seq,
                ack,
                win: 65535,
                urg: 0,
                options: Default::default(),
                payload: Vec::new(),
                bad_csum: false,
            }),
        }
        .build()
        .expect("builds")
    };
    let client = |i: u16| Ipv4Addr::new(172, 16, (i >> 8) as u8, i as u8);
    for i in 0..64u16 {
        let c = client(i);
        let steps = [
            (Iface::Wan, tcp(c, 40000, server, 80, "S", 1000, 0)),
            (Iface::Lan, tcp(server, 80, c, 40000, "SA", 5000, 1001)),
            (Iface::Wan, tcp(c, 40000, server, 80, "A", 1001, 5001)),
        ];
        for (from, p) in steps {
            let d = fw.process(1000, from, &p).expect("valid");
            assert_eq!(d.outcome, Outcome::Forwarded);
        }
    }
    assert_eq!(fw.conntrack().len(), 64);
    assert!(fw.conntrack().entries().all(|e| e.is_assured()));
    for i in 0..500u16 {
        let syn = tcp(
            Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8),
            1024 + i,
            server,
            80,
            "S",
            7,
            0,
        );
        let d = fw.process(2000, Iface::Wan, &syn).expect("valid");
        assert_eq!(d.outcome, Outcome::Dropped);
        assert_eq!(d.reason.as_deref(), Some(TABLE_FULL));
        assert!(
            d.filter.is_none(),
            "dropped by conntrack, before the filter"
        );
    }
    let st = fw.conntrack().stats();
    assert_eq!((st.drop, st.early_drop), (500, 0));
    // Established connections still pass, in both directions.
    for i in 0..64u16 {
        let c = client(i);
        let d = fw
            .process(
                3000,
                Iface::Wan,
                &tcp(c, 40000, server, 80, "A", 1001, 5001),
            )
            .expect("valid");
        assert_eq!(d.outcome, Outcome::Forwarded, "client {i}");
        let d = fw
            .process(
                3000,
                Iface::Lan,
                &tcp(server, 80, c, 40000, "A", 5001, 1001),
            )
            .expect("valid");
        assert_eq!(d.outcome, Outcome::Forwarded, "server to client {i}");
    }
    // The GC run after a "table full" drop leaves established connections alone.
    fw.advance(4000);
    assert_eq!(fw.conntrack().len(), 64);
}
