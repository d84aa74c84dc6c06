//! The fuzzing harnesses, shared by the cargo-fuzz targets (`engine/fuzz/`, which
//! include this file with `#[path]`) and by `cargo test` (`tests/fuzz_corpus.rs` replays
//! the committed corpus and every crash ever found through the same functions).
//!
//! Each harness takes arbitrary bytes and panics only when the engine breaks a promise:
//! a panic inside the engine, or an invariant checked here. Input is decoded with a
//! small byte reader rather than `arbitrary`, so the engine needs no extra dependency.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use wasmwall::conntrack::{status, Conntrack, Entry, Settings, Snapshot, Tuple};
use wasmwall::rules::{reject_response, RejectWith, Ruleset, Table, TableKind};
use wasmwall::wire::{
    self, IcmpSpec, IpSpec, PacketSpec, TcpOptionsSpec, TcpSpec, Transport, UdpSpec, L4,
};
use wasmwall::{Firewall, Iface, Outcome};

/// Reads fuzzer bytes; past the end every read yields zero.
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    /// Up to `max` bytes, length-prefixed.
    pub fn slice(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u16()) % (max + 1);
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }
}

// ---------------------------------------------------------------------------------
// wire: parse, checksums, the builder

/// Arbitrary bytes through `wire::parse` (as they are, and with a repaired IPv4 header
/// so the transport parsers are reached), checksums, TTL decrement, ICMP errors and
/// REJECT answers; then a packet built from a description must parse back to it.
pub fn wire(data: &[u8]) {
    parse_checked(data);
    let mut fixed = data.to_vec();
    if fix_ipv4_header(&mut fixed) {
        let p = wire::parse(&fixed).expect("a repaired IPv4 header parses");
        assert_eq!(usize::from(p.ip.total_len), fixed.len());
        parse_checked(&fixed);
    }
    let mut r = Bytes::new(data);
    round_trip(&mut r);
}

/// Makes the first bytes a valid IPv4 header (version, IHL within the data, total
/// length = the data's length, header checksum); false when the data is too short.
pub fn fix_ipv4_header(b: &mut [u8]) -> bool {
    if b.len() < 20 || b.len() > 65535 {
        return false;
    }
    let ihl = (b[0] & 0x0f).max(5);
    let ihl = if usize::from(ihl) * 4 > b.len() {
        5
    } else {
        ihl
    };
    b[0] = 0x40 | ihl;
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b[10] = 0;
    b[11] = 0;
    let hl = usize::from(ihl) * 4;
    let c = wire::ipv4_header_checksum(&b[..hl]);
    b[10..12].copy_from_slice(&c.to_be_bytes());
    true
}

fn parse_checked(data: &[u8]) {
    let Ok(p) = wire::parse(data) else {
        return;
    };
    let ip = p.ip;
    assert!(ip.header_len >= 20 && ip.header_len <= ip.total_len);
    assert!(usize::from(ip.total_len) <= data.len());
    let bytes = &data[..usize::from(ip.total_len)];
    let _ = wire::transport_checksum_ok(bytes, &p);
    match p.l4 {
        L4::Tcp(t) => {
            assert_eq!(usize::from(t.offset), usize::from(ip.header_len));
            assert!(t.header_len >= 20);
            assert_eq!(
                t.payload_offset() + usize::from(t.payload_len),
                bytes.len(),
                "TCP payload ends where the packet ends"
            );
        }
        L4::Udp(u) => {
            assert_eq!(
                usize::from(u.offset) + 8 + usize::from(u.payload_len),
                bytes.len()
            );
        }
        L4::Icmp(i) => assert_eq!(usize::from(i.offset), usize::from(ip.header_len)),
        L4::Fragment => assert_ne!(ip.fragment_offset, 0),
        L4::Other | L4::Malformed(_) | L4::Sctp(_) | L4::UdpLite(_) => {}
    }
    let out = wasmwall::firewall::decrement_ttl(bytes);
    assert!(wire::parse(&out).is_ok(), "a forwarded packet still parses");
    let err = wire::icmp_error_reply(bytes, 3, 1, 0, Ipv4Addr::new(192, 168, 1, 1), 7);
    assert!(wire::parse(&err).is_ok(), "an ICMP error parses");
    for with in [
        RejectWith::TcpReset,
        RejectWith::IcmpPortUnreachable,
        RejectWith::IcmpAdminProhibited,
    ] {
        if let Some(ans) = reject_response(bytes, &p, with, Ipv4Addr::new(198, 51, 100, 1)) {
            assert!(wire::parse(&ans).is_ok(), "a REJECT answer parses");
        }
    }
}

fn addr(b: u8) -> Ipv4Addr {
    match b % 6 {
        0..=2 => Ipv4Addr::new(192, 168, 1, 10 + b % 3),
        3 | 4 => Ipv4Addr::new(203, 0, 113, 5 + b % 2),
        _ => Ipv4Addr::new(198, 51, 100, 1),
    }
}

/// A packet description from fuzzer bytes, built, parsed back and compared.
fn round_trip(r: &mut Bytes) {
    let mut ip = IpSpec::new(addr(r.u8()), addr(r.u8()));
    ip.ttl = r.u8();
    ip.id = r.u16();
    ip.tos = r.u8();
    ip.df = r.bool();
    let odd = r.u8();
    if odd & 1 == 1 {
        ip.frag = Some(r.u16());
    }
    if odd & 2 == 2 {
        ip.proto = Some(r.u8());
    }
    let transport = match r.u8() % 4 {
        0 => {
            let mut options = TcpOptionsSpec::default();
            let o = r.u8();
            if o & 1 == 1 {
                options.mss = Some(r.u16());
            }
            options.sackok = o & 2 == 2;
            if o & 4 == 4 {
                options.ts = Some((r.u32(), r.u32()));
            }
            if o & 8 == 8 {
                options.wscale = Some(r.u8());
            }
            if o & 16 == 16 {
                options.raw = Some(r.slice(48).to_vec());
            }
            Transport::Tcp(TcpSpec {
                sport: r.u16(),
                dport: r.u16(),
                flags: wire::tcp_flags::to_letters(r.u8()).replace('-', ""),
                seq: r.u32(),
                ack: r.u32(),
                win: r.u16(),
                urg: r.u16(),
                options,
                payload: r.slice(64).to_vec(),
                bad_csum: r.bool(),
            })
        }
        1 => Transport::Udp(UdpSpec {
            sport: r.u16(),
            dport: r.u16(),
            payload: r.slice(64).to_vec(),
            bad_csum: r.bool(),
            no_csum: r.bool(),
        }),
        2 => Transport::Icmp(IcmpSpec {
            icmp_type: r.u8(),
            code: r.u8(),
            id: r.u16(),
            seq: r.u16(),
            payload: r.slice(32).to_vec(),
            quoted: r.bool().then(|| r.slice(80).to_vec()),
            rest: r.u32(),
            bad_csum: r.bool(),
        }),
        _ => Transport::RawL4Hex(hex(r.slice(64))),
    };
    let spec = PacketSpec { ip, transport };
    let Ok(bytes) = spec.build() else {
        return;
    };
    let p = wire::parse(&bytes).expect("a built packet parses");
    assert_eq!(usize::from(p.ip.total_len), bytes.len());
    assert_eq!((p.ip.src, p.ip.dst), (spec.ip.src, spec.ip.dst));
    assert_eq!(
        (p.ip.ttl, p.ip.id, p.ip.tos),
        (spec.ip.ttl, spec.ip.id, spec.ip.tos)
    );
    if spec.ip.proto.is_some() || p.ip.is_fragment() {
        return;
    }
    match (&spec.transport, p.l4) {
        (Transport::Tcp(t), L4::Tcp(got)) => {
            assert_eq!(
                (got.sport, got.dport, got.seq, got.ack),
                (t.sport, t.dport, t.seq, t.ack)
            );
            assert_eq!(got.window, t.win);
            assert_eq!(
                got.flags,
                wire::tcp_flags::from_letters(&t.flags).expect("letters from to_letters")
            );
            assert_eq!(usize::from(got.payload_len), t.payload.len());
            assert_eq!(wire::transport_checksum_ok(&bytes, &p), !t.bad_csum);
        }
        (Transport::Tcp(_), L4::Malformed(_)) => {
            // Raw options can overflow the 60-byte TCP header; the builder may then
            // produce a header the parser rejects. That is a typed answer, not a crash.
        }
        (Transport::Udp(u), L4::Udp(got)) => {
            assert_eq!((got.sport, got.dport), (u.sport, u.dport));
            assert_eq!(usize::from(got.payload_len), u.payload.len());
            if u.no_csum && !u.bad_csum {
                assert_eq!(got.checksum, 0);
            } else if !u.bad_csum {
                assert!(wire::transport_checksum_ok(&bytes, &p));
            }
        }
        (Transport::Icmp(i), L4::Icmp(got)) => {
            assert_eq!((got.icmp_type, got.code), (i.icmp_type, i.code));
            assert_eq!(wire::transport_checksum_ok(&bytes, &p), !i.bad_csum);
        }
        (Transport::Icmp(_), L4::Malformed(_)) => {}
        (Transport::RawL4Hex(_), _) => {}
        (t, l4) => panic!("built {t:?} but parsed {l4:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------
// rules: parse, save, parse again

/// Arbitrary text through `Ruleset::parse`; what parses must save, parse back equal
/// and save to the same text; packets through it must not panic.
pub fn rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(r) = Ruleset::parse(&text) else {
        return;
    };
    let saved = r.save(false);
    let again = Ruleset::parse(&saved)
        .unwrap_or_else(|e| panic!("saved rules do not parse back: {e}\n{saved}"));
    assert_eq!(again.save(false), saved, "save is not a fixed point");
    for kind in [TableKind::Raw, TableKind::Filter] {
        assert_eq!(
            comparable(again.table(kind)),
            comparable(r.table(kind)),
            "saved rules parse back to different rules:\n{saved}"
        );
    }
    let mut fw = Firewall::new(small_settings(8, 8), r);
    for (i, (iface, pkt)) in sample_packets().iter().enumerate() {
        let _ = fw.process(i as u64 * 1000, *iface, pkt);
    }
    let _ = fw.rules().save(true);
}

/// A table as comparable text: without the rules' source positions (which differ
/// between texts), user chains in name order (as iptables-save prints them; their order
/// means nothing) and without the chain indices jumps were resolved to.
fn comparable(t: Option<&Table>) -> Option<String> {
    let mut t = t?.clone();
    for r in t.chains.iter_mut().flat_map(|c| &mut c.rules) {
        r.origin = (0, 0);
    }
    t.chains
        .sort_by(|a, b| (a.policy.is_none(), &a.name).cmp(&(b.policy.is_none(), &b.name)));
    let text = format!("{t:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("index: ") {
        out.push_str(&rest[..at]);
        rest = rest[at + "index: ".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    Some(out)
}

fn small_settings(max: u32, buckets: u32) -> Settings {
    Settings {
        max,
        buckets,
        ..Settings::default()
    }
}

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
            payload: Vec::new(),
            bad_csum: false,
        }),
    }
    .build()
    .expect("a valid packet")
}

/// A few packets of every kind, both ways, for evaluating fuzzed rulesets.
pub fn sample_packets() -> Vec<(Iface, Vec<u8>)> {
    let (c, s) = (
        Ipv4Addr::new(192, 168, 1, 10),
        Ipv4Addr::new(203, 0, 113, 5),
    );
    let udp = |src, dst, dport| {
        PacketSpec {
            ip: IpSpec::new(src, dst),
            transport: Transport::Udp(UdpSpec {
                sport: 5000,
                dport,
                payload: b"hi".to_vec(),
                bad_csum: false,
                no_csum: false,
            }),
        }
        .build()
        .expect("valid")
    };
    let echo = PacketSpec {
        ip: IpSpec::new(c, s),
        transport: Transport::Icmp(IcmpSpec::echo(7, 1)),
    }
    .build()
    .expect("valid");
    let syn = tcp(c, 40000, s, 80, "S", 100, 0);
    let unreach = PacketSpec {
        ip: IpSpec::new(s, c),
        transport: Transport::Icmp(IcmpSpec::error(3, 3, &syn)),
    }
    .build()
    .expect("valid");
    vec![
        (Iface::Lan, syn),
        (Iface::Wan, tcp(s, 80, c, 40000, "SA", 500, 101)),
        (Iface::Lan, tcp(c, 40000, s, 80, "A", 101, 501)),
        (Iface::Wan, tcp(s, 22, c, 40001, "S", 1, 0)),
        (Iface::Lan, udp(c, s, 53)),
        (Iface::Wan, udp(s, c, 5000)),
        (Iface::Lan, echo),
        (Iface::Wan, unreach),
        (
            Iface::Lan,
            tcp(c, 40002, Ipv4Addr::new(192, 168, 1, 1), 22, "S", 1, 0),
        ),
    ]
}

// ---------------------------------------------------------------------------------
// engine: packet sequences with time steps through a small table

/// Rulesets the engine harness picks from.
pub const RULESETS: &[&str] = &[
    // The seed-style stateful firewall.
    "-P FORWARD DROP\n\
     -A FORWARD -m state --state INVALID -j DROP\n\
     -A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
     -A FORWARD -s 192.168.1.0/24 -j ACCEPT\n\
     -A FORWARD -d 192.168.1.0/24 -p tcp --dport 80 -j ACCEPT\n",
    // FTP helper, REJECT answers, INPUT rules.
    "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
     -A PREROUTING -p tcp --dport 21 -j CT --helper ftp\nCOMMIT\n\
     *filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
     -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
     -A INPUT -p icmp -j ACCEPT\n\
     -A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\n\
     -A FORWARD -m conntrack --ctstate INVALID -j DROP\n\
     -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
     -A FORWARD -s 192.168.1.0/24 -j ACCEPT\n\
     -A FORWARD -p udp -j REJECT --reject-with icmp-port-unreachable\n\
     COMMIT\n",
    // Everything accepted, but tracked (every packet reaches conntrack).
    "-A FORWARD -m state --state INVALID,NEW,ESTABLISHED,RELATED,UNTRACKED -j ACCEPT\n",
    // NOTRACK for some traffic, tracking for the rest.
    "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
     -A PREROUTING -p udp -j CT --notrack\nCOMMIT\n\
     *filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
     -A FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n",
];

/// What the harness remembers per flow to send in-window segments.
#[derive(Default, Clone, Copy)]
struct Seq {
    next: [u32; 2],
}

/// Arbitrary packet sequences with arbitrary time steps through a firewall with a
/// tiny table; invariants checked after every step (see [`check`]).
pub fn engine(data: &[u8]) {
    let mut r = Bytes::new(data);
    let rules = RULESETS[usize::from(r.u8()) % RULESETS.len()];
    let cfg = r.u8();
    let mut settings = small_settings(u32::from(r.u8() % 16), u32::from(r.u8() % 16));
    settings.tcp_loose = cfg & 1 == 0;
    settings.tcp_be_liberal = cfg & 2 == 2;
    settings.checksum = cfg & 4 == 0;
    settings.tcp_ignore_invalid_rst = cfg & 8 == 8;
    if cfg & 16 == 16 {
        // Short timeouts, so that entries expire within the run.
        settings.tcp_timeout_syn_sent = 2;
        settings.tcp_timeout_established = 5;
        settings.tcp_timeout_time_wait = 2;
        settings.udp_timeout = 1;
        settings.icmp_timeout = 1;
        settings.generic_timeout = 3;
    }
    let mut fw = Firewall::with_rules(settings, rules).expect("harness rulesets parse");
    let mut now: u64 = u64::from(r.u32());
    let mut seqs: HashMap<(u8, u8, u8), Seq> = HashMap::new();
    let mut steps = 0;
    while !r.is_empty() && steps < 512 {
        steps += 1;
        let op = r.u8();
        now = now.saturating_add(match op >> 5 {
            0..=2 => 0,
            3 => u64::from(r.u8()),
            4 => u64::from(r.u16()),
            5 => u64::from(r.u16()) * 1000,
            6 => u64::from(r.u32()) * 10,
            _ => u64::from(r.u32()) << 16,
        });
        let before = Before::of(fw.conntrack(), now);
        match op & 0x0f {
            0..=8 => {
                let (iface, bytes, pkt_tuple) = packet(&mut r, op, &mut seqs);
                let d = fw.process(now, iface, &bytes);
                if let Ok(d) = &d {
                    if d.outcome == Outcome::Forwarded {
                        assert!(!d.emitted.is_empty(), "forwarded with nothing emitted");
                    }
                    for e in &d.emitted {
                        assert!(wire::parse(&e.bytes).is_ok(), "emitted packet parses");
                    }
                }
                check(fw.conntrack(), now, Some(&before), pkt_tuple.as_ref());
            }
            9 => {
                fw.advance(now);
                check(fw.conntrack(), now, Some(&before), None);
                assert!(fw.conntrack().entries().all(|e| !e.is_expired(now)));
            }
            10 => {
                // A failed rules load keeps the previous ruleset.
                let old = fw.rules().clone();
                let text = String::from_utf8_lossy(r.slice(200)).into_owned();
                match fw.load_rules(&text) {
                    Ok(()) => {
                        let _ = fw.load_rules(rules);
                    }
                    Err(_) => assert_eq!(fw.rules(), &old, "failed load changed the rules"),
                }
            }
            11 => {
                // Export, import: the same tracker.
                let snap = fw.conntrack().export();
                let ct = Conntrack::import(snap.clone()).expect("an exported snapshot imports");
                assert_eq!(ct.export(), snap);
                *fw.conntrack_mut() = ct;
            }
            12 => {
                fw.conntrack_mut().flush(now);
                assert!(fw.conntrack().is_empty());
            }
            _ => {
                let _ = fw.conntrack_mut().render_proc(now);
                let _ = fw.conntrack_mut().render_conntrack_l(now);
                check(fw.conntrack(), now, Some(&before), None);
            }
        }
    }
}

/// Builds one packet from the input: a structured one among few hosts and ports (so
/// flows meet, reply and close), or raw bytes with a repaired IPv4 header.
fn packet(
    r: &mut Bytes,
    op: u8,
    seqs: &mut HashMap<(u8, u8, u8), Seq>,
) -> (Iface, Vec<u8>, Option<Tuple>) {
    let kind = op & 0x0f;
    let sel = r.u8();
    let reverse = sel & 1 == 1;
    let (c, s) = (
        Ipv4Addr::new(192, 168, 1, 10 + (sel >> 1) % 3),
        match (sel >> 3) % 3 {
            0 => Ipv4Addr::new(203, 0, 113, 5),
            1 => Ipv4Addr::new(203, 0, 113, 6),
            _ => Ipv4Addr::new(192, 168, 1, 1),
        },
    );
    let (cport, sport) = (
        40000 + u16::from((sel >> 5) % 3),
        [80, 21, 22][usize::from(sel >> 7) % 3],
    );
    let (src, dst, sp, dp) = if reverse {
        (s, c, sport, cport)
    } else {
        (c, s, cport, sport)
    };
    // Packets enter where their source lives, unless the input flips it.
    let flip = r.u8() & 0x80 == 0x80;
    let side = |from_lan: bool| {
        if from_lan ^ flip {
            Iface::Lan
        } else {
            Iface::Wan
        }
    };
    let iface = side(src.octets()[0] == 192);
    let flow = (sel >> 1 & 0x7f, 0, 0);
    let dir = usize::from(reverse);
    let bytes = match kind {
        0..=4 => {
            let flags = r.u8();
            let mode = r.u8();
            let st = seqs.entry(flow).or_default();
            let payload_len = usize::from(mode >> 4);
            let (seq, ack) = if mode & 3 == 0 {
                (r.u32(), r.u32())
            } else {
                // In order: our next sequence number, acking the peer's.
                (st.next[dir], st.next[1 - dir])
            };
            let syn_fin = u32::from(flags & 0x03 != 0);
            st.next[dir] = seq.wrapping_add(payload_len as u32 + syn_fin);
            let mut t = TcpSpec {
                sport: sp,
                dport: dp,
                flags: wire::tcp_flags::to_letters(flags).replace('-', ""),
                seq,
                ack,
                win: if mode & 4 == 4 { r.u16() } else { 65535 },
                urg: 0,
                options: TcpOptionsSpec::default(),
                payload: vec![b'x'; payload_len],
                bad_csum: mode & 8 == 8 && kind == 4,
            };
            if kind == 3 {
                t.options = TcpOptionsSpec {
                    mss: Some(1460),
                    sackok: true,
                    ts: Some((r.u32(), r.u32())),
                    wscale: Some(r.u8() % 16),
                    raw: None,
                };
            }
            if sport == 21 && kind == 2 && payload_len > 0 {
                // Something for the FTP helper to read.
                t.payload = format!(
                    "227 Entering Passive Mode (203,0,113,5,{},{})\r\n",
                    r.u8(),
                    r.u8()
                )
                .into_bytes();
            }
            build(IpSpec::new(src, dst), Transport::Tcp(t))
        }
        5 => build(
            IpSpec::new(src, dst),
            Transport::Udp(UdpSpec {
                sport: sp,
                dport: dp,
                payload: r.slice(16).to_vec(),
                bad_csum: r.u8() == 0xff,
                no_csum: false,
            }),
        ),
        6 => {
            let t = r.u8();
            let mut spec = IcmpSpec::echo(u16::from(sel >> 5), r.u16());
            spec.icmp_type = if t < 0xf0 {
                [8, 0, 13, 14][usize::from(t) % 4]
            } else {
                t
            };
            build(IpSpec::new(src, dst), Transport::Icmp(spec))
        }
        7 => {
            // An ICMP error quoting a packet of some flow (either way).
            let quoted = tcp(dst, dp, src, sp, "S", r.u32(), 0);
            let code = r.u8() % 16;
            let mut ip = IpSpec::new(src, dst);
            if r.bool() {
                // A fragment, to exercise reassembly.
                ip.frag = Some(r.u16() & 0x3fff);
            }
            build(
                ip,
                Transport::Icmp(IcmpSpec::error(
                    [3, 11, 12, 4][usize::from(code) % 4],
                    code,
                    &quoted,
                )),
            )
        }
        _ => {
            let mut b = r.slice(1600).to_vec();
            if !fix_ipv4_header(&mut b) {
                b.resize(20, 0);
                fix_ipv4_header(&mut b);
            }
            // Raw packets enter where their source lives (unless flipped above).
            let iface = side(b[12..15] == [192, 168, 1]);
            let tuple = wire::parse(&b)
                .ok()
                .map(|p| Tuple::addresses(p.ip.protocol, p.ip.src, p.ip.dst));
            return (iface, b, tuple);
        }
    };
    let tuple = wire::parse(&bytes)
        .ok()
        .map(|p| Tuple::addresses(p.ip.protocol, p.ip.src, p.ip.dst));
    (iface, bytes, tuple)
}

fn build(ip: IpSpec, transport: Transport) -> Vec<u8> {
    PacketSpec { ip, transport }
        .build()
        .expect("harness packets build")
}

// ---------------------------------------------------------------------------------
// invariants

/// What was in the table before a step.
pub struct Before {
    /// Assured entries: id → (tuples, expiry, closing).
    assured: Vec<(u32, [Tuple; 2], u64, bool)>,
    early_drop: u64,
    drop: u64,
}

impl Before {
    pub fn of(ct: &Conntrack, now: u64) -> Before {
        let _ = now;
        Before {
            assured: ct
                .entries()
                .filter(|e| e.is_assured())
                .map(|e| (e.id, [*e.original(), e.reply()], e.expires_ms, closing(e)))
                .collect(),
            early_drop: ct.stats().early_drop,
            drop: ct.stats().drop,
        }
    }
}

fn closing(e: &Entry) -> bool {
    e.tcp().is_some_and(|t| t.state.is_closing())
}

/// The longest timeout any entry can have, in milliseconds.
pub fn max_timeout_ms(s: &Settings) -> u64 {
    [
        s.tcp_timeout_syn_sent,
        s.tcp_timeout_syn_recv,
        s.tcp_timeout_established,
        s.tcp_timeout_fin_wait,
        s.tcp_timeout_close_wait,
        s.tcp_timeout_last_ack,
        s.tcp_timeout_time_wait,
        s.tcp_timeout_close,
        s.tcp_timeout_max_retrans,
        s.tcp_timeout_unacknowledged,
        s.udp_timeout,
        s.udp_timeout_stream,
        s.icmp_timeout,
        s.generic_timeout,
        s.gre_timeout,
        s.gre_timeout_stream,
    ]
    .into_iter()
    .map(u64::from)
    .max()
    .unwrap_or(0)
        * 1000
}

/// The table's invariants at `now`:
///
/// * it never holds more than its maximum;
/// * every entry's reply tuple is the inverse of its original, and both tuples find it;
/// * ids are unique; no timeout is longer than the longest setting (a timeout that went
///   "negative" and wrapped around would be);
/// * an ASSURED entry never disappears by early drop: one that vanished during the step
///   had expired, was the packet's own connection (closed by RST, reopened), or was a
///   closing TCP connection that the GC may evict after a "table full" drop;
/// * the drop counters never go backwards.
pub fn check(ct: &Conntrack, now: u64, before: Option<&Before>, touched: Option<&Tuple>) {
    let s = ct.settings();
    let n = ct.len();
    if s.max > 0 {
        assert!(
            n <= s.max as usize,
            "table holds {n} entries, maximum {}",
            s.max
        );
    }
    assert_eq!(ct.entries().count(), n);
    let limit = max_timeout_ms(s);
    let mut ids = HashSet::new();
    for e in ct.entries() {
        assert!(ids.insert(e.id), "duplicate id {}", e.id);
        assert!(
            e.original().invert().is_some(),
            "entry {} has no reply tuple",
            e.id
        );
        for (t, dir) in [(*e.original(), 0), (e.reply(), 1)] {
            let (hit, d) = ct.find(&t).expect("both tuples find their entry");
            assert_eq!(hit.id, e.id);
            // A tuple that is its own inverse (a packet from a host to itself) finds its
            // entry in either direction, as in the kernel.
            if *e.original() != e.reply() {
                assert_eq!(d.index(), dir);
            }
        }
        assert!(
            e.expires_ms.saturating_sub(now) <= limit,
            "entry {} times out in {} ms, beyond any setting",
            e.id,
            e.expires_ms.saturating_sub(now)
        );
        if e.is_assured() {
            assert!(e.has(status::CONFIRMED), "assured entries are confirmed");
        }
    }
    let Some(b) = before else {
        return;
    };
    let st = ct.stats();
    assert!(st.early_drop >= b.early_drop && st.drop >= b.drop);
    for (id, tuples, expires, was_closing) in &b.assured {
        if ids.contains(id) {
            continue;
        }
        let expired = *expires <= now;
        let own = touched.is_some_and(|t| {
            tuples.iter().any(|u| {
                u.protocol == t.protocol
                    && ((u.src, u.dst) == (t.src, t.dst) || (u.src, u.dst) == (t.dst, t.src))
            })
        });
        assert!(
            expired || own || *was_closing,
            "ASSURED entry {id} ({:?}) vanished: early-dropped?",
            tuples[0]
        );
    }
}

// ---------------------------------------------------------------------------------
// state import

/// Arbitrary bytes as a JSON snapshot: refused with an error, or imported into a
/// consistent tracker that then survives traffic and exports to the same snapshot.
pub fn snapshot(data: &[u8]) {
    let Ok(snap) = serde_json::from_slice::<Snapshot>(data) else {
        return;
    };
    import_checked(snap);
}

/// `Conntrack::import` on an arbitrary snapshot, and what must hold if it succeeds.
pub fn import_checked(snap: Snapshot) {
    let Ok(ct) = Conntrack::import(snap.clone()) else {
        return;
    };
    // Shortly before the first entry expires: the imported entries are still live.
    let now = ct.next_expiry().unwrap_or(0).saturating_sub(1000);
    check_imported(&ct);
    let again = Conntrack::import(ct.export()).expect("an export imports");
    assert_eq!(again.export(), ct.export());
    let mut fw = Firewall::with_rules(snap.settings.clone(), RULESETS[0]).expect("parses");
    *fw.conntrack_mut() = ct;
    for (i, (iface, pkt)) in sample_packets().iter().enumerate() {
        let t = now.saturating_add(i as u64 * 1000);
        let _ = fw.process(t, *iface, pkt);
        let _ = fw.conntrack_mut().render_proc(t);
    }
    fw.advance(now.saturating_add(1_000_000));
}

fn check_imported(ct: &Conntrack) {
    let s = ct.settings();
    if s.max > 0 {
        assert!(ct.len() <= s.max as usize);
    }
    for e in ct.entries() {
        assert!(e.original().invert().is_some());
        assert_eq!(ct.find(e.original()).map(|(x, _)| x.id), Some(e.id));
        assert_eq!(ct.find(&e.reply()).map(|(x, _)| x.id), Some(e.id));
    }
}
