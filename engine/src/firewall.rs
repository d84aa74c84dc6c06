//! The pipeline of a Linux router, as the kernel-oracle's sandbox builds it.
//!
//! Two interfaces: `lan` (192.168.1.1/24) and `wan` (198.51.100.1/24, default route).
//! A packet entering one leaves by the other through the FORWARD chain; a packet for
//! one of the router's own addresses goes to INPUT. In order, as in the kernel:
//!
//! 1. `ip_rcv`: a broken IPv4 header is dropped ([`wire::WireError`]);
//! 2. PREROUTING: defragmentation (a fragment is held until its datagram is
//!    complete), the `raw` table (`CT --notrack`, `CT --helper`), connection tracking;
//! 3. routing; a forwarded packet with TTL ≤ 1 is answered with ICMP time exceeded,
//!    one larger than the MTU with DF set with "fragmentation needed"; otherwise its
//!    TTL is decremented;
//! 4. the `filter` table's FORWARD (or INPUT) chain;
//! 5. accepted: helpers run and a new connection is confirmed; dropped or rejected:
//!    the new connection is forgotten.
//!
//! Conntrack is only active when the ruleset uses it (`-m state`, `-m conntrack`,
//! `CT`), as in a network namespace where no rule loaded it.

use crate::conntrack::{
    ConnRef, Conntrack, CtState, Entry, Settings, TcpState, Template, Tracked, Tuple, TABLE_FULL,
};
use crate::defrag::{self, Defrag};
use crate::local;
use crate::rules::trace::{rule_lines, CtChange, CtSnapshot, CtTrace, TraceLine};
use crate::rules::{self, FilterDecision, Hook, PacketContext, RulesError, Ruleset, Verdict};
use crate::wire::{self, icmp_type, Packet, WireError, L4};
use core::fmt;
use std::net::Ipv4Addr;

/// A router interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Iface {
    Lan,
    Wan,
}

impl Iface {
    pub fn name(self) -> &'static str {
        match self {
            Iface::Lan => "lan",
            Iface::Wan => "wan",
        }
    }
    pub fn from_name(name: &str) -> Option<Iface> {
        match name {
            "lan" => Some(Iface::Lan),
            "wan" => Some(Iface::Wan),
            _ => None,
        }
    }
    pub fn other(self) -> Iface {
        match self {
            Iface::Lan => Iface::Wan,
            Iface::Wan => Iface::Lan,
        }
    }
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The router's addresses and its LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// The MTU of both interfaces.
    pub mtu: u16,
    pub lan_addr: Ipv4Addr,
    pub lan_prefix: u8,
    pub wan_addr: Ipv4Addr,
    pub wan_prefix: u8,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            mtu: 1500,
            lan_addr: Ipv4Addr::new(192, 168, 1, 1),
            lan_prefix: 24,
            wan_addr: Ipv4Addr::new(198, 51, 100, 1),
            wan_prefix: 24,
        }
    }
}

fn in_net(a: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    u32::from(a) & mask == u32::from(net) & mask
}

impl Topology {
    /// The interface a destination is routed to (the LAN's connected route, else the default route).
    pub fn route(&self, dst: Ipv4Addr) -> Iface {
        if in_net(dst, self.lan_addr, self.lan_prefix) {
            Iface::Lan
        } else {
            Iface::Wan
        }
    }
    /// Whether `addr` is the directed broadcast of `iface`'s network (the local
    /// table's broadcast route on that interface; networks of /31 and /32 have none).
    pub fn is_network_broadcast(&self, iface: Iface, addr: Ipv4Addr) -> bool {
        let net = match iface {
            Iface::Lan => (self.lan_addr, self.lan_prefix),
            Iface::Wan => (self.wan_addr, self.wan_prefix),
        };
        !addr.is_broadcast() && local::is_broadcast(addr, &[net])
    }
    pub fn is_local(&self, dst: Ipv4Addr) -> bool {
        dst == self.lan_addr || dst == self.wan_addr
    }
    /// The limited broadcast or the broadcast address of the LAN or WAN network:
    /// delivered to the router itself (INPUT), never answered.
    pub fn is_broadcast(&self, dst: Ipv4Addr) -> bool {
        local::is_broadcast(
            dst,
            &[
                (self.lan_addr, self.lan_prefix),
                (self.wan_addr, self.wan_prefix),
            ],
        )
    }
    pub fn addr(&self, iface: Iface) -> Ipv4Addr {
        match iface {
            Iface::Lan => self.lan_addr,
            Iface::Wan => self.wan_addr,
        }
    }
}

/// What happened to a packet, as the kernel-oracle classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Outcome {
    /// Routed out of the other interface.
    Forwarded,
    /// Delivered to the router itself (INPUT accepted).
    Local,
    /// Nothing came out.
    Dropped,
    /// The router answered with an ICMP error or a TCP reset.
    Rejected,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Local => "local",
            Outcome::Dropped => "dropped",
            Outcome::Rejected => "rejected",
        }
    }
}

/// A packet the router sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Emitted {
    pub iface: Iface,
    pub bytes: Vec<u8>,
    /// `forwarded`, `icmp_error`, `tcp_rst`, or `reply` (an echo or timestamp reply
    /// of the router's own stack).
    pub kind: &'static str,
}

/// Everything known about one packet's trip through the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The `-m state` class the filter saw.
    pub ctstate: CtState,
    /// The filter chain's decision, when the packet reached the filter.
    pub filter: Option<FilterDecision>,
    /// INVALID reason, ignore reason, or why the stack dropped it.
    pub reason: Option<String>,
    /// TCP state before → after.
    pub transition: Option<(TcpState, TcpState)>,
    /// The id of the attached connection entry.
    pub entry_id: Option<u32>,
    /// Whether the packet created an entry.
    pub created: bool,
    pub emitted: Vec<Emitted>,
    /// Everything that happened to the packet, in order: the raw table, conntrack,
    /// routing, the filter chain (with LOG lines), and the walk through OUTPUT of
    /// any packet the router sent in answer.
    pub trace: Vec<TraceLine>,
}

impl Decision {
    /// The packet's path, step by step (see [`TraceLine`]).
    pub fn trace(&self) -> &[TraceLine] {
        &self.trace
    }

    /// The trace as text, one line per step, e.g.
    /// `conntrack: NEW original, entry #1 created: SYN_SENT [UNREPLIED] timeout 120s`,
    /// `filter:FORWARD:rule:3:ACCEPT`.
    pub fn explain(&self) -> Vec<String> {
        self.trace.iter().map(ToString::to_string).collect()
    }
}

/// An error processing a packet: the packet is dropped and the table is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError {
    /// The bytes are not a usable IPv4 packet.
    Wire(WireError),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::Wire(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProcessError {}

impl From<WireError> for ProcessError {
    fn from(e: WireError) -> Self {
        ProcessError::Wire(e)
    }
}

/// A router with a ruleset and a connection table.
#[derive(Debug, Clone)]
pub struct Firewall {
    pub topology: Topology,
    conntrack: Conntrack,
    rules: Ruleset,
    defrag: Defrag,
    /// Counter for the IP ids of generated packets (the kernel randomises them).
    next_ip_id: u16,
    /// Whether decisions carry their trace (see [`Firewall::set_tracing`]).
    traces: bool,
}

impl Firewall {
    pub fn new(settings: Settings, rules: Ruleset) -> Firewall {
        Firewall {
            topology: Topology::default(),
            conntrack: Conntrack::new(settings),
            rules,
            defrag: Defrag::default(),
            next_ip_id: 1,
            traces: true,
        }
    }

    /// A router with the given ruleset text (iptables-save or seed-style lines).
    pub fn with_rules(settings: Settings, text: &str) -> Result<Firewall, RulesError> {
        Ok(Firewall::new(settings, Ruleset::parse(text)?))
    }

    pub fn conntrack(&self) -> &Conntrack {
        &self.conntrack
    }
    pub fn conntrack_mut(&mut self) -> &mut Conntrack {
        &mut self.conntrack
    }
    pub fn rules(&self) -> &Ruleset {
        &self.rules
    }

    /// Replaces the ruleset (the table is kept). On error the old ruleset stays.
    pub fn load_rules(&mut self, text: &str) -> Result<(), RulesError> {
        let mut rules = Ruleset::parse(text)?;
        rules.keep_recent_lists_of(&mut self.rules);
        self.rules = rules;
        self.rules.set_recording(self.traces);
        Ok(())
    }

    /// Runs one `iptables ...` command line on the live ruleset (see
    /// [`Ruleset::apply_command`]): counters and limit buckets of the other rules
    /// are kept, the connection table is untouched. On error nothing changes.
    pub fn apply_command(&mut self, line: &str) -> Result<(), RulesError> {
        self.rules.apply_command(line)
    }

    /// Whether connection tracking is active (some rule uses it).
    pub fn tracking(&self) -> bool {
        self.rules.uses_conntrack()
    }

    /// Whether each [`Decision`] carries its trace (on by default). Building the
    /// trace (text, entry snapshots) costs more than the rest of the pipeline;
    /// hosts that only want verdicts turn it off. Off, the filter and raw
    /// decisions list no steps either ([`Ruleset::set_recording`]); nothing else
    /// changes.
    pub fn set_tracing(&mut self, on: bool) {
        self.traces = on;
        self.rules.set_recording(on);
    }

    /// Appends a line to a trace, when traces are on.
    fn note(&self, trace: &mut Vec<TraceLine>, line: impl FnOnce() -> TraceLine) {
        if self.traces {
            trace.push(line());
        }
    }

    fn ip_id(&mut self) -> u16 {
        self.next_ip_id = self.next_ip_id.wrapping_add(1);
        self.next_ip_id
    }

    /// Processes one packet entering `from` at `now_ms`.
    pub fn process(
        &mut self,
        now_ms: u64,
        from: Iface,
        bytes: &[u8],
    ) -> Result<Decision, ProcessError> {
        self.process_input(now_ms, from, Datagram::Borrowed(bytes))
    }

    /// Like [`Firewall::process`], for a caller that hands over its buffer: a
    /// forwarded packet leaves in it (TTL decremented in place) instead of in a copy.
    pub fn process_owned(
        &mut self,
        now_ms: u64,
        from: Iface,
        bytes: Vec<u8>,
    ) -> Result<Decision, ProcessError> {
        self.process_input(now_ms, from, Datagram::Owned(bytes))
    }

    fn process_input(
        &mut self,
        now_ms: u64,
        from: Iface,
        input: Datagram,
    ) -> Result<Decision, ProcessError> {
        let mut pkt = Packet::EMPTY;
        wire::parse_into(input.bytes(), &mut pkt)?;
        let input = input.truncate(pkt.ip.total_len as usize);
        let bytes = input.bytes();
        let mut d = Decision {
            outcome: Outcome::Dropped,
            ctstate: CtState::Invalid,
            filter: None,
            reason: None,
            transition: None,
            entry_id: None,
            created: false,
            emitted: Vec::new(),
            trace: Vec::new(),
        };
        if self.tracking() && pkt.ip.is_fragment() {
            return match self.defrag.add(now_ms, bytes, &pkt) {
                None => {
                    d.reason = Some("fragment held for reassembly".into());
                    self.note(&mut d.trace, || {
                        TraceLine::Stack(
                            "fragment held for reassembly (defragmentation runs before conntrack)"
                                .into(),
                        )
                    });
                    Ok(d)
                }
                Some(whole) => {
                    let pkt = wire::parse(&whole.bytes)?;
                    self.process_datagram(
                        now_ms,
                        from,
                        Datagram::Owned(whole.bytes),
                        &pkt,
                        whole.max_fragment,
                        &whole.pieces,
                        d,
                    )
                }
            };
        }
        self.process_datagram(now_ms, from, input, &pkt, 0, &[], d)
    }

    /// Processes a batch of packets in order, each with its time and the interface
    /// it enters from. One result per packet is appended to `out`, which callers can
    /// reuse across batches.
    pub fn process_batch<'p>(
        &mut self,
        packets: impl IntoIterator<Item = (u64, Iface, &'p [u8])>,
        out: &mut Vec<Result<Decision, ProcessError>>,
    ) {
        for (now_ms, from, bytes) in packets {
            out.push(self.process(now_ms, from, bytes));
        }
    }

    /// Everything after reassembly. `max_fragment` is the largest fragment the
    /// datagram arrived in (0 when it was not fragmented), `pieces` their payload
    /// lengths in offset order.
    #[allow(clippy::too_many_arguments)]
    fn process_datagram(
        &mut self,
        now_ms: u64,
        from: Iface,
        input: Datagram,
        pkt: &Packet,
        max_fragment: u16,
        pieces: &[usize],
        mut d: Decision,
    ) -> Result<Decision, ProcessError> {
        let bytes = input.bytes();
        // 224.0.0.1 is delivered like a broadcast: to INPUT, never answered.
        let broadcast =
            self.topology.is_broadcast(pkt.ip.dst) || self.topology.is_joined_group(pkt.ip.dst);
        let local = broadcast || self.topology.is_local(pkt.ip.dst);
        let out = self.topology.route(pkt.ip.dst);
        let tracking = self.tracking();

        // PREROUTING: the raw table, then conntrack.
        let mut tpl = Template::default();
        let mut ctx = self.context(bytes, pkt, Some(from), None, CtState::Invalid, None, now_ms);
        ctx.conntrack = Some(&self.conntrack);
        let raw = self.rules.raw(Hook::Prerouting, &ctx);
        if self.traces {
            rule_lines(&raw.steps, &mut d.trace);
        }
        if raw.verdict != Verdict::Accept {
            d.reason = Some("dropped in raw PREROUTING".into());
            return Ok(d);
        }
        let mark = raw.mark;
        tpl.notrack = raw.notrack;
        tpl.helper = raw.helper;
        let before = if self.traces && tracking && !tpl.notrack {
            lookup_tuple(bytes, pkt)
                .and_then(|t| self.conntrack.find(&t))
                .filter(|(e, _)| !e.is_expired(now_ms))
                .map(|(e, _)| snapshot(e, now_ms))
        } else {
            None
        };
        let mut tracked = Tracked::without_conntrack();
        if tracking {
            self.conntrack
                .track_into(now_ms, bytes, pkt, &tpl, &mut tracked);
        }
        let mut ct = self
            .traces
            .then(|| self.ct_trace(&tracked, tracking, before, now_ms));
        if tracked.dropped {
            let why = TABLE_FULL;
            d.reason = Some(why.into());
            push_ct(&mut d.trace, ct);
            self.note(&mut d.trace, || {
                TraceLine::Stack(format!("dropped by conntrack: {why}"))
            });
            return Ok(d);
        }
        d.ctstate = tracked.state;
        d.reason = tracked.reason.map(|r| r.to_string());
        d.transition = tracked.transition;
        d.created = tracked.created;
        d.entry_id = tracked
            .conn
            .and_then(|c| self.conntrack.entry(c))
            .map(|e| e.id);

        // Routing drops martians (see `routing`): a new entry is never confirmed.
        if let Some(why) = self
            .topology
            .martian(pkt.ip.src, pkt.ip.dst, pkt.ip.protocol)
        {
            self.conntrack.abort(&tracked);
            if let Some(ct) = ct.as_mut() {
                ct.confirmed = false;
            }
            push_ct(&mut d.trace, ct);
            self.note(&mut d.trace, || {
                TraceLine::Stack(format!("dropped by routing: {why}"))
            });
            d.reason.get_or_insert_with(|| why.into());
            return Ok(d);
        }

        // Routing: TTL and MTU checks happen before the FORWARD chain.
        let (hook, out_iface, mut at_hook) = if local {
            push_ct(&mut d.trace, ct.clone());
            let what = if broadcast {
                "a broadcast address"
            } else {
                "the router's own address"
            };
            self.note(&mut d.trace, || {
                TraceLine::Route(format!(
                    "input: {} is {what} (arrived on {from})",
                    pkt.ip.dst
                ))
            });
            (Hook::Input, None, input.into_vec())
        } else {
            let error = if pkt.ip.ttl <= 1 {
                Some((
                    icmp_type::TIME_EXCEEDED,
                    0,
                    0,
                    "time to live exceeded in transit",
                ))
            } else if self.exceeds_mtu(pkt, max_fragment) {
                let mtu = u32::from(self.topology.mtu);
                Some((
                    icmp_type::DEST_UNREACH,
                    4,
                    mtu,
                    "fragmentation needed and DF set",
                ))
            } else {
                None
            };
            if let Some((t, code, rest, why)) = error {
                self.conntrack.abort(&tracked);
                if let Some(ct) = ct.as_mut() {
                    ct.confirmed = false;
                }
                push_ct(&mut d.trace, ct);
                self.note(&mut d.trace, || {
                    TraceLine::Route(format!("forward {from} -> {out}"))
                });
                self.note(&mut d.trace, || {
                    TraceLine::Stack(format!("dropped before FORWARD: {why}"))
                });
                let src = self.topology.addr(from);
                let id = self.ip_id();
                if let Some(reply) = icmp_error_for(bytes, pkt, t, code, rest, src, id) {
                    let attached = tracked.conn.is_some();
                    if self.output_accepts(
                        now_ms,
                        from,
                        &reply,
                        "icmp_error",
                        attached,
                        &mut d.trace,
                    ) {
                        d.emitted.push(Emitted {
                            iface: from,
                            bytes: reply,
                            kind: "icmp_error",
                        });
                        d.outcome = Outcome::Rejected;
                    }
                }
                d.reason.get_or_insert_with(|| why.into());
                return Ok(d);
            }
            push_ct(&mut d.trace, ct.clone());
            self.note(&mut d.trace, || {
                TraceLine::Route(format!("forward {from} -> {out}"))
            });
            let mut forwarded = input.into_vec();
            decrement_ttl_in_place(&mut forwarded);
            (Hook::Forward, Some(out), forwarded)
        };
        let ct_at = d.trace.len().saturating_sub(2);
        let pkt_at_hook = wire::parse(&at_hook)?;

        // The filter table.
        let ctx = PacketContext {
            bytes: &at_hook,
            packet: &pkt_at_hook,
            in_iface: Some(from.name()),
            out_iface: out_iface.map(Iface::name),
            ctstate: tracked.state,
            ct: tracked.conn.and_then(|c| self.conntrack.entry(c)),
            ct_dir: tracked.direction(),
            now_ms,
            mark,
            topology: self.topology,
            conntrack: Some(&self.conntrack),
        };
        let decision = self.rules.filter(hook, &ctx);
        if let (Some(conn), Some(ctmark)) = (tracked.conn, decision.ctmark) {
            self.conntrack.set_mark(conn, ctmark, now_ms);
        }
        if self.traces {
            rule_lines(&decision.steps, &mut d.trace);
        }
        let verdict = decision.verdict;
        d.filter = Some(decision);
        let confirmed = match verdict {
            Verdict::Accept => {
                if tracking {
                    if let Err(why) =
                        self.conntrack
                            .confirm(now_ms, &tracked, &at_hook, &pkt_at_hook)
                    {
                        d.reason = Some(why.into());
                        self.note(&mut d.trace, || {
                            TraceLine::Stack(format!("dropped after the filter: {why}"))
                        });
                        set_confirmed(&mut d.trace, ct_at, false);
                        return Ok(d);
                    }
                }
                match out_iface {
                    Some(iface) => {
                        d.outcome = Outcome::Forwarded;
                        let size = if max_fragment > 0 {
                            max_fragment.min(self.topology.mtu)
                        } else {
                            self.topology.mtu
                        };
                        let sctp_pulled = tracking
                            && !tpl.notrack
                            && self.conntrack.settings().checksum
                            && sctp_pull_reshapes(pkt, pieces);
                        let pieces = if sctp_pulled { &[][..] } else { pieces };
                        let size = usize::from(size);
                        let forwarded = |bytes| Emitted {
                            iface,
                            bytes,
                            kind: "forwarded",
                        };
                        if pieces.len() < 2 && at_hook.len() <= size {
                            // Fits the link whole: it leaves as it is, without a copy.
                            d.emitted.push(forwarded(std::mem::take(&mut at_hook)));
                        } else {
                            let out = defrag::refragment(&at_hook, pieces, size);
                            d.emitted.extend(out.into_iter().map(forwarded));
                        }
                    }
                    None => {
                        d.outcome = Outcome::Local;
                        self.answer_locally(now_ms, &at_hook, &pkt_at_hook, broadcast, &mut d);
                    }
                }
                true
            }
            Verdict::Drop => {
                self.conntrack.abort(&tracked);
                false
            }
            Verdict::Reject(with) => {
                self.conntrack.abort(&tracked);
                // The kernel answers from the packet's destination when that is one
                // of its own addresses, else from the address facing the sender.
                let src = if local {
                    pkt.ip.dst
                } else {
                    self.topology.addr(from)
                };
                match rules::reject_response(&at_hook, &pkt_at_hook, with, src) {
                    Some(mut reply) => {
                        let kind = if reply.get(9) == Some(&wire::proto::TCP) {
                            "tcp_rst"
                        } else {
                            "icmp_error"
                        };
                        if kind == "icmp_error" {
                            // The kernel picks a random id for ICMP errors; resets carry 0.
                            let id = self.ip_id();
                            set_ip_id(&mut reply, id);
                        }
                        let attached = tracked.conn.is_some();
                        if self.output_accepts(now_ms, from, &reply, kind, attached, &mut d.trace) {
                            d.emitted.push(Emitted {
                                iface: from,
                                bytes: reply,
                                kind,
                            });
                            d.outcome = Outcome::Rejected;
                        }
                    }
                    None => self.note(&mut d.trace, || {
                        TraceLine::Stack(format!(
                            "REJECT --reject-with {} sends nothing for this packet",
                            with.name()
                        ))
                    }),
                }
                false
            }
        };
        set_confirmed(&mut d.trace, ct_at, confirmed);
        Ok(d)
    }

    /// The router's own stack takes a packet INPUT accepted and may answer it (see
    /// [`local`]); the answer goes out through OUTPUT towards the sender.
    fn answer_locally(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        pkt: &Packet,
        broadcast: bool,
        d: &mut Decision,
    ) {
        let id = self.ip_id();
        let answer = match local::answer(bytes, pkt, broadcast, id, now_ms) {
            Ok(a) => a,
            Err(why) => {
                self.note(&mut d.trace, || {
                    TraceLine::Stack(format!("delivered to the router itself: {why}"))
                });
                return;
            }
        };
        let what = match answer.kind {
            "tcp_rst" => "a reset (nothing listens on the port)",
            "icmp_error" => "an ICMP unreachable (no port or protocol handler)",
            _ => "a reply",
        };
        self.note(&mut d.trace, || {
            TraceLine::Stack(format!(
                "delivered to the router itself, which answers with {what}"
            ))
        });
        let out = self.topology.route(pkt.ip.src);
        if self.output_accepts(now_ms, out, &answer.bytes, answer.kind, false, &mut d.trace) {
            if answer.kind != "reply" {
                d.outcome = Outcome::Rejected;
            }
            // An echo reply to a request larger than the MTU leaves in fragments.
            let mtu = usize::from(self.topology.mtu);
            for piece in defrag::fragment(&answer.bytes, mtu) {
                d.emitted.push(Emitted {
                    iface: out,
                    bytes: piece,
                    kind: answer.kind,
                });
            }
        }
    }

    /// Conntrack's outcome for the trace, from the entry before and after tracking.
    fn ct_trace(
        &self,
        tracked: &Tracked,
        tracking: bool,
        before: Option<CtSnapshot>,
        now_ms: u64,
    ) -> CtTrace {
        let after = tracked
            .conn
            .and_then(|c| self.conntrack.entry(c))
            .map(|e| snapshot(e, now_ms));
        let change = if !tracking {
            CtChange::NotLoaded
        } else if tracked.state == CtState::Untracked {
            CtChange::Untracked
        } else if tracked.conn.is_none() {
            CtChange::Invalid
        } else if tracked.created {
            match (before, after) {
                (Some(b), Some(a)) if b.id != a.id => CtChange::Replaced,
                _ => CtChange::Created,
            }
        } else if tracked.conn == Some(ConnRef::InFlight) {
            CtChange::Killed
        } else if before.is_some() && before != after {
            CtChange::Updated
        } else {
            CtChange::Unchanged
        };
        CtTrace {
            state: tracked.state,
            direction: tracked.direction(),
            change,
            before,
            after,
            reason: tracked.reason.map(|r| r.to_string()),
            confirmed: !tracked.created,
        }
    }

    /// A packet the router generates (a REJECT answer, an ICMP error) leaves through
    /// the OUTPUT hook: the raw table's OUTPUT chain, then conntrack, then the
    /// filter table's OUTPUT chain. Its mark is 0 (a new packet).
    ///
    /// When the packet it answers has a connection (NEW, ESTABLISHED or RELATED,
    /// confirmed or not), the answer is attached to it before it is sent
    /// (`nf_ct_attach`), as RELATED, and conntrack leaves it alone — the kernel
    /// traces show this for resets and ICMP errors alike. Otherwise (the packet
    /// was INVALID or UNTRACKED) conntrack tracks the answer like any packet: a
    /// reset that belongs to no connection is INVALID, an ICMP error is RELATED
    /// only if it quotes a tracked connection. A `CT --notrack` in raw OUTPUT
    /// untracks only answers that have no connection yet. The steps go into `trace`.
    fn output_accepts(
        &mut self,
        now_ms: u64,
        out: Iface,
        bytes: &[u8],
        kind: &str,
        attached: bool,
        trace: &mut Vec<TraceLine>,
    ) -> bool {
        let Ok(pkt) = wire::parse(bytes) else {
            return false;
        };
        self.note(trace, || {
            TraceLine::Generated(format!(
                "{kind} {} > {} out of {out}",
                pkt.ip.src, pkt.ip.dst
            ))
        });
        let mut ctx = PacketContext {
            bytes,
            packet: &pkt,
            in_iface: None,
            out_iface: Some(out.name()),
            ctstate: if attached {
                CtState::Related
            } else {
                CtState::Invalid
            },
            ct: None,
            ct_dir: None,
            now_ms,
            mark: 0,
            topology: self.topology,
            conntrack: None,
        };
        let raw = self.rules.raw(Hook::Output, &ctx);
        if self.traces {
            rule_lines(&raw.steps, trace);
        }
        if raw.verdict != Verdict::Accept {
            self.note(trace, || {
                TraceLine::Stack(format!("{kind} dropped in raw OUTPUT"))
            });
            return false;
        }
        ctx.mark = raw.mark;
        // `CT --notrack` leaves a packet that already has a connection alone.
        if !attached {
            if raw.notrack {
                ctx.ctstate = CtState::Untracked;
            } else if self.tracking() {
                let t = self
                    .conntrack
                    .track(now_ms, bytes, &pkt, &Template::default());
                self.conntrack.abort(&t);
                ctx.ctstate = t.state;
                self.note(trace, || {
                    TraceLine::Stack(format!(
                        "conntrack (OUTPUT): {}{}",
                        t.state.name(),
                        t.reason.map(|r| format!(" ({r})")).unwrap_or_default()
                    ))
                });
            }
        }
        let ctx = PacketContext {
            conntrack: Some(&self.conntrack),
            ..ctx
        };
        let filter = self.rules.filter(Hook::Output, &ctx);
        if self.traces {
            rule_lines(&filter.steps, trace);
        }
        if filter.verdict != Verdict::Accept {
            self.note(trace, || {
                TraceLine::Stack(format!("{kind} dropped in filter OUTPUT"))
            });
            return false;
        }
        true
    }

    /// `ip_exceeds_mtu`: too big for the outgoing link with DF set.
    fn exceeds_mtu(&self, pkt: &Packet, max_fragment: u16) -> bool {
        let mtu = self.topology.mtu;
        if pkt.ip.total_len <= mtu || !pkt.ip.dont_fragment {
            return false;
        }
        max_fragment == 0 || max_fragment > mtu
    }

    #[allow(clippy::too_many_arguments)]
    fn context<'a>(
        &self,
        bytes: &'a [u8],
        pkt: &'a Packet,
        from: Option<Iface>,
        out: Option<Iface>,
        ctstate: CtState,
        ct: Option<&'a crate::conntrack::Entry>,
        now_ms: u64,
    ) -> PacketContext<'a> {
        PacketContext {
            bytes,
            packet: pkt,
            in_iface: from.map(Iface::name),
            out_iface: out.map(Iface::name),
            ctstate,
            ct,
            ct_dir: None,
            now_ms,
            mark: 0,
            topology: self.topology,
            conntrack: None,
        }
    }

    /// Moves the clock (reaps expired entries).
    pub fn advance(&mut self, now_ms: u64) {
        self.conntrack.advance(now_ms);
    }
}

/// Appends conntrack's line, when traces are on.
fn push_ct(trace: &mut Vec<TraceLine>, ct: Option<CtTrace>) {
    if let Some(ct) = ct {
        trace.push(TraceLine::Conntrack(ct));
    }
}

/// Marks the conntrack line at `at` (a created entry) as confirmed or not.
fn set_confirmed(trace: &mut [TraceLine], at: usize, confirmed: bool) {
    if let Some(TraceLine::Conntrack(ct)) = trace.get_mut(at) {
        if ct.change == CtChange::Created || ct.change == CtChange::Replaced {
            ct.confirmed = confirmed;
        }
    }
}

/// Before it checks the CRC32c, SCTP's tracker makes the 12-byte common header
/// writable (`skb_ensure_writable`). When the first fragment of a reassembled
/// datagram holds fewer than 12 transport bytes, that pulls bytes of the next piece
/// into it, the pieces no longer hold whole 8-byte blocks, and forwarding cuts the
/// datagram afresh instead of reusing them.
fn sctp_pull_reshapes(pkt: &Packet, pieces: &[usize]) -> bool {
    pkt.ip.protocol == wire::proto::SCTP && pieces.first().is_some_and(|&n| n < 12)
}

/// The tuple under which a packet's own entry would be found (`nf_ct_get_tuple`);
/// None for ICMP errors (they find the entry of the packet they quote) and for
/// packets conntrack cannot read.
pub(crate) fn lookup_tuple(bytes: &[u8], pkt: &Packet) -> Option<Tuple> {
    let ip = &pkt.ip;
    Some(match &pkt.l4 {
        L4::Tcp(t) => Tuple::ports(wire::proto::TCP, ip.src, t.sport, ip.dst, t.dport),
        L4::Udp(u) => Tuple::ports(wire::proto::UDP, ip.src, u.sport, ip.dst, u.dport),
        L4::UdpLite(u) => Tuple::ports(wire::proto::UDPLITE, ip.src, u.sport, ip.dst, u.dport),
        L4::Sctp(h) => Tuple::ports(wire::proto::SCTP, ip.src, h.sport, ip.dst, h.dport),
        L4::Icmp(i) if !icmp_type::is_error(i.icmp_type) => {
            Tuple::icmp(ip.src, ip.dst, i.id(), i.icmp_type, i.code)
        }
        L4::Other if ip.protocol == wire::proto::GRE => {
            let seg = bytes.get(usize::from(ip.header_len)..usize::from(ip.total_len));
            return Tuple::gre(ip.src, ip.dst, seg.unwrap_or_default());
        }
        L4::Other => Tuple::addresses(ip.protocol, ip.src, ip.dst),
        _ => return None,
    })
}

/// What the trace shows of an entry.
fn snapshot(e: &Entry, now_ms: u64) -> CtSnapshot {
    CtSnapshot {
        id: e.id,
        tcp_state: e.tcp().map(|t| t.state),
        seen_reply: e.seen_reply(),
        assured: e.is_assured(),
        timeout_secs: e.timeout_secs(now_ms),
    }
}

/// The packet as it leaves: TTL decremented, header checksum updated.
pub fn decrement_ttl(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    decrement_ttl_in_place(&mut out);
    out
}

/// [`decrement_ttl`] on the datagram itself.
fn decrement_ttl_in_place(out: &mut [u8]) {
    out[8] = out[8].wrapping_sub(1);
    out[10] = 0;
    out[11] = 0;
    let hl = (out[0] & 0x0f) as usize * 4;
    let c = wire::ipv4_header_checksum(&out[..hl]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A datagram as the caller gave it: borrowed (the router copies what it sends on)
/// or handed over (what it sends on leaves in the same buffer).
enum Datagram<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Datagram<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Datagram::Borrowed(b) => b,
            Datagram::Owned(v) => v,
        }
    }

    /// The first `len` bytes (the IP total length; the parser checked it fits).
    fn truncate(self, len: usize) -> Self {
        match self {
            Datagram::Borrowed(b) => Datagram::Borrowed(&b[..len]),
            Datagram::Owned(mut v) => {
                v.truncate(len);
                Datagram::Owned(v)
            }
        }
    }

    fn into_vec(self) -> Vec<u8> {
        match self {
            Datagram::Borrowed(b) => b.to_vec(),
            Datagram::Owned(v) => v,
        }
    }
}

/// Rewrites the IP id of a generated packet and fixes the header checksum.
fn set_ip_id(bytes: &mut [u8], id: u16) {
    if bytes.len() < 20 {
        return;
    }
    bytes[4..6].copy_from_slice(&id.to_be_bytes());
    bytes[10] = 0;
    bytes[11] = 0;
    let hl = (bytes[0] & 0x0f) as usize * 4;
    let c = wire::ipv4_header_checksum(&bytes[..hl.min(bytes.len())]);
    bytes[10..12].copy_from_slice(&c.to_be_bytes());
}

/// An ICMP error about `bytes`, unless the kernel would stay silent: never about an
/// ICMP error, a non-first fragment, or a packet from a broadcast/zero address.
fn icmp_error_for(
    bytes: &[u8],
    pkt: &Packet,
    t: u8,
    code: u8,
    rest: u32,
    src: Ipv4Addr,
    id: u16,
) -> Option<Vec<u8>> {
    if pkt.ip.fragment_offset != 0 || pkt.ip.src.is_unspecified() || pkt.ip.src.is_broadcast() {
        return None;
    }
    if let wire::L4::Icmp(ic) = &pkt.l4 {
        if ic.icmp_type > 18 || icmp_type::is_error(ic.icmp_type) {
            return None;
        }
    }
    Some(wire::icmp_error_reply(bytes, t, code, rest, src, id))
}
