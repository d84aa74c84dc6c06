//! Criterion benchmarks of the engine's hot paths: a packet of a tracked connection
//! (lookup hit), a packet that opens a connection, reaping expired entries, and the
//! filter over 10, 100 and 1000 rules.
//!
//! `cargo bench -p wasmwall --bench hot_paths` (add `-- NAME` to run one group).
//! Tracking verifies every packet's checksum, as the kernel does in PREROUTING; the
//! lookup-hit benchmarks hand `track` a packet parsed once, the others parse each one
//! (`track_batch`, `Firewall::process`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::net::Ipv4Addr;
use wasmwall::firewall::{Firewall, Iface};
use wasmwall::wire::{self, IpSpec, PacketSpec, TcpOptionsSpec, TcpSpec, Transport, UdpSpec};
use wasmwall::{Conntrack, Settings};

fn client(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | i)
}
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

fn tcp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: &str,
    seq: u32,
    ack: u32,
) -> Vec<u8> {
    PacketSpec {
        ip: IpSpec::new(src, dst),
        transport: Transport::Tcp(TcpSpec {
            sport,
            dport,
            flags: flags.into(),
            seq,
            ack,
            win: 65535,
            urg: 0,
            options: TcpOptionsSpec::default(),
            payload: vec![0x42; 64],
            bad_csum: false,
        }),
    }
    .build()
    .expect("valid packet")
}

fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    PacketSpec {
        ip: IpSpec::new(src, dst),
        transport: Transport::Udp(UdpSpec {
            sport,
            dport,
            payload: vec![0x42; 64],
            bad_csum: false,
            no_csum: false,
        }),
    }
    .build()
    .expect("valid packet")
}

/// A standalone tracker (events off) that tracks and confirms every packet.
fn tracker(max: u32) -> Conntrack {
    let mut ct = Conntrack::new(Settings {
        max,
        ..Settings::default()
    });
    ct.set_record_events(false);
    ct
}

fn feed(ct: &mut Conntrack, now: u64, packets: &[Vec<u8>]) {
    let mut out = Vec::with_capacity(packets.len());
    ct.track_batch(packets.iter().map(|p| (now, p.as_slice())), true, &mut out);
    black_box(&out);
}

/// A table of `n` established TCP connections (handshake done, ASSURED).
fn established(n: u32) -> Conntrack {
    let mut ct = tracker(n * 2);
    for i in 0..n {
        let c = client(i);
        feed(
            &mut ct,
            0,
            &[
                tcp(c, 40000, SERVER, 80, "S", 1000, 0),
                tcp(SERVER, 80, c, 40000, "SA", 5000, 1001),
                tcp(c, 40000, SERVER, 80, "A", 1001, 5001),
            ],
        );
    }
    ct
}

fn lookup_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup_hit");
    g.throughput(Throughput::Elements(1));
    for n in [1_000u32, 100_000] {
        // The same in-window ACK again and again: lookup, window check, refresh.
        let mut ct = established(n);
        let ack = tcp(client(n / 2), 40000, SERVER, 80, "A", 1001, 5001);
        let pkt = wire::parse(&ack).expect("parses");
        let tpl = Default::default();
        g.bench_function(format!("tcp_ack/{n}_entries"), |b| {
            b.iter(|| black_box(ct.track(1, black_box(&ack), &pkt, &tpl)))
        });
        let mut ct = tracker(n * 2);
        let flows: Vec<Vec<u8>> = (0..n).map(|i| udp(client(i), 5000, SERVER, 53)).collect();
        feed(&mut ct, 0, &flows);
        let query = udp(client(n / 2), 5000, SERVER, 53);
        let pkt = wire::parse(&query).expect("parses");
        g.bench_function(format!("udp/{n}_entries"), |b| {
            b.iter(|| black_box(ct.track(1, black_box(&query), &pkt, &tpl)))
        });
    }
    g.finish();
}

fn new_connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_connection");
    const SYNS: u32 = 1024;
    g.throughput(Throughput::Elements(u64::from(SYNS)));
    let syns: Vec<Vec<u8>> = (0..SYNS)
        .map(|i| tcp(client(i), 40000 + (i % 1000) as u16, SERVER, 80, "S", i, 0))
        .collect();
    // Into an empty table that holds them all: parse, track, confirm (insert).
    g.bench_function("syn_commit/empty_table", |b| {
        b.iter_batched_ref(
            || tracker(0),
            |ct| feed(ct, 0, &syns),
            BatchSize::SmallInput,
        )
    });
    // Into a full table (the default 4096) of unassured entries: early drop evicts.
    let full = {
        let mut ct = tracker(4096);
        let old: Vec<Vec<u8>> = (0..4096)
            .map(|i| tcp(client(100_000 + i), 1234, SERVER, 80, "S", i, 0))
            .collect();
        feed(&mut ct, 0, &old);
        ct
    };
    g.bench_function("syn_commit/full_table_early_drop", |b| {
        b.iter_batched_ref(
            || full.clone(),
            |ct| feed(ct, 1, &syns),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn expiry(c: &mut Criterion) {
    let mut g = c.benchmark_group("expiry");
    const N: u32 = 4096;
    g.throughput(Throughput::Elements(u64::from(N)));
    let table = {
        let mut ct = tracker(N);
        let flows: Vec<Vec<u8>> = (0..N).map(|i| udp(client(i), 5000, SERVER, 53)).collect();
        feed(&mut ct, 0, &flows);
        ct
    };
    // Every entry has expired (UDP: 30 s): advance reaps them all.
    g.bench_function("advance_reaps_all/4096", |b| {
        b.iter_batched_ref(
            || table.clone(),
            |ct| ct.advance(black_box(31_000)),
            BatchSize::LargeInput,
        )
    });
    // Nothing has expired yet: the cost of looking.
    let mut live = table.clone();
    g.bench_function("advance_none_due/4096", |b| {
        b.iter(|| live.advance(black_box(1_000)))
    });
    // A lookup that meets an expired entry deletes it and creates a new one.
    g.throughput(Throughput::Elements(1));
    let query = udp(client(7), 5000, SERVER, 53);
    g.bench_function("lookup_meets_expired", |b| {
        b.iter_batched_ref(
            || table.clone(),
            |ct| feed(ct, 31_000, std::slice::from_ref(&query)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// `n` rules that do not match, then one that does (the packet walks all of them).
fn ruleset(n: usize) -> String {
    let mut text =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..n.saturating_sub(1) {
        text.push_str(&format!(
            "-A FORWARD -s 172.16.{}.{}/32 -p tcp --dport {} -j DROP\n",
            i / 250,
            i % 250 + 1,
            1000 + i % 5000
        ));
    }
    text.push_str("-A FORWARD -p tcp --dport 80 -j ACCEPT\nCOMMIT\n");
    text
}

fn rules(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(1));
    let pkt = tcp(client(1), 40000, SERVER, 80, "A", 1, 1);
    for n in [10usize, 100, 1000] {
        let mut fw = Firewall::with_rules(Settings::default(), &ruleset(n)).expect("rules parse");
        g.bench_function(format!("forward/{n}_rules"), |b| {
            b.iter(|| black_box(fw.process(1, Iface::Wan, black_box(&pkt))))
        });
    }
    g.finish();
}

criterion_group!(benches, lookup_hit, new_connection, expiry, rules);
criterion_main!(benches);
