//! What the tests share: the compiled component, the kernel fixtures, and the native
//! engine's results written as the WIT types the component returns.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use wasmwall::conntrack::{self as ct, status};
use wasmwall::firewall as nat;
use wasmwall::rules::{self, RejectWith, Verdict as NVerdict};
use wasmwall_host::*;

/// The component, compiled once per test binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().unwrap_or_else(|e| panic!("{e:#}")))
}

/// Every committed kernel-oracle trace, sorted by name.
pub fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../engine/tests/kernel");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".trace.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().replace(".trace.json", ""))
                .unwrap_or_default();
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (name, v)
        })
        .collect()
}

/// A config that gives the component exactly the native settings, with trace and events.
pub fn config_for(settings: &ct::Settings) -> Config {
    let names = runtime()
        .firewall(&config(0))
        .and_then(|mut f| f.settings())
        .unwrap();
    Config {
        max_entries: settings.max,
        settings: names
            .iter()
            .map(|s| Setting {
                name: s.name.clone(),
                value: settings.get(&s.name).unwrap().to_string(),
            })
            .collect(),
        trace: true,
        events: true,
    }
}

pub fn iface(i: nat::Iface) -> Iface {
    match i {
        nat::Iface::Lan => Iface::Lan,
        nat::Iface::Wan => Iface::Wan,
    }
}

fn sctp_state(s: ct::SctpState) -> SctpState {
    use ct::SctpState as S;
    match s {
        S::None => SctpState::None,
        S::Closed => SctpState::Closed,
        S::CookieWait => SctpState::CookieWait,
        S::CookieEchoed => SctpState::CookieEchoed,
        S::Established => SctpState::Established,
        S::ShutdownSent => SctpState::ShutdownSent,
        S::ShutdownRecd => SctpState::ShutdownRecd,
        S::ShutdownAckSent => SctpState::ShutdownAckSent,
        S::HeartbeatSent => SctpState::HeartbeatSent,
    }
}

fn tcp_state(s: ct::TcpState) -> TcpState {
    use ct::TcpState as T;
    match s {
        T::None => TcpState::None,
        T::SynSent => TcpState::SynSent,
        T::SynRecv => TcpState::SynRecv,
        T::Established => TcpState::Established,
        T::FinWait => TcpState::FinWait,
        T::CloseWait => TcpState::CloseWait,
        T::LastAck => TcpState::LastAck,
        T::TimeWait => TcpState::TimeWait,
        T::Close => TcpState::Close,
        T::SynSent2 => TcpState::SynSent2,
    }
}

fn ct_state(s: ct::CtState) -> CtState {
    match s {
        ct::CtState::New => CtState::New,
        ct::CtState::Established => CtState::Established,
        ct::CtState::Related => CtState::Related,
        ct::CtState::Invalid => CtState::Invalid,
        ct::CtState::Untracked => CtState::Untracked,
    }
}

fn reject_with(r: RejectWith) -> RejectWith_ {
    match r {
        RejectWith::TcpReset => RejectWith_::TcpReset,
        RejectWith::IcmpNetUnreachable => RejectWith_::IcmpNetUnreachable,
        RejectWith::IcmpHostUnreachable => RejectWith_::IcmpHostUnreachable,
        RejectWith::IcmpPortUnreachable => RejectWith_::IcmpPortUnreachable,
        RejectWith::IcmpProtoUnreachable => RejectWith_::IcmpProtoUnreachable,
        RejectWith::IcmpNetProhibited => RejectWith_::IcmpNetProhibited,
        RejectWith::IcmpHostProhibited => RejectWith_::IcmpHostProhibited,
        RejectWith::IcmpAdminProhibited => RejectWith_::IcmpAdminProhibited,
    }
}

/// The WIT's `reject-with`, renamed here to keep the engine's name for the engine's type.
type RejectWith_ = wasmwall_host::RejectWith;

/// The decision the component must return for a native decision (`trace` as recorded).
pub fn decision(d: &nat::Decision, trace: bool) -> Decision {
    Decision {
        outcome: match d.outcome {
            nat::Outcome::Forwarded => Outcome::Forwarded,
            nat::Outcome::Local => Outcome::Local,
            nat::Outcome::Dropped => Outcome::Dropped,
            nat::Outcome::Rejected => Outcome::Rejected,
        },
        ct_state: ct_state(d.ctstate),
        filter: d.filter.as_ref().map(|f| FilterDecision {
            verdict: match f.verdict {
                NVerdict::Accept => Verdict::Accept,
                NVerdict::Drop => Verdict::Drop,
                NVerdict::Reject(w) => Verdict::Reject(reject_with(w)),
            },
            chain: f.chain.to_string(),
            rule: f.rule.map(|r| r as u32),
            trace: if trace { f.trace() } else { Vec::new() },
            mark: f.mark,
        }),
        reason: d.reason.clone(),
        transition: d.transition.map(|(a, b)| Transition {
            before: tcp_state(a),
            after: tcp_state(b),
        }),
        entry_id: d.entry_id,
        created: d.created,
        emitted: d
            .emitted
            .iter()
            .map(|e| Emitted {
                iface: iface(e.iface),
                kind: match e.kind {
                    "forwarded" => EmittedKind::Forwarded,
                    "icmp_error" => EmittedKind::IcmpError,
                    "tcp_rst" => EmittedKind::TcpRst,
                    "reply" => EmittedKind::Reply,
                    other => panic!("the engine emitted a packet of unknown kind {other:?}"),
                },
                bytes: e.bytes.clone(),
            })
            .collect(),
        trace: if trace { d.explain() } else { Vec::new() },
    }
}

/// The error the component must return for a native one.
pub fn process_error(e: &nat::ProcessError) -> ProcessError {
    use wasmwall::wire::WireError as W;
    let nat::ProcessError::Wire(w) = e;
    ProcessError::BadPacket(match *w {
        W::TooShort { len } => WireError::TooShort(len as u32),
        W::NotIpv4 { version } => WireError::NotIpv4(version),
        W::BadHeaderLength { ihl } => WireError::BadHeaderLength(ihl),
        W::BadTotalLength {
            total_len,
            available,
        } => WireError::BadTotalLength(TotalLength {
            total_len,
            available: available as u32,
        }),
        W::BadHeaderChecksum => WireError::BadHeaderChecksum,
    })
}

pub fn result(
    r: &Result<nat::Decision, nat::ProcessError>,
    trace: bool,
) -> Result<Decision, ProcessError> {
    match r {
        Ok(d) => Ok(decision(d, trace)),
        Err(e) => Err(process_error(e)),
    }
}

fn tuple(t: &ct::Tuple) -> Tuple {
    let a = |ip: std::net::Ipv4Addr| {
        let [w, x, y, z] = ip.octets();
        (w, x, y, z)
    };
    Tuple {
        src: a(t.src),
        dst: a(t.dst),
        protocol: t.protocol,
        sport: t.sport,
        dport: t.dport,
    }
}

/// The status flags of a native entry, bit by bit in the kernel's order.
pub fn status_flags(bits: u32) -> Status {
    let all = [
        (status::EXPECTED, Status::EXPECTED),
        (status::SEEN_REPLY, Status::SEEN_REPLY),
        (status::ASSURED, Status::ASSURED),
        (status::CONFIRMED, Status::CONFIRMED),
        (status::SRC_NAT, Status::SRC_NAT),
        (status::DST_NAT, Status::DST_NAT),
        (status::SEQ_ADJUST, Status::SEQ_ADJUST),
        (status::SRC_NAT_DONE, Status::SRC_NAT_DONE),
        (status::DST_NAT_DONE, Status::DST_NAT_DONE),
        (status::DYING, Status::DYING),
        (status::FIXED_TIMEOUT, Status::FIXED_TIMEOUT),
        (status::TEMPLATE, Status::TEMPLATE),
        (status::UNTRACKED, Status::UNTRACKED),
        (status::HELPER, Status::HELPER),
        (status::OFFLOAD, Status::OFFLOAD),
        (status::HW_OFFLOAD, Status::HW_OFFLOAD),
    ];
    all.iter()
        .filter(|(bit, _)| bits & bit != 0)
        .fold(Status::empty(), |acc, (_, f)| acc | *f)
}

/// The entry the component must list for a native entry at `now_ms`.
pub fn entry(e: &ct::Entry, now_ms: u64) -> Entry {
    Entry {
        id: e.id,
        original: tuple(e.original()),
        reply: tuple(&e.reply()),
        status: status_flags(e.status),
        timeout_secs: e.timeout_secs(now_ms) as u32,
        expires_ms: e.expires_ms,
        start_ms: e.start_ms(),
        proto: match &e.proto {
            ct::ProtoState::Tcp(t) => ProtoState::Tcp(tcp_state(t.state)),
            ct::ProtoState::Udp { stream_after_ms } => ProtoState::Udp(*stream_after_ms),
            ct::ProtoState::Icmp => ProtoState::Icmp,
            ct::ProtoState::Gre {
                timeout_secs,
                stream_timeout_secs,
            } => ProtoState::Gre(GreTimeouts {
                timeout_secs: *timeout_secs,
                stream_timeout_secs: *stream_timeout_secs,
            }),
            ct::ProtoState::Sctp(s) => ProtoState::Sctp(sctp_state(s.state)),
            ct::ProtoState::UdpLite => ProtoState::Udplite,
            ct::ProtoState::Generic => ProtoState::Generic,
        },
        mark: e.mark,
        helper: e.helper.map(|ct::Helper::Ftp| Helper::Ftp),
        master: e.master.map(u32::from),
        original_traffic: e.counters().map(|c| Traffic {
            packets: c[0].0,
            bytes: c[0].1,
        }),
        reply_traffic: e.counters().map(|c| Traffic {
            packets: c[1].0,
            bytes: c[1].1,
        }),
    }
}

pub fn event(e: &ct::Event) -> Event {
    Event {
        kind: match e.kind {
            ct::EventKind::New => EventKind::New,
            ct::EventKind::Update => EventKind::Update,
            ct::EventKind::Destroy => EventKind::Destroy,
        },
        time_ms: e.time_ms,
        id: e.id,
        line: e.line.clone(),
    }
}

pub fn stats(s: ct::Stats) -> Stats {
    Stats {
        found: s.found,
        invalid: s.invalid,
        insert: s.insert,
        insert_failed: s.insert_failed,
        drop: s.drop,
        early_drop: s.early_drop,
        icmp_error: s.icmp_error,
        expect_new: s.expect_new,
        expect_create: s.expect_create,
        search_restart: s.search_restart,
    }
}

pub fn counters(c: &rules::Counters) -> Vec<TableCounters> {
    c.tables
        .iter()
        .map(|(table, t)| TableCounters {
            table: table.clone(),
            policies: t
                .policies
                .iter()
                .map(|(chain, p)| PolicyCounters {
                    chain: chain.clone(),
                    policy: p.policy.clone(),
                    packets: p.packets,
                    bytes: p.bytes,
                })
                .collect(),
            rules: t
                .rules
                .iter()
                .map(|r| RuleCounters {
                    chain: r.chain.clone(),
                    rule: r.rule.clone(),
                    packets: r.packets,
                    bytes: r.bytes,
                })
                .collect(),
        })
        .collect()
}

pub fn rules_error(e: &rules::RulesError) -> RulesError {
    RulesError {
        line: e.line as u32,
        column: e.column as u32,
        message: e.message.clone(),
    }
}

/// The `/proc/net/nf_conntrack_expect` text of a native tracker at `now_ms`.
pub fn expectations(c: &ct::Conntrack, now_ms: u64) -> String {
    let mut lines: Vec<String> = c
        .expectations()
        .iter()
        .map(|x| x.proc_line(now_ms) + "\n")
        .collect();
    lines.sort();
    lines.concat()
}

/// The magic and version `export-state` writes before the postcard-encoded snapshot.
pub const STATE_HEADER: &[u8] = b"WWCT\x02\x00";

/// State bytes for a native snapshot, in the component's format.
pub fn encode_state(s: &ct::Snapshot) -> Vec<u8> {
    let mut out = STATE_HEADER.to_vec();
    out.extend(postcard::to_allocvec(s).unwrap());
    out
}

/// A native snapshot from the component's state bytes.
pub fn decode_state(bytes: &[u8]) -> ct::Snapshot {
    assert_eq!(&bytes[..STATE_HEADER.len()], STATE_HEADER, "state header");
    postcard::from_bytes(&bytes[STATE_HEADER.len()..]).expect("state decodes")
}

/// A small deterministic generator for the fuzz-style tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The packets of every fixture, with their ingress interface.
pub fn fixture_packets() -> Vec<(nat::Iface, Vec<u8>)> {
    let mut out = Vec::new();
    for (_, trace) in fixtures() {
        for step in trace["steps"].as_array().into_iter().flatten() {
            if let Some(hex) = step["packet_hex"].as_str() {
                let from = nat::Iface::from_name(step["from"].as_str().unwrap_or("lan"))
                    .unwrap_or(nat::Iface::Lan);
                out.push((from, wasmwall::wire::decode_hex(hex).unwrap()));
            }
        }
    }
    out
}
