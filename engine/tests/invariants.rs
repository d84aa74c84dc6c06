//! Invariants under load: a long randomised replay (many flows, handshakes, data,
//! teardowns, resets, retransmissions, garbage, ICMP errors, random time jumps from a
//! millisecond to days) through a router whose small table is constantly full, with the
//! table's invariants checked after every single packet (`support/harness.rs`, `check`):
//!
//! * the table never holds more than its maximum;
//! * every entry's reply tuple is the inverse of its original, and both find it;
//! * no timeout is negative (expired entries are reaped by `advance`; no remaining
//!   timeout exceeds the longest setting, as a wrapped-around one would);
//! * ASSURED entries are never early-dropped;
//! * export → import gives the same tracker.
//!
//! `cargo test` runs 60 000 + 15 000 packets in a debug build; `cargo xtask invariants` (and
//! `cargo xtask test`) runs 10 000 000 + 2 500 000 in release. `WASMWALL_INVARIANT_PACKETS` and
//! `WASMWALL_INVARIANT_SEED` choose the length and the seed.

#[path = "support/harness.rs"]
mod harness;

use harness::{check, Before};
use std::net::Ipv4Addr;
use std::time::Instant;
use wasmwall::conntrack::{Conntrack, Tuple};
use wasmwall::wire::{self, IcmpSpec, IpSpec, PacketSpec, TcpSpec, Transport, UdpSpec};
use wasmwall::{Firewall, Iface, Outcome, Settings};

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
}

/// One conversation the generator drives.
#[derive(Clone, Copy)]
struct Flow {
    kind: Kind,
    client: Ipv4Addr,
    cport: u16,
    server: Ipv4Addr,
    sport: u16,
    /// Position in the flow's script.
    step: u8,
    seq: [u32; 2],
}

const SCRIPT_LEN: u8 = 12;

impl Flow {
    fn new(r: &mut Rng) -> Flow {
        let kind = match r.below(10) {
            0..=6 => Kind::Tcp,
            7 | 8 => Kind::Udp,
            _ => Kind::Icmp,
        };
        let inbound = r.chance(300);
        let (client, server, sport) = if inbound {
            (
                Ipv4Addr::from(0x0a00_0000 | r.below(1 << 12) as u32),
                Ipv4Addr::new(192, 168, 1, 10 + r.below(4) as u8),
                80,
            )
        } else {
            (
                Ipv4Addr::new(192, 168, 1, 2 + r.below(200) as u8),
                Ipv4Addr::new(203, 0, 113, 1 + r.below(50) as u8),
                [80, 443, 53, 22][r.below(4) as usize],
            )
        };
        Flow {
            kind,
            client,
            cport: 1024 + r.below(60000) as u16,
            server,
            sport,
            step: 0,
            seq: [r.next() as u32, r.next() as u32],
        }
    }

    /// The flow's next packet: (from the client?, bytes).
    fn next_packet(&mut self, r: &mut Rng) -> (bool, Vec<u8>) {
        let step = self.step;
        self.step += 1;
        match self.kind {
            Kind::Tcp => self.tcp(step, r),
            Kind::Udp | Kind::Icmp => {
                let from_client = step.is_multiple_of(2) || r.chance(100);
                let (src, dst) = self.ends(from_client);
                let transport = if self.kind == Kind::Udp {
                    let (sp, dp) = self.ports(from_client);
                    Transport::Udp(UdpSpec {
                        sport: sp,
                        dport: dp,
                        payload: vec![0; r.below(100) as usize],
                        bad_csum: r.chance(5),
                        no_csum: r.chance(50),
                    })
                } else {
                    let mut spec = IcmpSpec::echo(self.cport, u16::from(step));
                    spec.icmp_type = if from_client { 8 } else { 0 };
                    Transport::Icmp(spec)
                };
                (from_client, build(IpSpec::new(src, dst), transport))
            }
        }
    }

    fn ends(&self, from_client: bool) -> (Ipv4Addr, Ipv4Addr) {
        if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        }
    }
    fn ports(&self, from_client: bool) -> (u16, u16) {
        if from_client {
            (self.cport, self.sport)
        } else {
            (self.sport, self.cport)
        }
    }

    /// SYN, SYN-ACK, ACK, data both ways, FIN, ACK, FIN, ACK, with deviations: resets,
    /// retransmissions, lost packets, wrong sequence numbers, odd flags.
    fn tcp(&mut self, step: u8, r: &mut Rng) -> (bool, Vec<u8>) {
        let (from_client, flags, len) = match step {
            0 => (true, "S", 0),
            1 => (false, "SA", 0),
            2 => (true, "A", 0),
            3 | 5 => (true, "PA", 1 + r.below(1400) as u32),
            4 | 6 => (false, "PA", 1 + r.below(1400) as u32),
            7 => (true, "FA", 0),
            8 => (false, "A", 0),
            9 => (false, "FA", 0),
            _ => (true, "A", 0),
        };
        let from_client = if r.chance(10) {
            !from_client
        } else {
            from_client
        };
        let dir = usize::from(!from_client);
        let mut flags = flags.to_string();
        if r.chance(15) {
            flags = "R".into();
            self.step = SCRIPT_LEN;
        } else if r.chance(5) {
            flags = wire::tcp_flags::to_letters(r.next() as u8).replace('-', "");
        }
        let mut seq = self.seq[dir];
        let ack = self.seq[1 - dir];
        if r.chance(10) {
            seq = seq.wrapping_sub(r.below(3000) as u32); // a retransmission
        } else if r.chance(3) {
            seq = r.next() as u32;
        }
        let advance = len + u32::from(flags.contains('S') || flags.contains('F'));
        if !r.chance(10) {
            self.seq[dir] = self.seq[dir].wrapping_add(advance); // else: lost on the wire
        }
        let (src, dst) = self.ends(from_client);
        let (sp, dp) = self.ports(from_client);
        let t = TcpSpec {
            sport: sp,
            dport: dp,
            flags,
            seq,
            ack: if step == 0 { 0 } else { ack },
            win: 65535,
            urg: 0,
            options: Default::default(),
            payload: vec![b'd'; len as usize],
            bad_csum: r.chance(3),
        };
        (from_client, build(IpSpec::new(src, dst), Transport::Tcp(t)))
    }
}

fn build(ip: IpSpec, transport: Transport) -> Vec<u8> {
    PacketSpec { ip, transport }
        .build()
        .expect("generated packets build")
}

fn iface_of(src: Ipv4Addr) -> Iface {
    if src.octets()[..3] == [192, 168, 1] {
        Iface::Lan
    } else {
        Iface::Wan
    }
}

/// A random time step: mostly milliseconds, sometimes seconds, minutes, or (with
/// `long_jumps`) days.
fn time_step(r: &mut Rng, long_jumps: bool) -> u64 {
    if !long_jumps {
        return if r.chance(10) {
            r.below(2_000)
        } else {
            r.below(5)
        };
    }
    match r.below(1000) {
        0 => r.below(10 * 86_400_000),
        1..=9 => r.below(300_000),
        10..=99 => r.below(2_000),
        _ => r.below(5),
    }
}

struct Outcomes {
    forwarded: u64,
    dropped: u64,
    assured_seen: u64,
}

/// Replays `packets` packets; the full check runs after every `every`-th step (the
/// table's size bound after every step).
fn run(
    packets: u64,
    seed: u64,
    settings: Settings,
    flows: usize,
    every: u64,
    long_jumps: bool,
) -> Outcomes {
    let mut r = Rng(seed);
    let mut fw = Firewall::with_rules(settings, harness::RULESETS[0]).expect("parses");
    fw.conntrack_mut().set_record_events(false);
    let mut pool: Vec<Flow> = (0..flows).map(|_| Flow::new(&mut r)).collect();
    let mut now: u64 = r.below(1 << 40);
    let mut out = Outcomes {
        forwarded: 0,
        dropped: 0,
        assured_seen: 0,
    };
    let started = Instant::now();
    for i in 0..packets {
        now += time_step(&mut r, long_jumps);
        let full = i % every == 0;
        let before = full.then(|| Before::of(fw.conntrack(), now));
        if r.chance(5) {
            fw.advance(now);
            check(fw.conntrack(), now, before.as_ref(), None);
            assert!(fw.conntrack().entries().all(|e| !e.is_expired(now)));
            continue;
        }
        let bytes = if r.chance(5) {
            // Garbage with a valid IPv4 header.
            let mut b: Vec<u8> = (0..20 + r.below(60)).map(|_| r.next() as u8).collect();
            harness::fix_ipv4_header(&mut b);
            if r.chance(500) {
                b[12..16].copy_from_slice(&[192, 168, 1, 20]);
            }
            b
        } else if r.chance(5) {
            // An ICMP error about some flow's packet, from either end.
            let f = pool[r.below(flows as u64) as usize];
            let quoted = {
                let mut g = f;
                g.next_packet(&mut r).1
            };
            let (src, dst) = f.ends(r.chance(500));
            build(
                IpSpec::new(src, dst),
                Transport::Icmp(IcmpSpec::error(3, r.below(16) as u8, &quoted)),
            )
        } else {
            let k = r.below(flows as u64) as usize;
            if pool[k].step >= SCRIPT_LEN {
                pool[k] = Flow::new(&mut r);
            }
            pool[k].next_packet(&mut r).1
        };
        let p = wire::parse(&bytes).ok();
        let from = p.map_or(Iface::Wan, |p| iface_of(p.ip.src));
        let touched = p.map(|p| Tuple::addresses(p.ip.protocol, p.ip.src, p.ip.dst));
        if let Ok(d) = fw.process(now, from, &bytes) {
            match d.outcome {
                Outcome::Forwarded => out.forwarded += 1,
                _ => out.dropped += 1,
            }
        }
        if full {
            check(fw.conntrack(), now, before.as_ref(), touched.as_ref());
        } else {
            let max = fw.conntrack().settings().max as usize;
            assert!(fw.conntrack().len() <= max, "table above its maximum");
        }
        if i % 100_000 == 99_999 {
            let snap = fw.conntrack().export();
            let ct = Conntrack::import(snap.clone()).expect("an export imports");
            assert_eq!(ct.export(), snap);
            *fw.conntrack_mut() = ct;
            out.assured_seen += fw.conntrack().entries().filter(|e| e.is_assured()).count() as u64;
            // Timeouts as /proc prints them are never negative.
            for line in fw.conntrack_mut().render_proc(now).lines() {
                let secs: i64 = line
                    .split_whitespace()
                    .nth(4)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                assert!(secs >= 0, "{line}");
            }
        }
    }
    let st = fw.conntrack().stats();
    println!(
        "{packets} packets ({} flows, max {}, {} buckets) in {:.1} s: {} forwarded, {} dropped; \
         stats: insert={} early_drop={} drop={} invalid={}",
        flows,
        fw.conntrack().settings().max,
        fw.conntrack().settings().buckets,
        started.elapsed().as_secs_f64(),
        out.forwarded,
        out.dropped,
        st.insert,
        st.early_drop,
        st.drop,
        st.invalid
    );
    assert!(st.early_drop > 0, "the table was never full");
    out
}

fn packets() -> u64 {
    std::env::var("WASMWALL_INVARIANT_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000)
}

fn seed() -> u64 {
    std::env::var("WASMWALL_INVARIANT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
}

/// A table of 64 entries in 16 buckets under 2000 flows: early drop on almost every
/// new connection, "table full" drops when a run of buckets holds only ASSURED entries.
#[test]
fn invariants_hold_in_a_small_full_table() {
    let settings = Settings {
        max: 64,
        buckets: 16,
        ..Settings::default()
    };
    let out = run(packets(), seed(), settings, 2000, 1, true);
    assert!(out.forwarded > 0 && out.dropped > 0);
}

/// The default table (4096 entries) under 20 000 flows and time steps of at most 2 s;
/// the full check after every 97th packet.
#[test]
fn invariants_hold_in_the_default_table() {
    let settings = Settings {
        tcp_timeout_established: 600,
        udp_timeout_stream: 60,
        ..Settings::default()
    };
    let out = run(packets() / 4, seed() ^ 0x5eed, settings, 20_000, 97, false);
    assert!(out.forwarded > 0);
}
