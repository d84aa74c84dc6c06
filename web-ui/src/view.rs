//! What the panels show, computed from a [`Session`]: plain data that the components
//! render and compare cheaply, and that tests can check without a browser.

use std::rc::Rc;

use wasmwall::conntrack::{proc, EventKind as CtEventKind, Stats, Tuple};
use wasmwall::rules::{FilterDecision, TableKind, Verdict};
use wasmwall::wire::proto;
use wasmwall::{Firewall, Iface, Outcome};

use crate::dissect;
use crate::session::{EventKind, Session, StepOutcome, StepRecord};

/// `12.345 s`.
pub fn fmt_time(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// The verdict text and the `-m state` class of a step, as the page's verdict shows
/// them: `ACCEPT` (forwarded or delivered), `DROP` or `REJECT` (answered with an ICMP
/// error or a reset). None for a step that only waits.
pub fn verdict_of(record: &StepRecord) -> Option<(&'static str, &'static str)> {
    match &record.outcome {
        StepOutcome::Packet(d) => Some((
            match d.outcome {
                Outcome::Forwarded | Outcome::Local => "ACCEPT",
                Outcome::Dropped => "DROP",
                Outcome::Rejected => "REJECT",
            },
            d.ctstate.name(),
        )),
        StepOutcome::BadPacket(_) => Some(("DROP", "INVALID")),
        StepOutcome::Wait => None,
    }
}

/// The conntrack state after a packet, as the diagram labels its arrow: the TCP state
/// of its connection, otherwise the packet's `-m state` class.
pub fn state_after(record: &StepRecord) -> String {
    match &record.outcome {
        StepOutcome::Packet(d) => {
            if d.reason.as_deref() == Some(wasmwall::conntrack::TABLE_FULL) {
                return "table full".into();
            }
            match record.conn_after.and_then(|c| c.tcp_state) {
                Some(state) if d.ctstate != wasmwall::CtState::Invalid => state.into(),
                _ => d.ctstate.name().into(),
            }
        }
        StepOutcome::BadPacket(_) => "bad IPv4 header".into(),
        StepOutcome::Wait => String::new(),
    }
}

/// What the last step did to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    New,
    Updated,
}

/// One row of the conntrack table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtRow {
    pub id: u32,
    /// `tcp`, `udp`, `icmp`...
    pub proto: &'static str,
    pub protonum: u8,
    /// Whole seconds left.
    pub timeout: u64,
    /// The TCP state, for TCP entries.
    pub state: Option<&'static str>,
    /// The tuples; [`tuple_text`] prints them. Kept as values so that building the
    /// rows is cheap and only rows that changed format their text.
    pub original: Tuple,
    pub reply: Tuple,
    pub unreplied: bool,
    pub assured: bool,
    pub mark: u32,
    pub change: Option<Change>,
}

impl CtRow {
    /// `UNREPLIED`, `ASSURED`, both or neither, space-separated.
    pub fn flags(&self) -> String {
        let mut f = Vec::new();
        if self.unreplied {
            f.push("UNREPLIED");
        }
        if self.assured {
            f.push("ASSURED");
        }
        f.join(" ")
    }
}

/// `src=192.168.1.10 dst=203.0.113.5 sport=40001 dport=80`, as conntrack prints a tuple.
pub fn tuple_text(t: &Tuple) -> String {
    match t.protocol {
        proto::TCP | proto::UDP | proto::UDPLITE => format!(
            "src={} dst={} sport={} dport={}",
            t.src, t.dst, t.sport, t.dport
        ),
        proto::ICMP => format!(
            "src={} dst={} type={} code={} id={}",
            t.src,
            t.dst,
            t.icmp_type(),
            t.icmp_code(),
            t.icmp_id()
        ),
        _ => format!("src={} dst={}", t.src, t.dst),
    }
}

/// The conntrack panel's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableView {
    pub rows: Vec<Rc<CtRow>>,
    /// Exactly `/proc/net/nf_conntrack`.
    pub raw: String,
    pub max: u32,
    pub stats: Stats,
    /// Entries the last step removed, as `conntrack -E` printed them.
    pub removed: Vec<String>,
    /// `/proc/net/nf_conntrack_expect` lines.
    pub expectations: Vec<String>,
    /// When the next entry expires.
    pub next_expiry_ms: Option<u64>,
}

pub fn table_view(session: &Session) -> TableView {
    let fw = session.firewall();
    let ct = fw.conntrack();
    let now = session.clock_ms();
    let last = session.last_record();
    let change_of = |id: u32| {
        let events = last.map(|r| r.ct_events.as_slice()).unwrap_or_default();
        let mut change = None;
        for e in events.iter().filter(|e| e.id == id) {
            change = match (change, e.kind) {
                (_, CtEventKind::New) | (Some(Change::New), _) => Some(Change::New),
                (_, CtEventKind::Update) => Some(Change::Updated),
                (c, CtEventKind::Destroy) => c,
            };
        }
        change
    };
    let entries = ct.sorted_entries();
    let mut raw = String::with_capacity(entries.len() * 180);
    let rows = entries
        .iter()
        .map(|e| {
            raw.push_str(&proc::proc_line(e, now));
            raw.push('\n');
            Rc::new(CtRow {
                id: e.id,
                proto: proc::l4_name(e.original().protocol),
                protonum: e.original().protocol,
                timeout: e.timeout_secs(now),
                state: e.state_name(),
                original: *e.original(),
                reply: e.reply(),
                unreplied: !e.seen_reply(),
                assured: e.is_assured(),
                mark: e.mark,
                change: change_of(e.id),
            })
        })
        .collect();
    let removed = last
        .map(|r| {
            r.ct_events
                .iter()
                .filter(|e| e.kind == CtEventKind::Destroy)
                .map(|e| e.line.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut expectations: Vec<String> =
        ct.expectations().iter().map(|x| x.proc_line(now)).collect();
    expectations.sort();
    TableView {
        rows,
        raw,
        max: ct.settings().max,
        stats: ct.stats(),
        removed,
        expectations,
        next_expiry_ms: session.next_expiry_ms(),
    }
}

/// One line of the loaded ruleset: a chain's policy or a rule, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub table: &'static str,
    pub chain: String,
    /// 1-based rule number; None for the chain's policy line.
    pub number: Option<usize>,
    /// `-A FORWARD -m state --state INVALID -j DROP`, or `:FORWARD DROP`.
    pub text: String,
    pub packets: u64,
    pub bytes: u64,
    /// This rule (or policy) decided the packet being explained.
    pub decisive: bool,
}

/// The loaded tables with their counters, raw first, as iptables-save lists them.
pub fn rules_view(fw: &Firewall, decision: Option<&FilterDecision>) -> Vec<RuleRow> {
    let mut out = Vec::new();
    for kind in [TableKind::Raw, TableKind::Filter] {
        let Some(table) = fw.rules().table(kind) else {
            continue;
        };
        for chain in &table.chains {
            let decides = |number: Option<usize>| {
                kind == TableKind::Filter
                    && decision.is_some_and(|d| d.chain == chain.name && d.rule == number)
            };
            if let Some(policy) = chain.policy {
                out.push(RuleRow {
                    table: kind.name(),
                    chain: chain.name.to_string(),
                    number: None,
                    text: format!(":{} {}", chain.name, policy.name()),
                    packets: chain.packets,
                    bytes: chain.bytes,
                    decisive: decides(None),
                });
            }
            for (i, rule) in chain.rules.iter().enumerate() {
                out.push(RuleRow {
                    table: kind.name(),
                    chain: chain.name.to_string(),
                    number: Some(i + 1),
                    text: rule.text(&chain.name),
                    packets: rule.packets,
                    bytes: rule.bytes,
                    decisive: decides(Some(i + 1)),
                });
            }
        }
    }
    out
}

/// `ACCEPT`, `DROP` or `REJECT` for a filter verdict.
pub fn filter_verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "ACCEPT",
        Verdict::Drop => "DROP",
        Verdict::Reject(_) => "REJECT",
    }
}

/// One event of the timeline as the list and the diagram show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineItem {
    pub index: usize,
    /// When it was applied, or is scheduled.
    pub at_ms: u64,
    pub applied: bool,
    /// The side a packet enters from; None for a wait.
    pub from: Option<Iface>,
    pub summary: String,
    /// TCP flags or protocol, for the diagram.
    pub label: String,
    pub note: String,
    /// (verdict, ctstate) once applied.
    pub verdict: Option<(&'static str, &'static str)>,
    /// The conntrack state after it, once applied.
    pub state_after: String,
}

/// The events in `range` of the timeline.
pub fn timeline_items(session: &Session, range: std::ops::Range<usize>) -> Vec<TimelineItem> {
    let events = &session.scenario().events;
    let range = range.start.min(events.len())..range.end.min(events.len());
    range
        .map(|index| {
            let e = &events[index];
            let record = session.records().get(index);
            let (from, summary, label) = match &e.kind {
                EventKind::Packet { from, bytes } => (
                    Some(*from),
                    dissect::summary(bytes),
                    dissect::short_label(bytes),
                ),
                EventKind::Wait => (
                    None,
                    format!("wait until {}", fmt_time(e.at_ms)),
                    "wait".into(),
                ),
            };
            TimelineItem {
                index,
                at_ms: record.map_or(e.at_ms, |r| r.at_ms),
                applied: record.is_some(),
                from,
                summary,
                label,
                note: e.note.clone(),
                verdict: record.and_then(|r| verdict_of(r)),
                state_after: record.map(|r| state_after(r)).unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    fn handshake() -> Session {
        Session::new(presets::preset("tcp-handshake").unwrap().scenario()).unwrap()
    }

    #[test]
    fn table_rows_follow_the_handshake() {
        let mut s = handshake();
        s.step();
        let t = table_view(&s);
        assert_eq!(t.rows.len(), 1);
        let r = &t.rows[0];
        assert_eq!(
            (r.proto, r.state, r.timeout),
            ("tcp", Some("SYN_SENT"), 119)
        );
        assert_eq!(r.flags(), "UNREPLIED");
        assert_eq!(r.change, Some(Change::New));
        assert_eq!(
            tuple_text(&r.original),
            "src=192.168.1.10 dst=203.0.113.5 sport=40001 dport=80"
        );
        assert!(t
            .raw
            .starts_with("ipv4     2 tcp      6 119 SYN_SENT src=192.168.1.10 "));
        assert!(t.raw.ends_with("mark=0 zone=0 use=2\n"));
        assert_eq!(t.max, 4096);

        s.step();
        s.step();
        let t = table_view(&s);
        let r = &t.rows[0];
        assert_eq!((r.state, r.timeout), (Some("ESTABLISHED"), 431999));
        assert_eq!(r.flags(), "ASSURED");
        assert_eq!(r.change, Some(Change::Updated));
        let v = verdict_of(s.last_packet().unwrap());
        assert_eq!(v, Some(("ACCEPT", "ESTABLISHED")));
    }

    #[test]
    fn the_deciding_rule_is_marked() {
        let mut s = handshake();
        s.step();
        let d = s.last_packet().unwrap().decision().unwrap().filter.clone();
        let rows = rules_view(s.firewall(), d.as_ref());
        let decisive: Vec<&RuleRow> = rows.iter().filter(|r| r.decisive).collect();
        assert_eq!(decisive.len(), 1);
        assert_eq!(decisive[0].text, "-A FORWARD -s 192.168.1.0/24 -j ACCEPT");
        assert_eq!(decisive[0].number, Some(3));
        assert_eq!(decisive[0].packets, 1);
        assert!(rows
            .iter()
            .any(|r| r.text == ":FORWARD DROP" && r.number.is_none()));
    }

    #[test]
    fn timeline_items_carry_verdicts_once_applied() {
        let mut s = handshake();
        s.step();
        let items = timeline_items(&s, 0..3);
        assert_eq!(items.len(), 3);
        assert!(items[0].applied && !items[1].applied);
        assert_eq!(items[0].verdict, Some(("ACCEPT", "NEW")));
        assert_eq!(items[0].state_after, "SYN_SENT");
        assert_eq!(items[0].label, "S");
        assert_eq!(items[1].from, Some(Iface::Wan));
        assert_eq!(items[1].verdict, None);
        assert_eq!(timeline_items(&s, 10..99).len(), 1);
    }

    #[test]
    fn expiry_is_reported_as_removed() {
        let mut s = handshake();
        s.step();
        s.insert(crate::session::EventKind::Wait, "", 120_000);
        let t = table_view(&s);
        assert!(t.rows.is_empty() && t.raw.is_empty());
        assert_eq!(t.removed.len(), 1);
        assert!(t.removed[0].contains("SYN_SENT"));
        assert_eq!(fmt_time(120_050), "120.050 s");
    }
}
