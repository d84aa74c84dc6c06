//! Connection tracking with the Linux kernel's semantics (`nf_conntrack`).
//!
//! For every packet, [`Conntrack::track`] finds or creates the packet's connection
//! entry, runs the protocol tracker (TCP state machine and window checks, UDP stream
//! detection, ICMP request/reply matching, ICMP errors), and returns a [`Tracked`]:
//! the packet's [`CtState`] for `-m state`, and why it is INVALID when it is.
//!
//! As in the kernel, a new entry is *unconfirmed* until its first packet has made it
//! through the filter: [`Conntrack::confirm`] inserts it (event NEW) and runs helpers;
//! [`Conntrack::abort`] forgets it when the packet is dropped, so a dropped first
//! packet leaves no entry. Updates of existing entries happen at once, whatever the
//! filter decides later, because the kernel tracks in PREROUTING, before filtering.
//!
//! Time is an input: every call takes `now_ms`. Entries expire lazily when a lookup
//! meets them and on [`Conntrack::advance`].

pub mod ctinfo;
pub mod entry;
pub mod events;
pub mod expect;
pub mod helper;
pub mod proc;
pub mod reason;
pub mod sctp;
pub mod settings;
pub mod snapshot;
pub mod table;
pub mod tcp;
pub mod tuple;

pub use ctinfo::{CtInfo, CtState};
pub use entry::{status, Counters, Entry, Extensions, Helper, ProtoState};
pub use events::{Event, EventKind};
pub use expect::{Expectation, Expectations};
pub use reason::Reason;
pub use sctp::{SctpConn, SctpState};
pub use settings::{SettingError, Settings};
pub use snapshot::{Snapshot, SnapshotError};
pub use table::Slot;
pub use tcp::{TcpConn, TcpOutcome, TcpState};
pub use tuple::{Direction, Tuple};

use crate::wire::{self, icmp_type, proto, IcmpInfo, Packet, L4};
use core::num::NonZeroU32;
use hashbrown::HashMap;
use helper::{HelperOutcome, HelperState};
use table::Table;

/// The largest ICMP type conntrack accepts (`NR_ICMP_TYPES`).
const MAX_ICMP_TYPE: u8 = 18;
/// FTP's expectation policy: one pending data connection per control connection.
const MAX_EXPECTED_PER_MASTER: usize = 1;

/// Which connection a packet is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnRef {
    /// An entry in the table.
    Table(Slot),
    /// The entry this packet just created (unconfirmed) or just killed.
    InFlight,
}

/// Raw-table decisions that reach conntrack (`-j CT --notrack`, `-j CT --helper`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Template {
    pub notrack: bool,
    pub helper: Option<Helper>,
}

/// What conntrack made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub state: CtState,
    /// The kernel's ctinfo, when a connection is attached.
    pub info: Option<CtInfo>,
    pub conn: Option<ConnRef>,
    /// The packet created a (still unconfirmed) entry.
    pub created: bool,
    /// Why the packet is INVALID, or why the tracker ignored it (`nf_conntrack_log_invalid` wording).
    pub reason: Option<Reason>,
    /// The tracker let the packet pass without updating the entry.
    pub ignored: bool,
    /// TCP state before → after.
    pub transition: Option<(TcpState, TcpState)>,
    /// Conntrack drops the packet itself (the table is full, [`TABLE_FULL`]): it never
    /// reaches the filter.
    pub dropped: bool,
}

impl Tracked {
    fn invalid(reason: impl Into<Reason>) -> Tracked {
        Tracked {
            state: CtState::Invalid,
            info: None,
            conn: None,
            created: false,
            reason: Some(reason.into()),
            ignored: false,
            transition: None,
            dropped: false,
        }
    }
    fn untracked() -> Tracked {
        Tracked {
            state: CtState::Untracked,
            reason: None,
            ..Tracked::invalid("")
        }
    }
    fn attached(info: CtInfo, conn: ConnRef) -> Tracked {
        Tracked {
            state: info.state(),
            info: Some(info),
            conn: Some(conn),
            reason: None,
            ..Tracked::invalid("")
        }
    }
    fn ignored(info: CtInfo, conn: ConnRef, reason: Reason) -> Tracked {
        Tracked {
            ignored: true,
            reason: Some(reason),
            ..Tracked::attached(info, conn)
        }
    }
    /// What the filter sees when connection tracking is not loaded at all.
    pub fn without_conntrack() -> Tracked {
        Tracked {
            reason: None,
            ..Tracked::invalid("")
        }
    }

    /// The direction of the packet relative to its connection.
    pub fn direction(&self) -> Option<Direction> {
        self.info.map(CtInfo::direction)
    }
}

/// Counters like `/proc/net/stat/nf_conntrack`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    pub found: u64,
    pub invalid: u64,
    pub insert: u64,
    pub insert_failed: u64,
    /// Packets dropped because the table was full and nothing could be evicted.
    pub drop: u64,
    /// Entries evicted to make room.
    pub early_drop: u64,
    pub icmp_error: u64,
    pub expect_new: u64,
    pub expect_create: u64,
    pub search_restart: u64,
}

/// The message the kernel logs when a packet is dropped for a full table.
pub const TABLE_FULL: &str = "nf_conntrack: table full, dropping packet";

/// The connection tracker.
#[derive(Debug, Clone)]
pub struct Conntrack {
    settings: Settings,
    table: Table,
    expectations: Expectations,
    helper_state: HashMap<u32, HelperState>,
    /// The entry of the packet being processed, when it is not in the table.
    in_flight: Option<Entry>,
    /// [`Table::inserts`] when the in-flight entry's tuple was looked up and missed.
    in_flight_inserts: u64,
    events: Vec<Event>,
    record_events: bool,
    stats: Stats,
    next_id: u32,
    /// Set when a packet was dropped for a full table; the next GC run evicts harder.
    early_drop_pending: bool,
    /// A buffer early drop reuses for the slots of the bucket it scans.
    bucket_scratch: Vec<Slot>,
}

/// What a protocol tracker decided.
enum L4Verdict {
    Accept {
        timeout_secs: Option<u32>,
        assure: bool,
        kill: bool,
        transition: Option<(TcpState, TcpState)>,
        /// A protocol state other than TCP's changed (an update event).
        proto_changed: bool,
    },
    Ignore(Reason),
    Invalid {
        reason: Reason,
        shrink_timeout_secs: Option<u32>,
    },
    Reopen,
}

impl L4Verdict {
    /// INVALID for a fixed reason, the entry's timeout left as it was.
    fn invalid(reason: &'static str) -> L4Verdict {
        L4Verdict::Invalid {
            reason: Reason::Text(reason),
            shrink_timeout_secs: None,
        }
    }
}

impl Default for Conntrack {
    fn default() -> Self {
        Conntrack::new(Settings::default())
    }
}

impl Conntrack {
    pub fn new(settings: Settings) -> Conntrack {
        Conntrack {
            table: Table::new(table::bucket_count(settings.buckets)),
            settings,
            expectations: Expectations::default(),
            helper_state: HashMap::new(),
            in_flight: None,
            in_flight_inserts: 0,
            events: Vec::new(),
            record_events: true,
            stats: Stats::default(),
            next_id: 1,
            early_drop_pending: false,
            bucket_scratch: Vec::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Changes settings. Timeouts apply from the next refresh, as in the kernel.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// Turns event recording on or off (on by default).
    pub fn set_record_events(&mut self, on: bool) {
        self.record_events = on;
        if !on {
            self.events.clear();
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of entries in the table.
    pub fn len(&self) -> usize {
        self.table.len()
    }
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The entry a packet is attached to.
    pub fn entry(&self, conn: ConnRef) -> Option<&Entry> {
        match conn {
            ConnRef::Table(slot) => self.table.get(slot),
            ConnRef::InFlight => self.in_flight.as_ref(),
        }
    }

    /// Sets a connection's mark (`-j CONNMARK`). A confirmed entry whose mark changes
    /// gets an update event, as the kernel reports `IPCT_MARK`.
    pub fn set_mark(&mut self, conn: ConnRef, mark: u32, now_ms: u64) {
        match conn {
            ConnRef::Table(slot) => {
                let Some(e) = self.table.get_mut(slot) else {
                    return;
                };
                if e.mark != mark {
                    e.mark = mark;
                    self.update_event(conn, now_ms);
                }
            }
            ConnRef::InFlight => {
                if let Some(e) = &mut self.in_flight {
                    e.mark = mark;
                }
            }
        }
    }

    /// Looks an entry up by either of its tuples.
    pub fn find(&self, t: &Tuple) -> Option<(&Entry, Direction)> {
        let hit = self.table.find(t)?;
        Some((self.table.get(hit.slot)?, hit.dir))
    }

    /// All entries (expired ones included until the next [`advance`](Self::advance)).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.table.slots().map(|(_, e)| e)
    }

    /// Entries in the kernel-oracle's order.
    pub fn sorted_entries(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries().collect();
        crate::sort::sort_by_cached_key(&mut v, |e| proc::sort_key(e));
        v
    }

    pub fn expectations(&self) -> &Expectations {
        &self.expectations
    }

    /// Takes the events recorded since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// `/proc/net/nf_conntrack` as of `now_ms` (expired entries are reaped first).
    pub fn render_proc(&mut self, now_ms: u64) -> String {
        self.advance(now_ms);
        self.sorted_entries()
            .iter()
            .map(|e| proc::proc_line(e, now_ms) + "\n")
            .collect()
    }

    /// `conntrack -L` output lines as of `now_ms`.
    pub fn render_conntrack_l(&mut self, now_ms: u64) -> String {
        self.advance(now_ms);
        self.sorted_entries()
            .iter()
            .map(|e| proc::conntrack_line(e, now_ms) + "\n")
            .collect()
    }

    /// Moves the clock: reaps expired entries and expectations (the kernel's GC).
    pub fn advance(&mut self, now_ms: u64) {
        let expired: Vec<Slot> = self
            .table
            .slots()
            .filter(|(_, e)| e.is_expired(now_ms))
            .map(|(s, _)| s)
            .collect();
        for slot in expired {
            self.destroy(slot, now_ms);
        }
        self.expectations.expire(now_ms);
        if self.early_drop_pending {
            self.early_drop_pending = false;
            self.gc_early_drop(now_ms);
        }
    }

    /// `conntrack -F`: removes every entry and expectation.
    pub fn flush(&mut self, now_ms: u64) {
        let all: Vec<Slot> = self.table.slots().map(|(s, _)| s).collect();
        for slot in all {
            self.destroy(slot, now_ms);
        }
        self.expectations.clear();
    }

    /// The earliest moment an entry expires, if any.
    pub fn next_expiry(&self) -> Option<u64> {
        self.entries().map(|e| e.expires_ms).min()
    }

    fn event(&mut self, kind: EventKind, e: &Entry, now_ms: u64) {
        if self.record_events {
            let line = proc::conntrack_line(e, now_ms);
            self.events.push(Event {
                kind,
                time_ms: now_ms,
                id: e.id,
                line,
            });
        }
    }

    fn destroy(&mut self, slot: Slot, now_ms: u64) -> Option<Entry> {
        let e = self.table.remove(slot)?;
        self.event(EventKind::Destroy, &e, now_ms);
        self.helper_state.remove(&e.id);
        self.expectations.remove_master(e.id);
        Some(e)
    }

    /// Tracks one packet arriving at PREROUTING. `verify_checksum` is the kernel's
    /// `nf_conntrack_checksum && hook == PRE_ROUTING`.
    pub fn track(&mut self, now_ms: u64, bytes: &[u8], pkt: &Packet, tpl: &Template) -> Tracked {
        let mut tracked = Tracked::untracked();
        self.track_into(now_ms, bytes, pkt, tpl, &mut tracked);
        tracked
    }

    /// [`track`](Self::track) into a caller's [`Tracked`]: the result is written in
    /// place, field by field, so a batch's results never have to be copied while
    /// their bytes are still being written.
    pub fn track_into(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        pkt: &Packet,
        tpl: &Template,
        out: &mut Tracked,
    ) {
        self.in_flight = None;
        if tpl.notrack {
            *out = Tracked::untracked();
            return;
        }
        let verify = self.settings.checksum;
        self.track_inner(now_ms, bytes, pkt, tpl, verify, out);
        if out.state == CtState::Invalid {
            self.stats.invalid += 1;
        }
    }

    /// Tracks a batch of raw IPv4 packets arriving at PREROUTING, each with its time,
    /// as a standalone tracker (no filter): each packet is parsed and tracked, and
    /// when `commit` is set its new connection is confirmed at once, as if the filter
    /// had accepted it (like Open vSwitch's `ct(commit)`). One result per packet is
    /// appended to `out`, which callers can reuse across batches.
    pub fn track_batch<'p>(
        &mut self,
        packets: impl ExactSizeIterator<Item = (u64, &'p [u8])>,
        commit: bool,
        out: &mut Vec<Result<Tracked, wire::WireError>>,
    ) {
        let tpl = Template::default();
        let mut pkt = Packet::EMPTY;
        out.reserve(packets.len());
        for (now_ms, bytes) in packets {
            if let Err(e) = wire::parse_into(bytes, &mut pkt) {
                out.push(Err(e));
                continue;
            }
            let bytes = &bytes[..usize::from(pkt.ip.total_len)];
            out.push(Ok(Tracked::untracked()));
            if let Some(Ok(tracked)) = out.last_mut() {
                self.track_into(now_ms, bytes, &pkt, &tpl, tracked);
                if commit && !tracked.dropped {
                    // A helper refusing the packet or a lost insert race leaves the
                    // entry unconfirmed, exactly as in the firewall pipeline.
                    let _ = self.confirm(now_ms, tracked, bytes, &pkt);
                }
            }
        }
    }

    fn track_inner(
        &mut self,
        now: u64,
        bytes: &[u8],
        pkt: &Packet,
        tpl: &Template,
        verify: bool,
        out: &mut Tracked,
    ) {
        let early = match &pkt.l4 {
            L4::Malformed(e) => Some(Tracked::invalid(Reason::Malformed(*e))),
            L4::Fragment => Some(Tracked::invalid("fragment")),
            L4::Icmp(_) if verify && !wire::transport_checksum_ok(bytes, pkt) => {
                Some(Tracked::invalid("bad hw icmp checksum"))
            }
            L4::Icmp(ic) if ic.icmp_type > MAX_ICMP_TYPE => {
                Some(Tracked::invalid("invalid icmp type"))
            }
            L4::Icmp(ic) if icmp_type::is_error(ic.icmp_type) => {
                Some(self.icmp_error(now, pkt, ic))
            }
            _ => None,
        };
        if let Some(t) = early {
            *out = t;
            return;
        }
        let Some(tuple) = tuple_of(bytes, pkt) else {
            *out = Tracked::invalid("gre: enhanced GRE that is not PPP");
            return;
        };
        loop {
            let hit = match self.table.find(&tuple) {
                Some(h) if self.table.get(h.slot).is_some_and(|e| e.is_expired(now)) => {
                    self.destroy(h.slot, now);
                    None
                }
                other => other,
            };
            let step = match hit {
                Some(h) => {
                    self.stats.found += 1;
                    self.existing_packet(now, h.slot, h.dir, bytes, pkt, verify, out)
                }
                None => self.new_packet(now, tuple, tpl, bytes, pkt, verify, out),
            };
            match step {
                Step::Done => return,
                Step::Restart => self.stats.search_restart += 1,
            }
        }
    }

    /// A packet of a connection in the table.
    #[allow(clippy::too_many_arguments)]
    fn existing_packet(
        &mut self,
        now: u64,
        slot: Slot,
        hit_dir: Direction,
        bytes: &[u8],
        pkt: &Packet,
        verify: bool,
        out: &mut Tracked,
    ) -> Step {
        let conn = ConnRef::Table(slot);
        let e = self.table.get_mut(slot).expect("indexed slot is occupied");
        let info = if hit_dir == Direction::Reply {
            CtInfo::EstablishedReply
        } else if e.seen_reply() {
            CtInfo::Established
        } else if e.has(status::EXPECTED) {
            CtInfo::Related
        } else {
            CtInfo::New
        };
        let dir = info.direction();
        let remaining = e.expires_ms.saturating_sub(now);
        let verdict = l4_packet(
            e,
            false,
            dir,
            bytes,
            pkt,
            &self.settings,
            verify,
            now,
            remaining,
        );
        match verdict {
            L4Verdict::Reopen => {
                self.destroy(slot, now);
                Step::Restart
            }
            L4Verdict::Invalid {
                reason,
                shrink_timeout_secs,
            } => {
                if let Some(secs) = shrink_timeout_secs {
                    e.expires_ms = now.saturating_add(u64::from(secs) * 1000);
                }
                *out = Tracked::invalid(reason);
                Step::Done
            }
            L4Verdict::Ignore(reason) => {
                let changed = mark_seen_reply(e, info);
                if changed {
                    self.update_event(conn, now);
                }
                *out = Tracked::ignored(info, conn, reason);
                Step::Done
            }
            L4Verdict::Accept {
                timeout_secs,
                assure,
                kill,
                transition,
                proto_changed,
            } => {
                let changed =
                    accept(e, now, info, pkt, timeout_secs, assure, transition) | proto_changed;
                *out = Tracked::attached(info, conn);
                out.transition = transition;
                if kill {
                    self.in_flight = self.destroy(slot, now);
                    out.conn = Some(ConnRef::InFlight);
                } else if changed {
                    self.update_event(conn, now);
                }
                Step::Done
            }
        }
    }

    /// A packet that no entry in the table matches: it may create one (unconfirmed).
    #[allow(clippy::too_many_arguments)]
    fn new_packet(
        &mut self,
        now: u64,
        tuple: Tuple,
        tpl: &Template,
        bytes: &[u8],
        pkt: &Packet,
        verify: bool,
        out: &mut Tracked,
    ) -> Step {
        let (mut e, info) = match self.new_entry(now, tuple, tpl) {
            Ok(created) => created,
            Err(t) => {
                *out = t;
                return Step::Done;
            }
        };
        let conn = ConnRef::InFlight;
        let dir = info.direction();
        let remaining = e.expires_ms.saturating_sub(now);
        let verdict = l4_packet(
            &mut e,
            true,
            dir,
            bytes,
            pkt,
            &self.settings,
            verify,
            now,
            remaining,
        );
        match verdict {
            L4Verdict::Reopen => Step::Restart,
            L4Verdict::Invalid { reason, .. } => {
                *out = Tracked::invalid(reason);
                Step::Done
            }
            L4Verdict::Ignore(reason) => {
                mark_seen_reply(&mut e, info);
                self.in_flight = Some(e);
                self.in_flight_inserts = self.table.inserts();
                *out = Tracked::ignored(info, conn, reason);
                Step::Done
            }
            L4Verdict::Accept {
                timeout_secs,
                assure,
                transition,
                ..
            } => {
                accept(&mut e, now, info, pkt, timeout_secs, assure, transition);
                self.in_flight = Some(e);
                self.in_flight_inserts = self.table.inserts();
                *out = Tracked::attached(info, conn);
                out.transition = transition;
                out.created = true;
                Step::Done
            }
        }
    }

    fn update_event(&mut self, conn: ConnRef, now: u64) {
        if let ConnRef::Table(slot) = conn {
            if self.record_events {
                if let Some(e) = self.table.get(slot).cloned() {
                    self.event(EventKind::Update, &e, now);
                }
            }
        }
    }

    /// Allocates an unconfirmed entry for a tuple that is not in the table
    /// (`init_conntrack`), evicting if the table is full.
    fn new_entry(
        &mut self,
        now: u64,
        tuple: Tuple,
        tpl: &Template,
    ) -> Result<(Entry, CtInfo), Tracked> {
        if tuple.invert().is_none() {
            return Err(Tracked::invalid("no reply tuple for this packet"));
        };
        let max = self.settings.max as usize;
        if max > 0 && self.table.len() >= max && !self.early_drop(now, &tuple) {
            self.early_drop_pending = true;
            self.stats.drop += 1;
            let mut t = Tracked::invalid(TABLE_FULL);
            t.dropped = true;
            return Err(t);
        }
        let mut e = Entry {
            id: self.next_id,
            original: tuple,
            status: 0,
            expires_ms: now,
            proto: ProtoState::Generic,
            mark: 0,
            helper: None,
            master: None,
            ext: (self.settings.acct || self.settings.timestamp).then(|| {
                Box::new(Extensions {
                    counters: self.settings.acct.then(Counters::default),
                    start_ms: self.settings.timestamp.then_some(now),
                })
            }),
        };
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let info = match self.expectations.take_match(now, &tuple) {
            Some(exp) => {
                self.stats.expect_new += 1;
                e.status |= status::EXPECTED;
                e.master = NonZeroU32::new(exp.master_id);
                e.mark = self
                    .entries()
                    .find(|m| m.id == exp.master_id)
                    .map_or(0, |m| m.mark);
                CtInfo::Related
            }
            None => {
                e.helper = tpl.helper;
                CtInfo::New
            }
        };
        Ok((e, info))
    }

    /// `early_drop`: scan up to 8 buckets from the new tuple's, evicting every
    /// non-ASSURED entry of the first bucket that has any. ASSURED entries survive.
    fn early_drop(&mut self, now: u64, tuple: &Tuple) -> bool {
        let n = self.table.bucket_count();
        let mut bucket = self.table.bucket_of(tuple);
        for i in 0..table::EVICTION_RANGE {
            if i > 0 {
                bucket = (bucket + 1) % n;
            }
            let mut drops = 0;
            let mut slots = std::mem::take(&mut self.bucket_scratch);
            self.table.bucket_slots_into(bucket, &mut slots);
            for &slot in &slots {
                let Some(e) = self.table.get(slot) else {
                    continue;
                };
                if e.is_expired(now) {
                    self.destroy(slot, now);
                } else if !e.is_assured() {
                    self.destroy(slot, now);
                    drops += 1;
                }
            }
            self.bucket_scratch = slots;
            if drops > 0 {
                self.stats.early_drop += drops;
                return true;
            }
        }
        false
    }

    /// The GC worker after a "table full" drop: while the table is at least 95 % full,
    /// evict non-ASSURED entries and ASSURED TCP connections that are closing.
    fn gc_early_drop(&mut self, now: u64) {
        let max = self.settings.max as usize;
        if max == 0 || self.table.len() * 100 < max * 95 {
            return;
        }
        let victims: Vec<Slot> = self
            .table
            .slots()
            .filter(|(_, e)| {
                !e.is_assured()
                    || e.tcp().is_some_and(|t| t.state.is_closing())
                    || e.sctp().is_some_and(|s| s.state.is_closing())
            })
            .map(|(s, _)| s)
            .collect();
        self.stats.early_drop += victims.len() as u64;
        for slot in victims {
            self.destroy(slot, now);
        }
    }

    /// ICMP errors: RELATED to the connection whose packet they quote
    /// (`nf_conntrack_inet_error`), or INVALID.
    fn icmp_error(&mut self, now: u64, pkt: &Packet, ic: &IcmpInfo) -> Tracked {
        let fail = |s: &mut Conntrack, reason: Reason| {
            s.stats.icmp_error += 1;
            Tracked::invalid(reason)
        };
        let Some(inner) = ic.inner else {
            return fail(self, Reason::Text("icmp error quotes no readable packet"));
        };
        if inner.is_fragment {
            return fail(self, Reason::Text("icmp error quotes a fragment"));
        }
        let quoted = match inner.protocol {
            proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP => match inner.ports() {
                Some((sp, dp)) => Tuple::ports(inner.protocol, inner.src, sp, inner.dst, dp),
                None => return fail(self, Reason::Text("icmp error quotes a truncated header")),
            },
            proto::ICMP => {
                if inner.l4_len < 8 {
                    return fail(self, Reason::Text("icmp error quotes a truncated header"));
                }
                let h = inner.l4_head;
                Tuple::icmp(
                    inner.src,
                    inner.dst,
                    u16::from_be_bytes([h[4], h[5]]),
                    h[0],
                    h[1],
                )
            }
            proto::GRE => {
                let head = &inner.l4_head[..usize::from(inner.l4_len)];
                match Tuple::gre(inner.src, inner.dst, head) {
                    Some(t) => t,
                    None => return fail(self, Reason::Text("icmp error quotes untrackable GRE")),
                }
            }
            p => Tuple::addresses(p, inner.src, inner.dst),
        };
        // The quoted packet travelled the other way: look up its inverse.
        let Some(wanted) = quoted.invert() else {
            return fail(
                self,
                Reason::Text("icmp error quotes a packet without reply tuple"),
            );
        };
        let Some(hit) = self.table.find(&wanted) else {
            return fail(
                self,
                Reason::Text("icmp error quotes an untracked connection"),
            );
        };
        let Some(e) = self.table.get(hit.slot) else {
            return fail(
                self,
                Reason::Text("icmp error quotes an untracked connection"),
            );
        };
        if e.is_expired(now) {
            self.destroy(hit.slot, now);
            return fail(
                self,
                Reason::Text("icmp error quotes an untracked connection"),
            );
        }
        let ct_dst = e.tuple(hit.dir).dst;
        if pkt.ip.dst != ct_dst {
            let reason = Reason::OuterDaddr {
                outer: pkt.ip.dst,
                inner: ct_dst,
            };
            return fail(self, reason);
        }
        let info = match hit.dir {
            Direction::Original => CtInfo::Related,
            Direction::Reply => CtInfo::RelatedReply,
        };
        Tracked::attached(info, ConnRef::Table(hit.slot))
    }

    /// The packet was accepted: run the connection's helper, then confirm a new entry
    /// (insert it into the table, event NEW). Returns the reason when the helper
    /// drops the packet.
    pub fn confirm(
        &mut self,
        now_ms: u64,
        tracked: &Tracked,
        bytes: &[u8],
        pkt: &Packet,
    ) -> Result<(), &'static str> {
        let Some(conn) = tracked.conn else {
            return Ok(());
        };
        if let Some(reason) = self.run_helper(now_ms, tracked, conn, bytes, pkt) {
            self.abort(tracked);
            return Err(reason);
        }
        if !tracked.created || conn != ConnRef::InFlight {
            return Ok(());
        }
        let Some(mut e) = self.in_flight.take() else {
            return Ok(());
        };
        // The packet's lookup missed both tuples (the table's tuples are closed under
        // inversion), and entries only leave since: unless something was inserted
        // meanwhile, neither tuple can be there.
        let inserted_since = self.table.inserts() != self.in_flight_inserts;
        if inserted_since
            && (self.table.find(e.original()).is_some() || self.table.find(&e.reply()).is_some())
        {
            self.stats.insert_failed += 1;
            return Err("insert failed: tuple already tracked");
        }
        e.status |= status::CONFIRMED;
        self.stats.insert += 1;
        self.event(EventKind::New, &e, now_ms);
        self.table.insert(e);
        Ok(())
    }

    /// The packet was dropped: an unconfirmed entry it created is forgotten.
    pub fn abort(&mut self, tracked: &Tracked) {
        if tracked.created {
            self.in_flight = None;
        }
    }

    fn run_helper(
        &mut self,
        now: u64,
        tracked: &Tracked,
        conn: ConnRef,
        bytes: &[u8],
        pkt: &Packet,
    ) -> Option<&'static str> {
        let info = tracked.info?;
        if !matches!(info, CtInfo::Established | CtInfo::EstablishedReply) {
            return None;
        }
        let entry = self.entry(conn)?;
        entry.helper?;
        let id = entry.id;
        let entry = entry.clone();
        let state = self.helper_state.entry(id).or_default();
        match helper::help(&entry, state, info.direction(), bytes, pkt, now) {
            HelperOutcome::Pass => None,
            HelperOutcome::Expect(exp) => {
                self.stats.expect_create += 1;
                self.expectations.add(exp, MAX_EXPECTED_PER_MASTER);
                None
            }
            HelperOutcome::Drop(reason) => Some(reason),
        }
    }
}

/// How one lookup of a packet ended.
enum Step {
    /// The result is written.
    Done,
    /// The entry was deleted to reopen the connection: look up again.
    Restart,
}

/// Applies an accepted packet to its entry: timer, counters, ASSURED, SEEN_REPLY.
/// Returns whether anything an update event reports changed.
fn accept(
    e: &mut Entry,
    now: u64,
    info: CtInfo,
    pkt: &Packet,
    timeout_secs: Option<u32>,
    assure: bool,
    transition: Option<(TcpState, TcpState)>,
) -> bool {
    let mut changed = false;
    if let Some(secs) = timeout_secs {
        e.expires_ms = now.saturating_add(u64::from(secs) * 1000);
    }
    if let Some(c) = e.ext.as_mut().and_then(|x| x.counters.as_mut()) {
        let d = info.direction().index();
        c[d].0 += 1;
        c[d].1 += u64::from(pkt.ip.total_len);
    }
    if assure && !e.is_assured() {
        e.status |= status::ASSURED;
        changed = true;
    }
    if let Some((old, new)) = transition {
        changed |= old != new;
    }
    changed | mark_seen_reply(e, info)
}

/// Sets SEEN_REPLY on the first reply-direction packet; true if it changed.
fn mark_seen_reply(e: &mut Entry, info: CtInfo) -> bool {
    if info == CtInfo::EstablishedReply && !e.seen_reply() {
        e.status |= status::SEEN_REPLY;
        return true;
    }
    false
}

/// The tuple a packet belongs to, as its first packet would create it; None when
/// conntrack cannot build one (`nf_ct_get_tuple` fails).
fn tuple_of(bytes: &[u8], pkt: &Packet) -> Option<Tuple> {
    let ip = &pkt.ip;
    Some(match &pkt.l4 {
        L4::Tcp(t) => Tuple::ports(proto::TCP, ip.src, t.sport, ip.dst, t.dport),
        L4::Udp(u) => Tuple::ports(proto::UDP, ip.src, u.sport, ip.dst, u.dport),
        L4::UdpLite(u) => Tuple::ports(proto::UDPLITE, ip.src, u.sport, ip.dst, u.dport),
        L4::Sctp(h) => Tuple::ports(proto::SCTP, ip.src, h.sport, ip.dst, h.dport),
        L4::Icmp(i) => Tuple::icmp(ip.src, ip.dst, i.id(), i.icmp_type, i.code),
        _ if ip.protocol == proto::GRE => return Tuple::gre(ip.src, ip.dst, l4_bytes(bytes, pkt)),
        _ => Tuple::addresses(ip.protocol, ip.src, ip.dst),
    })
}

/// Dispatches to the protocol tracker (`nf_conntrack_handle_packet`).
#[allow(clippy::too_many_arguments)]
fn l4_packet(
    e: &mut Entry,
    is_new: bool,
    dir: Direction,
    bytes: &[u8],
    pkt: &Packet,
    s: &Settings,
    verify: bool,
    now: u64,
    remaining_ms: u64,
) -> L4Verdict {
    let invalid = L4Verdict::invalid;
    let refresh = |secs: u32| L4Verdict::Accept {
        timeout_secs: Some(secs),
        assure: false,
        kill: false,
        transition: None,
        proto_changed: false,
    };
    match &pkt.l4 {
        L4::Tcp(tcp) => {
            if verify && !wire::transport_checksum_ok(bytes, pkt) {
                return invalid("bad checksum");
            }
            if !tcp::valid_flag_combination(tcp.flags) {
                return invalid("invalid tcp flag combination");
            }
            if is_new {
                match TcpConn::new(tcp, s) {
                    Some(conn) => e.proto = ProtoState::Tcp(conn),
                    None => return invalid("invalid new"),
                }
            }
            let (seen_reply, assured) = (e.seen_reply(), e.is_assured());
            let ProtoState::Tcp(conn) = &mut e.proto else {
                return invalid("protocol mismatch");
            };
            match conn.packet(dir, tcp, seen_reply, assured, remaining_ms, s) {
                TcpOutcome::Accepted {
                    old,
                    new,
                    timeout_secs,
                    keep_timer,
                    assure,
                    kill,
                } => L4Verdict::Accept {
                    timeout_secs: (!keep_timer).then_some(timeout_secs),
                    assure,
                    kill,
                    transition: Some((old, new)),
                    proto_changed: false,
                },
                TcpOutcome::Ignored { reason } => L4Verdict::Ignore(reason),
                TcpOutcome::Invalid {
                    reason,
                    shrink_timeout_secs,
                } => L4Verdict::Invalid {
                    reason,
                    shrink_timeout_secs,
                },
                TcpOutcome::Reopen => L4Verdict::Reopen,
            }
        }
        L4::Udp(u) => {
            if u.length as usize > u.payload_len as usize + 8 || u.length < 8 {
                return invalid("truncated/malformed packet");
            }
            if verify && u.checksum != 0 && !wire::transport_checksum_ok(bytes, pkt) {
                return invalid("bad checksum");
            }
            if is_new {
                e.proto = ProtoState::Udp {
                    stream_after_ms: now.saturating_add(2000),
                };
            }
            let ProtoState::Udp { stream_after_ms } = e.proto else {
                return invalid("protocol mismatch");
            };
            if e.seen_reply() {
                // Traffic after a reply, still alive 2 s after creation: a stream.
                if now > stream_after_ms {
                    return L4Verdict::Accept {
                        timeout_secs: Some(s.udp_timeout_stream),
                        assure: true,
                        kill: false,
                        transition: None,
                        proto_changed: false,
                    };
                }
                return refresh(s.udp_timeout);
            }
            refresh(s.udp_timeout)
        }
        L4::Icmp(_) => {
            if !tuple::icmp_may_create(e.original().icmp_type()) {
                return invalid("icmp: can't create new conn with this type");
            }
            if is_new {
                e.proto = ProtoState::Icmp;
            }
            refresh(s.icmp_timeout)
        }
        L4::Sctp(h) => sctp_packet(e, is_new, dir, l4_bytes(bytes, pkt), h.vtag, s, verify),
        L4::UdpLite(_) => udplite_packet(e, is_new, bytes, pkt, s, verify),
        _ if pkt.ip.protocol == proto::GRE => {
            if is_new {
                e.proto = ProtoState::Gre {
                    timeout_secs: s.gre_timeout,
                    stream_timeout_secs: s.gre_timeout_stream,
                };
            }
            let ProtoState::Gre {
                timeout_secs,
                stream_timeout_secs,
            } = e.proto
            else {
                return invalid("protocol mismatch");
            };
            if e.seen_reply() {
                L4Verdict::Accept {
                    timeout_secs: Some(stream_timeout_secs),
                    assure: true,
                    kill: false,
                    transition: None,
                    proto_changed: false,
                }
            } else {
                refresh(timeout_secs)
            }
        }
        _ => {
            if is_new {
                e.proto = ProtoState::Generic;
            }
            refresh(s.generic_timeout)
        }
    }
}

/// The transport segment of a packet (IP header and link padding cut off).
fn l4_bytes<'b>(bytes: &'b [u8], pkt: &Packet) -> &'b [u8] {
    let ip = &pkt.ip;
    bytes
        .get(usize::from(ip.header_len)..usize::from(ip.total_len))
        .unwrap_or_default()
}

/// SCTP (`nf_conntrack_sctp_packet`): the CRC32c, the chunk rules, a new entry's
/// state, then the association's state machine and tags ([`sctp`]).
fn sctp_packet(
    e: &mut Entry,
    is_new: bool,
    dir: Direction,
    seg: &[u8],
    vtag: u32,
    s: &Settings,
    verify: bool,
) -> L4Verdict {
    let invalid = L4Verdict::invalid;
    if verify && !wire::sctp::checksum_ok(seg) {
        return invalid("bad CRC");
    }
    let set = match sctp::check_chunks(seg, is_new) {
        Ok(set) => set,
        Err(r) => return invalid(r),
    };
    if is_new {
        match SctpConn::new(seg, vtag) {
            Ok(conn) => e.proto = ProtoState::Sctp(conn),
            Err(r) => return invalid(r),
        }
    }
    let ProtoState::Sctp(conn) = &mut e.proto else {
        return invalid("protocol mismatch");
    };
    match conn.packet(seg, vtag, dir, &set, !is_new) {
        sctp::SctpOutcome::Invalid(r) => invalid(r),
        sctp::SctpOutcome::Accepted {
            assure,
            keep_timer: true,
            ..
        } => {
            // Let through without renewing the timer (nor counting, as the kernel
            // returns before `nf_ct_refresh_acct`); an ESTABLISHED reached on the way
            // still makes the entry ASSURED.
            if assure {
                e.status |= status::ASSURED;
            }
            L4Verdict::Ignore(Reason::Text("sctp: timer not renewed"))
        }
        sctp::SctpOutcome::Accepted {
            old, new, assure, ..
        } => L4Verdict::Accept {
            timeout_secs: Some(new.timeout_secs(s)),
            assure,
            kill: false,
            transition: None,
            proto_changed: old != new,
        },
    }
}

/// UDP-Lite (`nf_conntrack_udplite_packet`): the checksum coverage must lie within
/// the datagram, a checksum is mandatory and, with `nf_conntrack_checksum`, must
/// verify over the covered bytes. Timeouts are UDP's; every packet after a reply
/// makes the entry an ASSURED stream.
fn udplite_packet(
    e: &mut Entry,
    is_new: bool,
    bytes: &[u8],
    pkt: &Packet,
    s: &Settings,
    verify: bool,
) -> L4Verdict {
    let invalid = L4Verdict::invalid;
    let L4::UdpLite(u) = &pkt.l4 else {
        return invalid("protocol mismatch");
    };
    let datagram_len = u32::from(u.payload_len) + 8;
    if u.length != 0 && (u.length < 8 || u32::from(u.length) > datagram_len) {
        return invalid("invalid checksum coverage");
    }
    if u.checksum == 0 {
        return invalid("checksum missing");
    }
    if verify && !wire::udplite_checksum_ok(bytes, pkt) {
        return invalid("bad checksum");
    }
    if is_new {
        e.proto = ProtoState::UdpLite;
    }
    if !matches!(e.proto, ProtoState::UdpLite) {
        return invalid("protocol mismatch");
    }
    let replied = e.seen_reply();
    L4Verdict::Accept {
        timeout_secs: Some(if replied {
            s.udp_timeout_stream
        } else {
            s.udp_timeout
        }),
        assure: replied,
        kill: false,
        transition: None,
        proto_changed: false,
    }
}
