//! The rule engine: the iptables `filter` table and the `raw` table's CT target,
//! with iptables' syntax and the kernel's semantics.
//!
//! * [`Ruleset::parse`] reads `iptables-save` text (or the kernel-oracle's "seed
//!   style" lines) exactly as `iptables-restore` would accept it, and refuses
//!   anything it does not implement with a [`RulesError`] naming line and column.
//! * [`Ruleset::raw_prerouting`] runs the raw table before conntrack (NOTRACK,
//!   `CT --helper ftp`); [`Ruleset::filter`] runs a filter chain for a hook and says
//!   which rule decided, with a trace like `iptables -j TRACE`.
//! * [`Ruleset::save`] prints the rules as `iptables-save` (iptables 1.8, nf_tables
//!   backend) prints them, so counters can be compared with the kernel's by rule text.
//! * [`reject_response`] builds the packet REJECT sends back.

pub mod addr;
pub mod counters;
mod error;
mod eval;
pub mod iface;
mod lex;
pub mod matches;
mod num;
mod parse;
mod proto;
mod reject;
pub mod rule;
mod services;
pub mod table;
pub mod target;
mod view;

#[cfg(test)]
mod tests;

pub use counters::{Counters, PolicyCounters, RuleCounters, TableCounters};
pub use error::RulesError;
pub use reject::reject_response;
pub use rule::Rule;
pub use table::{Chain, Policy, Table, TableKind};
pub use target::{RejectWith, Target};

use crate::conntrack::{ctinfo::CtState, entry::Entry, entry::Helper, tuple::Direction};
use crate::wire;
use eval::CtAction;
use view::View;

/// The netfilter hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    /// The built-in chain of that name.
    pub fn chain_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }
}

/// A packet at a hook, with what conntrack said about it.
#[derive(Debug, Clone, Copy)]
pub struct PacketContext<'a> {
    /// The packet as it is at this hook (at FORWARD the TTL is already decremented).
    pub bytes: &'a [u8],
    pub packet: &'a wire::Packet,
    /// `"lan"` / `"wan"`, or None when the hook has no such interface.
    pub in_iface: Option<&'a str>,
    pub out_iface: Option<&'a str>,
    pub ctstate: CtState,
    /// The attached connection, if any.
    pub ct: Option<&'a Entry>,
    pub ct_dir: Option<Direction>,
    pub now_ms: u64,
}

/// A packet's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// Dropped, and answered as [`reject_response`] builds it.
    Reject(RejectWith),
}

/// What the raw table's PREROUTING chain decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDecision {
    /// `-j NOTRACK` / `-j CT --notrack`: conntrack must leave the packet alone
    /// (its state is UNTRACKED).
    pub notrack: bool,
    /// `-j CT --helper NAME`: the helper a new connection gets.
    pub helper: Option<Helper>,
    pub verdict: Verdict,
    pub trace: Vec<String>,
}

/// What a filter chain decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterDecision {
    pub verdict: Verdict,
    /// The chain holding the deciding rule (the built-in chain for a policy).
    pub chain: String,
    /// 1-based index of the deciding rule in `chain`; None: the policy decided.
    pub rule: Option<usize>,
    /// Every rule that matched, e.g. `filter:FORWARD:rule:3:ACCEPT`, and how the
    /// walk ended (`filter:FORWARD:policy:DROP`).
    pub trace: Vec<String>,
}

/// Loaded tables (filter always; raw when the text has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    tables: Vec<Table>,
}

impl Default for Ruleset {
    /// No rules; every policy ACCEPT.
    fn default() -> Ruleset {
        Ruleset {
            tables: vec![Table::new(TableKind::Filter)],
        }
    }
}

impl Ruleset {
    /// Reads iptables-save text (`*raw` / `*filter` sections, `:CHAIN POLICY [p:b]`,
    /// rules with or without `[p:b]` counters — ignored, as `iptables-restore`
    /// without `-c` does — `COMMIT`, `#` comments) or seed-style lines (`-P CHAIN
    /// POLICY`, `-N CHAIN`, `-A ...`, `-I ...`, optionally after `iptables `), which go
    /// into the filter table. An empty text gives all policies ACCEPT.
    pub fn parse(text: &str) -> Result<Ruleset, RulesError> {
        let mut tables = parse::parse(text)?;
        if !tables.iter().any(|t| t.kind == TableKind::Filter) {
            tables.push(Table::new(TableKind::Filter));
        }
        tables.sort_by_key(|t| t.kind != TableKind::Raw);
        Ok(Ruleset { tables })
    }

    /// Whether the kernel would track connections: some rule uses `-m state` /
    /// `-m conntrack`, or the raw table attaches a CT template (`CT --notrack` and
    /// `NOTRACK` do not load conntrack).
    pub fn uses_conntrack(&self) -> bool {
        self.tables
            .iter()
            .flat_map(|t| &t.chains)
            .flat_map(|c| &c.rules)
            .any(Rule::uses_conntrack)
    }

    pub fn table(&self, kind: TableKind) -> Option<&Table> {
        self.tables.iter().find(|t| t.kind == kind)
    }

    fn table_mut(&mut self, kind: TableKind) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.kind == kind)
    }

    /// Runs the raw table's PREROUTING chain, counting. It runs before conntrack, so
    /// the packet has no connection yet: pass `ctstate: CtState::Invalid` and no `ct`
    /// (after a NOTRACK in this chain, later rules see UNTRACKED).
    pub fn raw_prerouting(&mut self, ctx: &PacketContext) -> RawDecision {
        let mut out = RawDecision {
            notrack: false,
            helper: None,
            verdict: Verdict::Accept,
            trace: Vec::new(),
        };
        let Some(table) = self.table_mut(TableKind::Raw) else {
            return out;
        };
        let Some(start) = table.index_of("PREROUTING") else {
            return out;
        };
        let mut view = View::new(ctx);
        let walk = eval::walk(table, start, &mut view);
        match walk.ct {
            Some(CtAction::Notrack) => out.notrack = true,
            Some(CtAction::Template(h)) => out.helper = h,
            None => {}
        }
        out.verdict = walk.verdict;
        out.trace = walk.trace;
        out
    }

    /// Runs the filter table's chain for `hook`, counting. Hooks without a filter
    /// chain (PREROUTING, POSTROUTING) accept.
    pub fn filter(&mut self, hook: Hook, ctx: &PacketContext) -> FilterDecision {
        let name = hook.chain_name();
        let accept = FilterDecision {
            verdict: Verdict::Accept,
            chain: name.into(),
            rule: None,
            trace: Vec::new(),
        };
        let Some(table) = self.table_mut(TableKind::Filter) else {
            return accept;
        };
        let Some(start) = table
            .index_of(name)
            .filter(|&i| table.chains[i].policy.is_some())
        else {
            return accept;
        };
        let mut view = View::new(ctx);
        let walk = eval::walk(table, start, &mut view);
        FilterDecision {
            verdict: walk.verdict,
            chain: table.chains[walk.chain].name.clone(),
            rule: walk.rule,
            trace: walk.trace,
        }
    }

    /// Every table in iptables-save format (raw first, then filter), without the
    /// `# Generated` comments; rule lines get `[packets:bytes]` when asked. Chain
    /// lines always show the policy counters, as iptables-save does.
    pub fn save(&self, with_counters: bool) -> String {
        let mut out = String::new();
        for t in &self.tables {
            t.save(with_counters, &mut out);
        }
        out
    }

    /// One table in iptables-save format (`iptables-save -t NAME`).
    pub fn save_table(&self, kind: TableKind, with_counters: bool) -> Option<String> {
        let mut out = String::new();
        self.table(kind)?.save(with_counters, &mut out);
        Some(out)
    }

    /// The counters of every table, by iptables-save rule text.
    pub fn counters(&self) -> Counters {
        Counters {
            tables: self
                .tables
                .iter()
                .map(|t| (t.kind.name().to_string(), TableCounters::of(t)))
                .collect(),
        }
    }

    /// Zeroes every counter (`iptables -Z`).
    pub fn zero_counters(&mut self) {
        for c in self.tables.iter_mut().flat_map(|t| &mut t.chains) {
            (c.packets, c.bytes) = (0, 0);
            for r in &mut c.rules {
                (r.packets, r.bytes) = (0, 0);
            }
        }
    }
}
