//! The WASI 0.2 component: the `wasmwall:firewall` WIT package (`wit/`) exported over
//! the engine's public API.
//!
//! Every WIT type mirrors one engine type; the conversions below match exhaustively,
//! so a variant added to the engine without its WIT counterpart does not compile.
//! No export traps on bad input: packets, rules, settings and state bytes are checked
//! and refused with typed errors, and nothing here unwraps or indexes.
//!
//! `export-state` writes a [`Snapshot`] as `MAGIC`, a little-endian `u16` format
//! version, then the snapshot in postcard's format: compact (varints, no field names),
//! deterministic, a stable documented wire format, and a few kilobytes of code where a
//! JSON encoder would cost several times that in component size.

#[cfg(not(feature = "serde"))]
compile_error!("the WASI component needs the engine's `serde` feature (on by default)");

wit_bindgen::generate!({
    path: "../wit",
    world: "firewall",
});

use crate::conntrack::{
    self, Conntrack, CtState, Entry, EventKind, ProtoState, SctpState, SettingError, Settings,
    Snapshot, SnapshotError, TcpState,
};
use crate::firewall::{self as fwl, Firewall, Iface, Outcome, ProcessError};
use crate::rules::{Policy, RejectWith, RulesError, Ruleset, TableKind, Verdict};
use crate::wire::WireError;
use core::cell::RefCell;
use exports::wasmwall::firewall::engine::{Guest, GuestFirewall};
use exports::wasmwall::firewall::types as w;
use std::net::Ipv4Addr;

/// The first bytes of exported state.
const MAGIC: &[u8; 4] = b"WWCT";
/// The version of the exported state's layout; bump it when [`Snapshot`] changes.
const STATE_VERSION: u16 = 2;
/// Times are clamped here, far from where `now + timeout` could overflow.
const MAX_NOW_MS: u64 = 1 << 60;
/// The largest TCP window scale (`TCP_MAX_WSCALE`); packets never carry more.
const MAX_WSCALE: u8 = 14;
/// The most hash buckets a table may have (`nf_conntrack_buckets`): 4 MiB of heads.
const MAX_BUCKETS: u32 = 1 << 20;

struct Component;

impl Guest for Component {
    type Firewall = FirewallResource;
}

export!(Component);

/// The `firewall` resource: the engine's router plus the component's own clock.
pub struct FirewallResource {
    state: RefCell<State>,
}

struct State {
    fw: Firewall,
    /// The largest `now-ms` seen.
    clock_ms: u64,
    trace: bool,
    events: bool,
}

impl State {
    fn tick(&mut self, now_ms: u64) -> u64 {
        let now = now_ms.min(MAX_NOW_MS);
        self.clock_ms = self.clock_ms.max(now);
        now
    }

    /// The packet's buffer is handed over: a forwarded packet goes back out in it.
    fn process(&mut self, now_ms: u64, ingress: w::Iface, bytes: Vec<u8>) -> ProcessResult {
        let now = self.tick(now_ms);
        match self.fw.process_owned(now, iface_from(ingress), bytes) {
            Ok(d) => Ok(decision(d, self.trace)),
            Err(e) => Err(process_error(e)),
        }
    }
}

type ProcessResult = Result<w::Decision, w::ProcessError>;

impl GuestFirewall for FirewallResource {
    fn new(config: w::Config) -> Result<Self, w::ConfigError> {
        let mut settings = Settings {
            max: config.max_entries,
            ..Settings::default()
        };
        for s in &config.settings {
            apply_setting(&mut settings, &s.name, &s.value)?;
        }
        let mut fw = Firewall::new(settings, Ruleset::default());
        fw.conntrack_mut().set_record_events(config.events);
        fw.set_tracing(config.trace);
        Ok(FirewallResource {
            state: RefCell::new(State {
                fw,
                clock_ms: 0,
                trace: config.trace,
                events: config.events,
            }),
        })
    }

    fn load_rules(&self, text: String) -> Result<w::RulesetInfo, w::RulesError> {
        let mut st = self.state.borrow_mut();
        st.fw.load_rules(&text).map_err(rules_error)?;
        Ok(ruleset_info(st.fw.rules()))
    }

    fn save_rules(&self, with_counters: bool) -> String {
        self.state.borrow().fw.rules().save(with_counters)
    }

    fn counters(&self) -> Vec<w::TableCounters> {
        let counters = self.state.borrow().fw.rules().counters();
        counters
            .tables
            .into_iter()
            .map(|(table, t)| w::TableCounters {
                table,
                policies: t
                    .policies
                    .into_iter()
                    .map(|(chain, p)| w::PolicyCounters {
                        chain,
                        policy: p.policy,
                        packets: p.packets,
                        bytes: p.bytes,
                    })
                    .collect(),
                rules: t
                    .rules
                    .into_iter()
                    .map(|r| w::RuleCounters {
                        chain: r.chain,
                        rule: r.rule,
                        packets: r.packets,
                        bytes: r.bytes,
                    })
                    .collect(),
            })
            .collect()
    }

    fn process(&self, now_ms: u64, ingress: w::Iface, bytes: Vec<u8>) -> ProcessResult {
        self.state.borrow_mut().process(now_ms, ingress, bytes)
    }

    fn process_batch(&self, packets: Vec<w::Packet>) -> Vec<ProcessResult> {
        let mut st = self.state.borrow_mut();
        packets
            .into_iter()
            .map(|p| st.process(p.now_ms, p.ingress, p.bytes))
            .collect()
    }

    fn advance(&self, now_ms: u64) {
        let mut st = self.state.borrow_mut();
        let now = st.tick(now_ms);
        st.fw.advance(now);
    }

    fn flush(&self, now_ms: u64) {
        let mut st = self.state.borrow_mut();
        let now = st.tick(now_ms);
        st.fw.conntrack_mut().flush(now);
    }

    fn set_setting(&self, name: String, value: String) -> Result<(), w::ConfigError> {
        let mut st = self.state.borrow_mut();
        let mut settings = st.fw.conntrack().settings().clone();
        apply_setting(&mut settings, &name, &value)?;
        *st.fw.conntrack_mut().settings_mut() = settings;
        Ok(())
    }

    fn settings(&self) -> Vec<w::Setting> {
        let st = self.state.borrow();
        let settings = st.fw.conntrack().settings();
        setting_names()
            .iter()
            .filter_map(|name| {
                settings.get(name).map(|v| w::Setting {
                    name: (*name).to_string(),
                    value: v.to_string(),
                })
            })
            .collect()
    }

    fn entries(&self) -> Vec<w::Entry> {
        let mut st = self.state.borrow_mut();
        let now = st.clock_ms;
        st.fw.advance(now);
        st.fw
            .conntrack()
            .sorted_entries()
            .into_iter()
            .map(|e| entry(e, now))
            .collect()
    }

    fn render_table(&self) -> String {
        let mut st = self.state.borrow_mut();
        let now = st.clock_ms;
        st.fw.conntrack_mut().render_proc(now)
    }

    fn render_expectations(&self) -> String {
        let st = self.state.borrow();
        let mut lines: Vec<String> = st
            .fw
            .conntrack()
            .expectations()
            .iter()
            .map(|x| x.proc_line(st.clock_ms) + "\n")
            .collect();
        crate::sort::sort_by(&mut lines, String::cmp);
        lines.concat()
    }

    fn drain_events(&self) -> Vec<w::Event> {
        let mut st = self.state.borrow_mut();
        st.fw
            .conntrack_mut()
            .drain_events()
            .into_iter()
            .map(|e| w::Event {
                kind: match e.kind {
                    EventKind::New => w::EventKind::New,
                    EventKind::Update => w::EventKind::Update,
                    EventKind::Destroy => w::EventKind::Destroy,
                },
                time_ms: e.time_ms,
                id: e.id,
                line: e.line,
            })
            .collect()
    }

    fn stats(&self) -> w::Stats {
        let s = self.state.borrow().fw.conntrack().stats();
        w::Stats {
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

    fn export_state(&self) -> Vec<u8> {
        let snapshot = self.state.borrow().fw.conntrack().export();
        let mut out = Vec::with_capacity(64 + 96 * snapshot.entries.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&STATE_VERSION.to_le_bytes());
        // Every type in a snapshot has a postcard encoding, so this cannot fail; were it
        // to, the empty result would be refused by `import-state` as malformed.
        postcard::to_extend(&snapshot, out).unwrap_or_default()
    }

    fn import_state(&self, bytes: Vec<u8>) -> Result<(), w::StateError> {
        let snapshot = decode_state(&bytes)?;
        let mut ct = Conntrack::import(snapshot).map_err(snapshot_error)?;
        let mut st = self.state.borrow_mut();
        ct.set_record_events(st.events);
        *st.fw.conntrack_mut() = ct;
        Ok(())
    }
}

/// Checks the header, decodes the snapshot and its settings' ranges.
fn decode_state(bytes: &[u8]) -> Result<Snapshot, w::StateError> {
    let malformed = |m: &str| w::StateError::Malformed(m.to_string());
    let Some((magic, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(malformed("too short for a wasmwall state header"));
    };
    if magic != MAGIC {
        return Err(malformed("not wasmwall state (bad magic bytes)"));
    }
    let Some((version, body)) = rest.split_first_chunk::<2>() else {
        return Err(malformed("too short for a wasmwall state header"));
    };
    let version = u16::from_le_bytes(*version);
    if version != STATE_VERSION {
        return Err(w::StateError::UnsupportedVersion(version));
    }
    let (snapshot, trailing) = postcard::take_from_bytes::<Snapshot>(body)
        .map_err(|e| w::StateError::Malformed(format!("cannot decode the state: {e}")))?;
    if !trailing.is_empty() {
        return Err(w::StateError::Malformed(format!(
            "{} bytes after the end of the state",
            trailing.len()
        )));
    }
    if let Err(bad) = check_ranges(&snapshot.settings) {
        return Err(w::StateError::BadSetting(bad));
    }
    for e in &snapshot.entries {
        if let ProtoState::Tcp(t) = &e.proto {
            let [original, reply] = &t.seen;
            let scales = [original.scale, reply.scale, t.last_wscale];
            if let Some(s) = scales.iter().find(|s| **s > MAX_WSCALE) {
                return Err(w::StateError::Malformed(format!(
                    "entry {}: window scale {s} above {MAX_WSCALE}",
                    e.id
                )));
            }
        }
    }
    Ok(snapshot)
}

/// Settings the engine stores but whose size the component bounds: the bucket count
/// is allocated up front.
fn check_ranges(s: &Settings) -> Result<(), w::Setting> {
    if s.buckets > MAX_BUCKETS {
        return Err(w::Setting {
            name: "buckets".into(),
            value: s.buckets.to_string(),
        });
    }
    Ok(())
}

fn apply_setting(settings: &mut Settings, name: &str, value: &str) -> Result<(), w::ConfigError> {
    settings.set(name, value).map_err(|e| match e {
        SettingError::Unknown(n) => w::ConfigError::UnknownSetting(n),
        SettingError::BadValue { name, value } => {
            w::ConfigError::BadValue(w::Setting { name, value })
        }
    })?;
    check_ranges(settings).map_err(|_| {
        w::ConfigError::BadValue(w::Setting {
            name: name.to_string(),
            value: value.to_string(),
        })
    })
}

/// The names of every setting: the fields of [`Settings`], which are the short
/// sysctl names [`Settings::get`] reads.
fn setting_names() -> &'static [&'static str] {
    use serde::de::{self, Deserializer, Visitor};

    /// A deserializer that only learns which fields a struct has.
    struct FieldNames(Option<&'static [&'static str]>);

    #[derive(Debug)]
    struct Stop;
    impl core::fmt::Display for Stop {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("field names collected")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<T: core::fmt::Display>(_: T) -> Self {
            Stop
        }
    }

    impl<'de> Deserializer<'de> for &mut FieldNames {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut names = FieldNames(None);
    let _ = <Settings as serde::Deserialize>::deserialize(&mut names);
    names.0.unwrap_or(&[])
}

fn iface_from(i: w::Iface) -> Iface {
    match i {
        w::Iface::Lan => Iface::Lan,
        w::Iface::Wan => Iface::Wan,
    }
}

fn iface_to(i: Iface) -> w::Iface {
    match i {
        Iface::Lan => w::Iface::Lan,
        Iface::Wan => w::Iface::Wan,
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn ct_state(s: CtState) -> w::CtState {
    match s {
        CtState::New => w::CtState::New,
        CtState::Established => w::CtState::Established,
        CtState::Related => w::CtState::Related,
        CtState::Invalid => w::CtState::Invalid,
        CtState::Untracked => w::CtState::Untracked,
    }
}

fn tcp_state(s: TcpState) -> w::TcpState {
    match s {
        TcpState::None => w::TcpState::None,
        TcpState::SynSent => w::TcpState::SynSent,
        TcpState::SynRecv => w::TcpState::SynRecv,
        TcpState::Established => w::TcpState::Established,
        TcpState::FinWait => w::TcpState::FinWait,
        TcpState::CloseWait => w::TcpState::CloseWait,
        TcpState::LastAck => w::TcpState::LastAck,
        TcpState::TimeWait => w::TcpState::TimeWait,
        TcpState::Close => w::TcpState::Close,
        TcpState::SynSent2 => w::TcpState::SynSent2,
    }
}

fn sctp_state(s: SctpState) -> w::SctpState {
    match s {
        SctpState::None => w::SctpState::None,
        SctpState::Closed => w::SctpState::Closed,
        SctpState::CookieWait => w::SctpState::CookieWait,
        SctpState::CookieEchoed => w::SctpState::CookieEchoed,
        SctpState::Established => w::SctpState::Established,
        SctpState::ShutdownSent => w::SctpState::ShutdownSent,
        SctpState::ShutdownRecd => w::SctpState::ShutdownRecd,
        SctpState::ShutdownAckSent => w::SctpState::ShutdownAckSent,
        SctpState::HeartbeatSent => w::SctpState::HeartbeatSent,
    }
}

fn reject_with(r: RejectWith) -> w::RejectWith {
    match r {
        RejectWith::TcpReset => w::RejectWith::TcpReset,
        RejectWith::IcmpNetUnreachable => w::RejectWith::IcmpNetUnreachable,
        RejectWith::IcmpHostUnreachable => w::RejectWith::IcmpHostUnreachable,
        RejectWith::IcmpPortUnreachable => w::RejectWith::IcmpPortUnreachable,
        RejectWith::IcmpProtoUnreachable => w::RejectWith::IcmpProtoUnreachable,
        RejectWith::IcmpNetProhibited => w::RejectWith::IcmpNetProhibited,
        RejectWith::IcmpHostProhibited => w::RejectWith::IcmpHostProhibited,
        RejectWith::IcmpAdminProhibited => w::RejectWith::IcmpAdminProhibited,
    }
}

fn decision(d: fwl::Decision, trace: bool) -> w::Decision {
    let explained = if trace { d.explain() } else { Vec::new() };
    w::Decision {
        outcome: match d.outcome {
            Outcome::Forwarded => w::Outcome::Forwarded,
            Outcome::Local => w::Outcome::Local,
            Outcome::Dropped => w::Outcome::Dropped,
            Outcome::Rejected => w::Outcome::Rejected,
        },
        ct_state: ct_state(d.ctstate),
        filter: d.filter.map(|f| w::FilterDecision {
            verdict: match f.verdict {
                Verdict::Accept => w::Verdict::Accept,
                Verdict::Drop => w::Verdict::Drop,
                Verdict::Reject(with) => w::Verdict::Reject(reject_with(with)),
            },
            trace: if trace { f.trace() } else { Vec::new() },
            chain: String::from(&*f.chain),
            rule: f.rule.map(to_u32),
            mark: f.mark,
        }),
        reason: d.reason,
        transition: d.transition.map(|(before, after)| w::Transition {
            before: tcp_state(before),
            after: tcp_state(after),
        }),
        entry_id: d.entry_id,
        created: d.created,
        emitted: d
            .emitted
            .into_iter()
            .map(|e| w::Emitted {
                iface: iface_to(e.iface),
                // The engine names the four kinds it emits; anything else is the
                // packet going on its way.
                kind: match e.kind {
                    "icmp_error" => w::EmittedKind::IcmpError,
                    "tcp_rst" => w::EmittedKind::TcpRst,
                    "reply" => w::EmittedKind::Reply,
                    _ => w::EmittedKind::Forwarded,
                },
                bytes: e.bytes,
            })
            .collect(),
        trace: explained,
    }
}

fn process_error(e: ProcessError) -> w::ProcessError {
    match e {
        ProcessError::Wire(e) => w::ProcessError::BadPacket(match e {
            WireError::TooShort { len } => w::WireError::TooShort(to_u32(len)),
            WireError::NotIpv4 { version } => w::WireError::NotIpv4(version),
            WireError::BadHeaderLength { ihl } => w::WireError::BadHeaderLength(ihl),
            WireError::BadTotalLength {
                total_len,
                available,
            } => w::WireError::BadTotalLength(w::TotalLength {
                total_len,
                available: to_u32(available),
            }),
            WireError::BadHeaderChecksum => w::WireError::BadHeaderChecksum,
        }),
    }
}

fn rules_error(e: RulesError) -> w::RulesError {
    w::RulesError {
        line: to_u32(e.line),
        column: to_u32(e.column),
        message: e.message,
    }
}

fn ruleset_info(r: &Ruleset) -> w::RulesetInfo {
    let chains = [TableKind::Raw, TableKind::Filter]
        .into_iter()
        .filter_map(|kind| r.table(kind))
        .flat_map(|t| {
            t.chains.iter().map(|c| w::ChainInfo {
                table: t.kind.name().to_string(),
                name: c.name.to_string(),
                policy: c.policy.map(|p| match p {
                    Policy::Accept => w::Policy::Accept,
                    Policy::Drop => w::Policy::Drop,
                }),
                rules: to_u32(c.rules.len()),
            })
        })
        .collect();
    w::RulesetInfo {
        tracking: r.uses_conntrack(),
        chains,
    }
}

fn address(a: Ipv4Addr) -> w::Ipv4Address {
    let [x, y, z, t] = a.octets();
    (x, y, z, t)
}

fn tuple(t: &conntrack::Tuple) -> w::Tuple {
    w::Tuple {
        src: address(t.src),
        dst: address(t.dst),
        protocol: t.protocol,
        sport: t.sport,
        dport: t.dport,
    }
}

fn traffic((packets, bytes): (u64, u64)) -> w::Traffic {
    w::Traffic { packets, bytes }
}

fn entry(e: &Entry, now_ms: u64) -> w::Entry {
    w::Entry {
        id: e.id,
        original: tuple(e.original()),
        reply: tuple(&e.reply()),
        // The WIT flags are declared in the order of the kernel's status bits.
        status: w::Status::from_bits_truncate((e.status & 0xffff) as u16),
        timeout_secs: u32::try_from(e.timeout_secs(now_ms)).unwrap_or(u32::MAX),
        expires_ms: e.expires_ms,
        start_ms: e.start_ms(),
        proto: match &e.proto {
            ProtoState::Tcp(t) => w::ProtoState::Tcp(tcp_state(t.state)),
            ProtoState::Udp { stream_after_ms } => w::ProtoState::Udp(*stream_after_ms),
            ProtoState::Icmp => w::ProtoState::Icmp,
            ProtoState::Gre {
                timeout_secs,
                stream_timeout_secs,
            } => w::ProtoState::Gre(w::GreTimeouts {
                timeout_secs: *timeout_secs,
                stream_timeout_secs: *stream_timeout_secs,
            }),
            ProtoState::Sctp(s) => w::ProtoState::Sctp(sctp_state(s.state)),
            ProtoState::UdpLite => w::ProtoState::Udplite,
            ProtoState::Generic => w::ProtoState::Generic,
        },
        mark: e.mark,
        helper: e.helper.map(|h| match h {
            conntrack::Helper::Ftp => w::Helper::Ftp,
        }),
        master: e.master.map(u32::from),
        original_traffic: e.counters().map(|c| traffic(c[0])),
        reply_traffic: e.counters().map(|c| traffic(c[1])),
    }
}

fn snapshot_error(e: SnapshotError) -> w::StateError {
    match e {
        SnapshotError::TooManyEntries { entries, max } => {
            w::StateError::TooManyEntries(w::EntryCount {
                entries: to_u32(entries),
                max,
            })
        }
        SnapshotError::NoReplyTuple { id } => w::StateError::NoReplyTuple(id),
        SnapshotError::DuplicateTuple { id } => w::StateError::DuplicateTuple(id),
        SnapshotError::BadId { id } => w::StateError::BadId(id),
        SnapshotError::ProtocolMismatch { id } => w::StateError::ProtocolMismatch(id),
    }
}
