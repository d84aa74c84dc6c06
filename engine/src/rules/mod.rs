//! The rule engine: the iptables `filter` table and the `raw` table's CT target,
//! with iptables' syntax and the kernel's semantics.
//!
//! * [`Ruleset::parse`] reads `iptables-save` text (or the kernel-oracle's "seed
//!   style" lines) exactly as `iptables-restore` would accept it, and refuses
//!   anything it does not implement with a [`RulesError`] naming line and column;
//!   [`Ruleset::parse_with_counters`] also restores `[packets:bytes]` counters, as
//!   `iptables-restore -c` does.
//! * [`Ruleset::apply_command`] runs one `iptables -A/-I/-D/-R/-P/-N/-X/-F/-Z/-E`
//!   command line on the loaded rules, all or nothing.
//! * [`Ruleset::raw`] runs the raw table (before conntrack: NOTRACK,
//!   `CT --helper ftp`); [`Ruleset::filter`] runs a filter chain for a hook and says
//!   which rule decided, with a trace like `iptables -j TRACE` ([`trace`]).
//! * [`Ruleset::save`] prints the rules as `iptables-save` (iptables 1.8, nf_tables
//!   backend) prints them, so counters can be compared with the kernel's by rule
//!   text; [`Ruleset::list`] prints them as `iptables -L -v -n -x` does.
//! * [`reject_response`] builds the packet REJECT sends back.

pub mod addr;
pub mod counters;
mod error;
mod eval;
pub mod iface;
mod lex;
mod list;
mod log;
pub mod matches;
mod num;
mod parse;
mod proto;
mod reject;
pub mod rule;
mod services;
pub mod table;
pub mod target;
pub mod trace;
mod view;

#[cfg(test)]
mod tests;

pub use counters::{Counters, PolicyCounters, RuleCounters, TableCounters};
pub use error::RulesError;
pub use list::ListFormat;
pub use reject::reject_response;
pub use rule::Rule;
pub use table::{Chain, Policy, Table, TableKind};
pub use target::{LogTarget, RejectWith, Target};
pub use trace::{CtChange, CtSnapshot, CtTrace, LogEntry, RuleStep, StepAction, StepAt, TraceLine};

use crate::conntrack::{ctinfo::CtState, entry::Entry, entry::Helper, tuple::Direction};
use crate::firewall::Topology;
use crate::wire;
use eval::CtAction;
use matches::{Match, RecentLists};
use std::cell::RefCell;
use std::sync::Arc;
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
    /// The packet mark (`skb->mark`) as the hook receives it.
    pub mark: u32,
    /// The router's addresses (`-m addrtype` classifies addresses by them).
    pub topology: Topology,
    /// The connection table, for matches that count connections (`-m connlimit`);
    /// None counts every connection as gone.
    pub conntrack: Option<&'a crate::conntrack::Conntrack>,
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
    /// Every rule that matched and how the walk ended (`raw:PREROUTING:rule:1:CT`
    /// as text, see [`RawDecision::trace`]).
    pub steps: Vec<RuleStep>,
    /// The packet mark after the chain (`-j MARK`).
    pub mark: u32,
    /// The connection mark after the chain (`-j CONNMARK`); None without a connection.
    pub ctmark: Option<u32>,
}

/// What a filter chain decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterDecision {
    pub verdict: Verdict,
    /// The chain holding the deciding rule (the built-in chain for a policy).
    pub chain: Arc<str>,
    /// 1-based index of the deciding rule in `chain`; None: the policy decided.
    pub rule: Option<usize>,
    /// Every rule that matched and how the walk ended (LOG steps carry their log
    /// line); as text by [`FilterDecision::trace`].
    pub steps: Vec<RuleStep>,
    /// The packet mark after the chain (`-j MARK`).
    pub mark: u32,
    /// The connection mark after the chain (`-j CONNMARK`); None without a connection.
    pub ctmark: Option<u32>,
}

impl RawDecision {
    /// The steps as text: `raw:PREROUTING:rule:1:CT`.
    pub fn trace(&self) -> Vec<String> {
        self.steps.iter().map(ToString::to_string).collect()
    }
}

impl FilterDecision {
    /// The steps as text: every rule that matched, e.g. `filter:FORWARD:rule:3:ACCEPT`,
    /// and how the walk ended (`filter:FORWARD:policy:DROP`).
    pub fn trace(&self) -> Vec<String> {
        self.steps.iter().map(ToString::to_string).collect()
    }
}

/// Loaded tables (filter always; raw when the text has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    tables: Vec<Table>,
    /// Whether decisions list their steps (see [`Ruleset::set_recording`]).
    record_steps: bool,
    /// The `-m recent` address lists, shared by every rule that names them.
    recent: RefCell<RecentLists>,
}

impl Default for Ruleset {
    /// No rules; every policy ACCEPT.
    fn default() -> Ruleset {
        Ruleset {
            tables: vec![Table::new(TableKind::Filter)],
            record_steps: true,
            recent: RefCell::default(),
        }
    }
}

impl Ruleset {
    /// Whether decisions list their steps (`RawDecision::steps`,
    /// `FilterDecision::steps`; on by default). Off, the walk records nothing and
    /// formats no LOG line, and the steps stay empty; verdicts, marks and counters
    /// are the same.
    pub fn set_recording(&mut self, on: bool) {
        self.record_steps = on;
    }

    /// Reads iptables-save text (`*raw` / `*filter` sections, `:CHAIN POLICY [p:b]`,
    /// rules with or without `[p:b]` counters — ignored, as `iptables-restore`
    /// without `-c` does — `COMMIT`, `#` comments) or seed-style lines (`-P CHAIN
    /// POLICY`, `-N CHAIN`, `-A ...`, `-I ...`, optionally after `iptables `), which go
    /// into the filter table. An empty text gives all policies ACCEPT.
    pub fn parse(text: &str) -> Result<Ruleset, RulesError> {
        Ruleset::load(text, false)
    }

    /// Like [`Ruleset::parse`], and restores the counters too: `[packets:bytes]`
    /// before rules and on built-in chains' lines (`iptables-restore -c`).
    pub fn parse_with_counters(text: &str) -> Result<Ruleset, RulesError> {
        Ruleset::load(text, true)
    }

    fn load(text: &str, counters: bool) -> Result<Ruleset, RulesError> {
        let mut tables = parse::parse(text, counters)?;
        if !tables.iter().any(|t| t.kind == TableKind::Filter) {
            tables.push(Table::new(TableKind::Filter));
        }
        crate::sort::sort_by_key(&mut tables, |t| t.kind != TableKind::Raw);
        let mut rules = Ruleset {
            tables,
            record_steps: true,
            recent: RefCell::default(),
        };
        rules.rebuild_recent();
        Ok(rules)
    }

    /// Makes the `-m recent` lists those the rules name (see
    /// [`RecentLists::rebuild`]), keeping what the lists still named hold.
    fn rebuild_recent(&mut self) {
        let old = self.recent.take();
        let named = self
            .tables
            .iter()
            .flat_map(|t| &t.chains)
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.matches)
            .filter_map(|m| match m {
                Match::Recent(r) => Some(r),
                _ => None,
            });
        *self.recent.get_mut() = old.rebuild(named);
    }

    /// Takes over the `-m recent` lists of the rule set this one replaces, as a
    /// kernel keeps a list while some rule still names it.
    pub fn keep_recent_lists_of(&mut self, old: &mut Ruleset) {
        *self.recent.get_mut() = old.recent.take();
        self.rebuild_recent();
    }

    /// The `-m recent` lists.
    pub fn recent_lists(&self) -> std::cell::Ref<'_, RecentLists> {
        self.recent.borrow()
    }

    /// Runs one command line as `iptables` would on the loaded rules:
    /// `-A`, `-I CHAIN [N]`, `-D CHAIN N|RULE`, `-R CHAIN N RULE`, `-P`, `-N`,
    /// `-X [CHAIN]`, `-F [CHAIN]`, `-Z [CHAIN [N]]`, `-E OLD NEW`, optionally with
    /// `-t raw|filter` and a leading `iptables`. All or nothing: on error (which
    /// names column and reason; the line is line 1) the rules are unchanged.
    ///
    /// `-D` with a rule deletes the first rule that iptables-save would print the
    /// same way (so `--dport 22 -p tcp` finds `-p tcp -m tcp --dport 22`).
    pub fn apply_command(&mut self, line: &str) -> Result<(), RulesError> {
        self.tables = parse::command(&self.tables, line, 1)?;
        self.rebuild_recent();
        Ok(())
    }

    /// Runs several command lines (blank lines and `#` comments skipped) as one
    /// transaction: either all of them apply or none; errors name the line.
    pub fn apply_commands(&mut self, text: &str) -> Result<(), RulesError> {
        let mut tables = self.tables.clone();
        for (i, line) in text.lines().enumerate() {
            let body = line.trim();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            tables = parse::command(&tables, line, i + 1)?;
        }
        self.tables = tables;
        self.rebuild_recent();
        Ok(())
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

    /// Runs the raw table's PREROUTING chain, counting (see [`Ruleset::raw`]).
    pub fn raw_prerouting(&mut self, ctx: &PacketContext) -> RawDecision {
        self.raw(Hook::Prerouting, ctx)
    }

    /// Runs the raw table's chain for `hook` (PREROUTING for arriving packets,
    /// OUTPUT for packets the router sends), counting. It runs before conntrack:
    /// an arriving packet has no connection yet, so pass `ctstate:
    /// CtState::Invalid` and no `ct` (after a NOTRACK in the chain, later rules see
    /// UNTRACKED). Hooks without a raw chain accept.
    pub fn raw(&mut self, hook: Hook, ctx: &PacketContext) -> RawDecision {
        let record = self.record_steps;
        let recent = &self.recent;
        let mut out = RawDecision {
            notrack: false,
            helper: None,
            verdict: Verdict::Accept,
            steps: Vec::new(),
            mark: ctx.mark,
            ctmark: View::new(ctx).ctmark,
        };
        let Some(table) = self.tables.iter_mut().find(|t| t.kind == TableKind::Raw) else {
            return out;
        };
        let Some(start) = table
            .index_of(hook.chain_name())
            .filter(|&i| table.chains[i].policy.is_some())
        else {
            return out;
        };
        let mut view = View::new(ctx);
        view.recent = Some(recent);
        let walk = eval::walk(table, start, &mut view, record);
        match walk.ct {
            Some(CtAction::Notrack) => out.notrack = true,
            Some(CtAction::Template(h)) => out.helper = h,
            None => {}
        }
        out.verdict = walk.verdict;
        out.steps = walk.steps;
        out.mark = walk.mark;
        out.ctmark = walk.ctmark;
        out
    }

    /// Runs the filter table's chain for `hook`, counting. Hooks without a filter
    /// chain (PREROUTING, POSTROUTING) accept.
    pub fn filter(&mut self, hook: Hook, ctx: &PacketContext) -> FilterDecision {
        let record = self.record_steps;
        let recent = &self.recent;
        let name = hook.chain_name();
        let accept = || FilterDecision {
            verdict: Verdict::Accept,
            chain: name.into(),
            rule: None,
            steps: Vec::new(),
            mark: ctx.mark,
            ctmark: View::new(ctx).ctmark,
        };
        let Some(table) = self.tables.iter_mut().find(|t| t.kind == TableKind::Filter) else {
            return accept();
        };
        let Some(start) = table
            .index_of(name)
            .filter(|&i| table.chains[i].policy.is_some())
        else {
            return accept();
        };
        let mut view = View::new(ctx);
        view.recent = Some(recent);
        let walk = eval::walk(table, start, &mut view, record);
        FilterDecision {
            verdict: walk.verdict,
            chain: table.chains[walk.chain].name.clone(),
            rule: walk.rule,
            steps: walk.steps,
            mark: walk.mark,
            ctmark: walk.ctmark,
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

    /// The filter table as `iptables -L [-v] [-n] [-x]` prints it.
    pub fn list(&self, verbose: bool, numeric: bool, exact: bool) -> String {
        let f = ListFormat {
            verbose,
            numeric,
            exact,
            line_numbers: false,
        };
        self.list_table(TableKind::Filter, &f).unwrap_or_default()
    }

    /// A table as `iptables -t NAME -L` prints it, or None if it is not loaded.
    pub fn list_table(&self, kind: TableKind, format: &ListFormat) -> Option<String> {
        Some(list::list_table(self.table(kind)?, format))
    }

    /// One chain as `iptables -t NAME -L CHAIN` prints it, or None if there is no
    /// such table or chain.
    pub fn list_chain(&self, kind: TableKind, chain: &str, format: &ListFormat) -> Option<String> {
        list::list_chain(self.table(kind)?, chain, format)
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
