//! The simulation behind the page: a [`Scenario`] (rules, conntrack settings and a
//! timeline of events) and the firewall as it is after the first `cursor` events.
//!
//! Time is the engine's, in milliseconds from the start of the scenario. Each event
//! carries the moment it is scheduled for; an event is applied at that moment, or at
//! the current clock if the clock is already later (as the kernel-oracle recorder
//! does when it falls behind). After a packet the clock moves on by [`SETTLE_MS`], or
//! less when the next event comes sooner ([`settle_ms`]): the recorder reads
//! `/proc/net/nf_conntrack` 50 ms after writing each packet, so a fresh SYN_SENT entry
//! reads 119 s, as in the kernel's traces, while a capture whose packets are a
//! millisecond apart keeps its timing. A [`EventKind::Wait`] only moves the clock,
//! which lets entries expire.
//!
//! Undo is exact: the engine is deterministic, so the session keeps copies of the
//! firewall at some positions (every position for short timelines, sparser ones for
//! long timelines) and going back restores the nearest copy, then re-applies the
//! events after it.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmwall::conntrack::{Event as CtEvent, Tuple};
use wasmwall::rules::RulesError;
use wasmwall::wire::{self, proto, L4};
use wasmwall::{Decision, Firewall, Iface, Settings};

/// How long after a packet the table is read (the kernel-oracle's `collect_ms`).
pub const SETTLE_MS: u64 = 50;

/// How far the clock moves after the packet `events[index]`, applied at `at_ms`:
/// [`SETTLE_MS`], or up to the next event when that is sooner.
pub fn settle_ms(events: &[Event], index: usize, at_ms: u64) -> u64 {
    match events.get(index + 1) {
        Some(next) => next.at_ms.saturating_sub(at_ms).min(SETTLE_MS),
        None => SETTLE_MS,
    }
}

/// Firewall copies kept for undo before they are thinned out.
const MAX_CHECKPOINTS: usize = 64;

/// A number no other session state has had: see [`Session::revision`].
fn next_revision() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What happens at one point of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A raw IPv4 packet enters the router from `from`.
    Packet { from: Iface, bytes: Vec<u8> },
    /// Nothing is sent; the clock moves to the event's time.
    Wait,
}

/// One point of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When the event is scheduled, in engine milliseconds.
    pub at_ms: u64,
    pub kind: EventKind,
    /// What the event shows, for the reader (may be empty).
    pub note: String,
}

impl Event {
    pub fn packet(at_ms: u64, from: Iface, bytes: Vec<u8>, note: impl Into<String>) -> Event {
        Event {
            at_ms,
            kind: EventKind::Packet { from, bytes },
            note: note.into(),
        }
    }

    pub fn wait(at_ms: u64, note: impl Into<String>) -> Event {
        Event {
            at_ms,
            kind: EventKind::Wait,
            note: note.into(),
        }
    }
}

/// A ruleset, conntrack settings and a timeline: everything a link or a preset holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scenario {
    pub title: String,
    pub description: String,
    /// iptables-save text or guide-style lines.
    pub rules: String,
    /// Conntrack sysctls that differ from the defaults, `(name, value)` in any
    /// spelling [`Settings::set`] accepts (`max`, `nf_conntrack_max`...).
    pub sysctl: Vec<(String, String)>,
    pub events: Vec<Event>,
}

/// Why a scenario cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioError {
    Rules(RulesError),
    Setting(String),
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScenarioError::Rules(e) => write!(f, "{e}"),
            ScenarioError::Setting(e) => f.write_str(e),
        }
    }
}

impl Scenario {
    /// The conntrack settings: the kernel's defaults with [`Scenario::sysctl`] applied.
    pub fn settings(&self) -> Result<Settings, ScenarioError> {
        let mut s = Settings::default();
        for (k, v) in &self.sysctl {
            s.set(k, v)
                .map_err(|e| ScenarioError::Setting(e.to_string()))?;
        }
        Ok(s)
    }

    /// A router with the scenario's rules and settings and an empty table.
    pub fn firewall(&self) -> Result<Firewall, ScenarioError> {
        Firewall::with_rules(self.settings()?, &self.rules).map_err(ScenarioError::Rules)
    }

    /// The value of one sysctl override, if the scenario sets it.
    pub fn sysctl_value(&self, key: &str) -> Option<&str> {
        let short = Settings::short_name(key);
        self.sysctl
            .iter()
            .rev()
            .find(|(k, _)| Settings::short_name(k) == short)
            .map(|(_, v)| v.as_str())
    }

    /// The sysctl overrides with one of them set (or removed, with `None`).
    pub fn sysctl_with(&self, key: &str, value: Option<String>) -> Vec<(String, String)> {
        let short = Settings::short_name(key).to_string();
        let mut out: Vec<(String, String)> = self
            .sysctl
            .iter()
            .filter(|(k, _)| Settings::short_name(k) != short)
            .cloned()
            .collect();
        if let Some(v) = value {
            out.push((short, v));
        }
        out
    }
}

/// The state of a packet's connection after its step, for labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAfter {
    /// The TCP state name, for TCP.
    pub tcp_state: Option<&'static str>,
    pub unreplied: bool,
    pub assured: bool,
}

/// What applying one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Packet(Decision),
    /// The IP layer refused the bytes (the kernel's `ip_rcv` drops such a packet).
    BadPacket(String),
    Wait,
}

/// The result of one applied event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The event's index in the timeline.
    pub index: usize,
    /// When the event was applied.
    pub at_ms: u64,
    /// The clock after the event.
    pub clock_ms: u64,
    pub outcome: StepOutcome,
    /// What changed in the table, as `conntrack -E` reports it.
    pub ct_events: Vec<CtEvent>,
    /// The packet's own connection afterwards, when it has one in the table.
    pub conn_after: Option<ConnAfter>,
}

impl StepRecord {
    /// The decision, for packet steps the IP layer accepted.
    pub fn decision(&self) -> Option<&Decision> {
        match &self.outcome {
            StepOutcome::Packet(d) => Some(d),
            _ => None,
        }
    }

    pub fn is_packet(&self) -> bool {
        !matches!(self.outcome, StepOutcome::Wait)
    }
}

/// Sessions are compared by [`Session::revision`], so components can take one as a
/// property and re-render only when it changed.
impl PartialEq for Session {
    fn eq(&self, other: &Session) -> bool {
        self.revision == other.revision
    }
}

#[derive(Debug, Clone)]
struct Checkpoint {
    cursor: usize,
    clock_ms: u64,
    fw: Rc<Firewall>,
}

/// A scenario being stepped through. Cloning is cheap: the firewall, the scenario and
/// the records are shared until one of the copies changes them.
#[derive(Debug, Clone)]
pub struct Session {
    revision: u64,
    scenario: Rc<Scenario>,
    fw: Rc<Firewall>,
    clock_ms: u64,
    cursor: usize,
    records: Vec<Rc<StepRecord>>,
    /// Always holds position 0; positions are multiples of `interval`.
    checkpoints: Vec<Checkpoint>,
    interval: usize,
}

impl Session {
    /// A session at the start of `scenario`.
    pub fn new(scenario: Scenario) -> Result<Session, ScenarioError> {
        let fw = Rc::new(scenario.firewall()?);
        Ok(Session {
            revision: next_revision(),
            scenario: Rc::new(scenario),
            checkpoints: vec![Checkpoint {
                cursor: 0,
                clock_ms: 0,
                fw: fw.clone(),
            }],
            fw,
            clock_ms: 0,
            cursor: 0,
            records: Vec::new(),
            interval: 1,
        })
    }

    /// Changes whenever the session changes; equal revisions mean equal sessions.
    pub fn revision(&self) -> u64 {
        self.revision
    }
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }
    pub fn firewall(&self) -> &Firewall {
        &self.fw
    }
    /// The engine clock, in milliseconds.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }
    /// How many events have been applied.
    pub fn cursor(&self) -> usize {
        self.cursor
    }
    pub fn len(&self) -> usize {
        self.scenario.events.len()
    }
    pub fn is_empty(&self) -> bool {
        self.scenario.events.is_empty()
    }
    pub fn at_end(&self) -> bool {
        self.cursor >= self.len()
    }
    /// One record per applied event.
    pub fn records(&self) -> &[Rc<StepRecord>] {
        &self.records
    }
    /// The record of the last applied event that was a packet.
    pub fn last_packet(&self) -> Option<&StepRecord> {
        self.records
            .iter()
            .rev()
            .find(|r| r.is_packet())
            .map(|r| &**r)
    }
    /// The last applied event's record.
    pub fn last_record(&self) -> Option<&StepRecord> {
        self.records.last().map(|r| &**r)
    }

    /// Applies the next event; false at the end of the timeline.
    pub fn step(&mut self) -> bool {
        if self.at_end() {
            return false;
        }
        self.apply_next();
        true
    }

    /// Applies events while `more()` says so, up to the end; returns how many.
    pub fn step_while(&mut self, mut more: impl FnMut() -> bool) -> usize {
        let mut n = 0;
        while !self.at_end() && more() {
            self.apply_next();
            n += 1;
        }
        n
    }

    /// Undoes the last event exactly; false at the start.
    pub fn back(&mut self) -> bool {
        if self.cursor == 0 {
            return false;
        }
        self.seek(self.cursor - 1);
        true
    }

    /// Back to the start of the timeline (the events stay).
    pub fn reset(&mut self) {
        self.seek(0);
    }

    /// Moves to the state after the first `target` events (clamped to the timeline).
    pub fn seek(&mut self, target: usize) {
        let target = target.min(self.len());
        if target < self.cursor {
            self.revision = next_revision();
            self.checkpoints.retain(|c| c.cursor <= target);
            let cp = self
                .checkpoints
                .last()
                .cloned()
                .expect("the start is always kept");
            self.fw = cp.fw;
            self.clock_ms = cp.clock_ms;
            self.cursor = cp.cursor;
            self.records.truncate(cp.cursor);
        }
        while self.cursor < target {
            self.apply_next();
        }
    }

    /// Inserts an event at the current position and applies it. A packet is sent at the
    /// current clock; a wait lasts `delay_ms`. Events still ahead keep their spacing:
    /// they move later by as much as the new event moves the clock.
    pub fn insert(&mut self, kind: EventKind, note: impl Into<String>, delay_ms: u64) {
        let at_ms = self.clock_ms + delay_ms;
        let shift = match kind {
            EventKind::Packet { .. } => delay_ms + SETTLE_MS,
            EventKind::Wait => delay_ms,
        };
        let cursor = self.cursor;
        let scenario = Rc::make_mut(&mut self.scenario);
        for e in &mut scenario.events[cursor..] {
            e.at_ms += shift;
        }
        scenario.events.insert(
            cursor,
            Event {
                at_ms,
                kind,
                note: note.into(),
            },
        );
        self.apply_next();
    }

    /// Replaces the rules and sysctls and replays the timeline up to the same position
    /// against them. On error nothing changes.
    pub fn set_rules(
        &mut self,
        rules: &str,
        sysctl: Vec<(String, String)>,
    ) -> Result<(), ScenarioError> {
        let mut scenario = (*self.scenario).clone();
        scenario.rules = rules.to_string();
        scenario.sysctl = sysctl;
        let mut fresh = Session::new(scenario)?;
        fresh.seek(self.cursor);
        *self = fresh;
        Ok(())
    }

    /// Renames the scenario (what the preset menu shows for it).
    pub fn rename(&mut self, title: impl Into<String>) {
        self.revision = next_revision();
        Rc::make_mut(&mut self.scenario).title = title.into();
    }

    /// The moment the next table entry expires, if one does after the current clock.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.fw
            .conntrack()
            .next_expiry()
            .filter(|&t| t > self.clock_ms)
    }

    fn apply_next(&mut self) {
        self.revision = next_revision();
        let index = self.cursor;
        let event = &self.scenario.events[index];
        let at_ms = event.at_ms.max(self.clock_ms);
        let fw = Rc::make_mut(&mut self.fw);
        let (outcome, clock_ms) = match &event.kind {
            EventKind::Packet { from, bytes } => {
                let outcome = match fw.process(at_ms, *from, bytes) {
                    Ok(d) => StepOutcome::Packet(d),
                    Err(e) => StepOutcome::BadPacket(e.to_string()),
                };
                (
                    outcome,
                    at_ms + settle_ms(&self.scenario.events, index, at_ms),
                )
            }
            EventKind::Wait => (StepOutcome::Wait, at_ms),
        };
        fw.advance(clock_ms);
        let ct_events = fw.conntrack_mut().drain_events();
        let conn_after = match (&event.kind, &outcome) {
            (EventKind::Packet { bytes, .. }, StepOutcome::Packet(_)) => conn_after(fw, bytes),
            _ => None,
        };
        self.records.push(Rc::new(StepRecord {
            index,
            at_ms,
            clock_ms,
            outcome,
            ct_events,
            conn_after,
        }));
        self.clock_ms = clock_ms;
        self.cursor += 1;
        if self.cursor.is_multiple_of(self.interval) {
            self.checkpoints.push(Checkpoint {
                cursor: self.cursor,
                clock_ms,
                fw: self.fw.clone(),
            });
            if self.checkpoints.len() > MAX_CHECKPOINTS {
                self.interval *= 2;
                let interval = self.interval;
                self.checkpoints
                    .retain(|c| c.cursor.is_multiple_of(interval));
            }
        }
    }
}

/// The connection tuple a packet's first packet would create (TCP, UDP, ICMP queries).
pub fn packet_tuple(bytes: &[u8]) -> Option<Tuple> {
    let pkt = wire::parse(bytes).ok()?;
    let ip = &pkt.ip;
    match pkt.l4 {
        L4::Tcp(t) => Some(Tuple::ports(proto::TCP, ip.src, t.sport, ip.dst, t.dport)),
        L4::Udp(u) => Some(Tuple::ports(proto::UDP, ip.src, u.sport, ip.dst, u.dport)),
        L4::UdpLite(u) => Some(Tuple::ports(
            proto::UDPLITE,
            ip.src,
            u.sport,
            ip.dst,
            u.dport,
        )),
        L4::Sctp(h) => Some(Tuple::ports(proto::SCTP, ip.src, h.sport, ip.dst, h.dport)),
        L4::Icmp(i) if i.inner.is_none() => {
            Some(Tuple::icmp(ip.src, ip.dst, i.id(), i.icmp_type, i.code))
        }
        _ => None,
    }
}

fn conn_after(fw: &Firewall, bytes: &[u8]) -> Option<ConnAfter> {
    let tuple = packet_tuple(bytes)?;
    let (entry, _) = fw.conntrack().find(&tuple)?;
    Some(ConnAfter {
        tcp_state: entry.state_name(),
        unreplied: !entry.seen_reply(),
        assured: entry.is_assured(),
    })
}

/// The sequence and acknowledgement numbers a TCP segment from `src:sport` to
/// `dst:dport` needs to be in window: what the sender has sent so far (`td_end`) and
/// what the other side has. None when no connection is tracked for the tuple.
pub fn next_expected(
    fw: &Firewall,
    src: std::net::Ipv4Addr,
    sport: u16,
    dst: std::net::Ipv4Addr,
    dport: u16,
) -> Option<(u32, u32)> {
    let tuple = Tuple::ports(proto::TCP, src, sport, dst, dport);
    let (entry, dir) = fw.conntrack().find(&tuple)?;
    let tcp = entry.tcp()?;
    Some((
        tcp.seen[dir.index()].end,
        tcp.seen[dir.opposite().index()].end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmwall::wire::{IpSpec, PacketSpec, TcpSpec, Transport};

    const GUIDE: &str = "-P FORWARD DROP\n\
        -A FORWARD -m state --state INVALID -j DROP\n\
        -A FORWARD -d 192.168.1.0/24 -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
        -A FORWARD -s 192.168.1.0/24 -j ACCEPT";

    fn tcp(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        flags: &str,
        seq: u32,
        ack: u32,
    ) -> Vec<u8> {
        PacketSpec {
            ip: IpSpec::new(src.into(), dst.into()),
            transport: Transport::Tcp(TcpSpec {
                sport,
                dport,
                flags: flags.into(),
                seq,
                ack,
                win: 64240,
                urg: 0,
                options: Default::default(),
                payload: vec![],
                bad_csum: false,
            }),
        }
        .build()
        .unwrap()
    }

    fn handshake() -> Scenario {
        let (c, s) = ([192, 168, 1, 10], [203, 0, 113, 5]);
        Scenario {
            rules: GUIDE.into(),
            events: vec![
                Event::packet(0, Iface::Lan, tcp(c, 40000, s, 80, "S", 100, 0), "SYN"),
                Event::packet(
                    100,
                    Iface::Wan,
                    tcp(s, 80, c, 40000, "SA", 900, 101),
                    "SYN-ACK",
                ),
                Event::packet(200, Iface::Lan, tcp(c, 40000, s, 80, "A", 101, 901), "ACK"),
            ],
            ..Scenario::default()
        }
    }

    fn proc_text(s: &Session) -> String {
        s.firewall()
            .clone()
            .conntrack_mut()
            .render_proc(s.clock_ms())
    }

    #[test]
    fn steps_read_the_table_like_the_kernel_trace() {
        let mut s = Session::new(handshake()).unwrap();
        assert!(s.step());
        assert_eq!(s.clock_ms(), 50);
        assert!(
            proc_text(&s).contains(" 119 SYN_SENT "),
            "{}",
            proc_text(&s)
        );
        s.step();
        assert!(proc_text(&s).contains(" 59 SYN_RECV "));
        s.step();
        assert!(proc_text(&s).contains(" 431999 ESTABLISHED "));
        assert!(proc_text(&s).contains("[ASSURED]"));
        assert!(!s.step(), "the timeline has three events");
        let last = s.last_packet().unwrap();
        assert_eq!(
            last.conn_after,
            Some(ConnAfter {
                tcp_state: Some("ESTABLISHED"),
                unreplied: false,
                assured: true
            })
        );
    }

    #[test]
    fn back_restores_the_exact_previous_state() {
        let mut s = Session::new(handshake()).unwrap();
        s.step();
        s.step();
        let (text, clock, counters) =
            (proc_text(&s), s.clock_ms(), s.firewall().rules().save(true));
        s.step();
        assert_ne!(proc_text(&s), text);
        assert!(s.back());
        assert_eq!(
            (proc_text(&s), s.clock_ms(), s.firewall().rules().save(true)),
            (text, clock, counters)
        );
        assert_eq!(s.records().len(), 2);
        s.reset();
        assert_eq!(
            (s.cursor(), s.clock_ms(), proc_text(&s)),
            (0, 0, String::new())
        );
        assert!(!s.back());
    }

    #[test]
    fn long_timelines_keep_few_checkpoints_and_undo_exactly() {
        let mut scenario = handshake();
        let (c, s) = ([192, 168, 1, 10], [203, 0, 113, 5]);
        for i in 0..500u16 {
            scenario.events.push(Event::packet(
                300 + u64::from(i) * 10,
                Iface::Lan,
                tcp(c, 41000 + i, s, 80, "S", 1, 0),
                "",
            ));
        }
        let mut a = Session::new(scenario.clone()).unwrap();
        a.seek(503);
        assert!(a.checkpoints.len() <= MAX_CHECKPOINTS);
        assert!(a.interval > 1);
        a.back();
        a.back();
        let mut b = Session::new(scenario).unwrap();
        b.seek(501);
        assert_eq!(proc_text(&a), proc_text(&b));
        assert_eq!(a.records(), b.records());
        assert_eq!(a.clock_ms(), b.clock_ms());
    }

    #[test]
    fn inserted_events_apply_at_once_and_push_later_events_back() {
        let mut s = Session::new(handshake()).unwrap();
        s.step();
        let bytes = tcp([203, 0, 113, 9], 5555, [192, 168, 1, 10], 22, "S", 1, 0);
        s.insert(
            EventKind::Packet {
                from: Iface::Wan,
                bytes,
            },
            "inbound SYN",
            0,
        );
        let d = s.last_packet().unwrap().decision().unwrap();
        assert_eq!(d.outcome, wasmwall::Outcome::Dropped);
        assert_eq!(d.ctstate, wasmwall::CtState::New);
        assert_eq!(s.cursor(), 2);
        assert_eq!(s.clock_ms(), 100);
        assert_eq!(s.scenario().events[1].at_ms, 50);
        assert_eq!(
            s.scenario().events[2].at_ms,
            150,
            "the SYN-ACK moved by 50 ms"
        );

        s.insert(EventKind::Wait, "+10 s", 10_000);
        assert_eq!(s.clock_ms(), 10_100);
        assert_eq!(s.scenario().events[3].at_ms, 10_150);
        assert!(
            proc_text(&s).contains(" 109 SYN_SENT "),
            "{}",
            proc_text(&s)
        );
    }

    #[test]
    fn new_rules_replay_the_timeline_and_bad_rules_change_nothing() {
        let mut s = Session::new(handshake()).unwrap();
        s.step();
        let err = s.set_rules("-A FORWARD -j NOPE", vec![]).unwrap_err();
        let ScenarioError::Rules(e) = err else {
            panic!("not a rules error")
        };
        assert_eq!(e.line, 1);
        assert_eq!(s.scenario().rules, GUIDE);

        s.set_rules(
            "-P FORWARD DROP\n-A FORWARD -m state --state ESTABLISHED -j ACCEPT",
            vec![],
        )
        .unwrap();
        assert_eq!(s.cursor(), 1);
        let d = s.last_packet().unwrap().decision().unwrap();
        assert_eq!(
            d.outcome,
            wasmwall::Outcome::Dropped,
            "the SYN is NEW now dropped"
        );
        assert_eq!(proc_text(&s), "");

        let err = s
            .set_rules(GUIDE, vec![("tcp_nonsense".into(), "1".into())])
            .unwrap_err();
        assert!(matches!(err, ScenarioError::Setting(_)));
    }

    #[test]
    fn packets_closer_than_the_settle_time_keep_their_timing() {
        let mut scenario = handshake();
        for (i, e) in scenario.events.iter_mut().enumerate() {
            e.at_ms = i as u64;
        }
        let mut s = Session::new(scenario).unwrap();
        s.step();
        assert_eq!(s.clock_ms(), 1);
        s.step();
        assert_eq!(s.clock_ms(), 2);
        s.step();
        assert_eq!(s.clock_ms(), 2 + SETTLE_MS, "the last packet settles fully");
    }

    #[test]
    fn next_expected_numbers_come_from_the_tracked_connection() {
        let mut s = Session::new(handshake()).unwrap();
        s.seek(3);
        let c = [192, 168, 1, 10].into();
        let srv = [203, 0, 113, 5].into();
        assert_eq!(
            next_expected(s.firewall(), c, 40000, srv, 80),
            Some((101, 901))
        );
        assert_eq!(
            next_expected(s.firewall(), srv, 80, c, 40000),
            Some((901, 101))
        );
        assert_eq!(next_expected(s.firewall(), c, 40001, srv, 80), None);
    }

    #[test]
    fn waits_expire_entries_and_next_expiry_is_in_the_future() {
        let mut s = Session::new(handshake()).unwrap();
        s.step();
        let expiry = s.next_expiry_ms().unwrap();
        assert_eq!(expiry, 120_000);
        s.insert(EventKind::Wait, "", expiry - s.clock_ms());
        assert_eq!(proc_text(&s), "");
        assert_eq!(s.next_expiry_ms(), None);
        let destroyed = &s.last_record().unwrap().ct_events;
        assert_eq!(destroyed.len(), 1);
        assert_eq!(destroyed[0].kind, wasmwall::conntrack::EventKind::Destroy);
    }
}
