//! What a packet went through, step by step: the kind of record `iptables -j TRACE`
//! (and `nft monitor trace`) prints for every rule a packet hits, plus what
//! conntrack did with it and the lines a `-j LOG` rule would have written to the
//! kernel log.
//!
//! A walk through one table's chain prints like TRACE's `TABLE:CHAIN:rule:N` /
//! `TABLE:CHAIN:return` / `TABLE:CHAIN:policy` records, with the action taken:
//!
//! ```text
//! raw:PREROUTING:rule:1:CT
//! filter:FORWARD:rule:1:JUMP:lan_out
//! filter:lan_out:rule:2:LOG
//! filter:lan_out:return
//! filter:FORWARD:policy:DROP
//! ```

use super::table::{Policy, TableKind};
use super::target::RejectWith;
use crate::conntrack::{ctinfo::CtState, tcp::TcpState, tuple::Direction};
use core::fmt;
use std::sync::Arc;

/// Where in a chain a step happened, and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAt {
    /// Rule `index` (1-based) matched and its target ran.
    Rule { index: usize, action: StepAction },
    /// The end of a user chain was reached: back to the rule after the jump.
    Return,
    /// The end of a built-in chain (or a RETURN in it): the policy decided.
    Policy(Policy),
}

/// What a matching rule's target did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    Accept,
    Drop,
    Reject(RejectWith),
    Return,
    Jump(String),
    Goto(String),
    /// No target (`-A FORWARD -p tcp`): counted, then the next rule.
    Continue,
    /// `-j LOG`: the line the kernel would log; then the next rule.
    Log(LogEntry),
    /// `-j MARK`: the packet mark after the rule; then the next rule.
    Mark(u32),
    /// `-j CONNMARK`: the connection mark after the rule (None: no connection, the
    /// target did nothing); then the next rule.
    Connmark(Option<u32>),
    /// `-j CT ...` in the raw table; then the next rule.
    Ct,
    /// `-j NOTRACK`; then the next rule.
    Notrack,
    /// A match could not read a header it needs and dropped the packet at once
    /// (the kernel's `hotdrop`); the rule is not counted.
    Hotdrop,
}

impl StepAction {
    fn name(&self) -> String {
        match self {
            StepAction::Accept => "ACCEPT".into(),
            StepAction::Drop => "DROP".into(),
            StepAction::Reject(_) => "REJECT".into(),
            StepAction::Return => "RETURN".into(),
            StepAction::Jump(c) => format!("JUMP:{c}"),
            StepAction::Goto(c) => format!("GOTO:{c}"),
            StepAction::Continue => "CONTINUE".into(),
            StepAction::Log(_) => "LOG".into(),
            StepAction::Mark(_) => "MARK".into(),
            StepAction::Connmark(_) => "CONNMARK".into(),
            StepAction::Ct => "CT".into(),
            StepAction::Notrack => "NOTRACK".into(),
            StepAction::Hotdrop => "HOTDROP".into(),
        }
    }
}

/// A line written by `-j LOG`, as `nf_log_syslog` formats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// syslog level (0 emerg ... 7 debug; 4 warning is the default).
    pub level: u8,
    pub prefix: String,
    /// The whole line: prefix, `IN= OUT=`, `MAC=`, then the headers.
    pub text: String,
}

/// One step of a walk through a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStep {
    pub table: TableKind,
    pub chain: Arc<str>,
    pub at: StepAt,
}

impl fmt::Display for RuleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.table.name(), self.chain)?;
        match &self.at {
            StepAt::Rule { index, action } => write!(f, "rule:{index}:{}", action.name()),
            StepAt::Return => f.write_str("return"),
            StepAt::Policy(p) => write!(f, "policy:{}", p.name()),
        }
    }
}

/// A step equals its text (`filter:FORWARD:rule:3:ACCEPT`).
impl PartialEq<&str> for RuleStep {
    fn eq(&self, other: &&str) -> bool {
        let text = self.to_string();
        text == *other
    }
}

/// What an entry looked like (before or after a packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtSnapshot {
    pub id: u32,
    pub tcp_state: Option<TcpState>,
    pub seen_reply: bool,
    pub assured: bool,
    /// Seconds left, as `/proc/net/nf_conntrack` shows them.
    pub timeout_secs: u64,
}

impl fmt::Display for CtSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.tcp_state {
            write!(f, "{} ", s.name())?;
        }
        if !self.seen_reply {
            f.write_str("[UNREPLIED] ")?;
        }
        if self.assured {
            f.write_str("[ASSURED] ")?;
        }
        write!(f, "timeout {}s", self.timeout_secs)
    }
}

/// What conntrack did with a packet's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtChange {
    /// Connection tracking is not loaded (no rule uses it), as in a namespace
    /// where nothing pulled in `nf_conntrack`.
    NotLoaded,
    /// The raw table said NOTRACK: no entry is looked at.
    Untracked,
    /// No entry could be attached (see the reason).
    Invalid,
    /// A new entry was made for the packet; it is confirmed (enters the table)
    /// only if the packet is accepted.
    Created,
    /// An existing entry took the packet and changed (state, flags or timer).
    Updated,
    /// An existing entry took the packet without changing (an ignored packet, or
    /// an ICMP error RELATED to it).
    Unchanged,
    /// The packet ended its entry (a RST before any reply).
    Killed,
    /// The packet replaced an old entry with a new one (a SYN reopening a closed
    /// connection); `before` is the old entry.
    Replaced,
}

/// Conntrack's part of a packet's story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtTrace {
    /// The state the rules saw (`-m state` / `--ctstate`).
    pub state: CtState,
    /// Original or reply direction of the attached entry.
    pub direction: Option<Direction>,
    pub change: CtChange,
    /// The entry the packet's tuple found before it was tracked.
    pub before: Option<CtSnapshot>,
    /// The attached entry after tracking (and after confirmation).
    pub after: Option<CtSnapshot>,
    /// Why the packet is INVALID, or why the tracker ignored it, in the
    /// wording of `nf_conntrack_log_invalid`.
    pub reason: Option<String>,
    /// For [`CtChange::Created`]: whether the entry entered the table (the packet
    /// was accepted) or was discarded with the dropped packet.
    pub confirmed: bool,
}

impl fmt::Display for CtTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conntrack: {}", self.state.name())?;
        match self.direction {
            Some(Direction::Original) => f.write_str(" original")?,
            Some(Direction::Reply) => f.write_str(" reply")?,
            None => {}
        }
        let id = |s: &Option<CtSnapshot>| s.map_or(String::new(), |s| format!(" #{}", s.id));
        match self.change {
            CtChange::NotLoaded => f.write_str(", not loaded (no rule uses it)")?,
            CtChange::Untracked => f.write_str(", not tracked (raw NOTRACK)")?,
            CtChange::Invalid => {}
            CtChange::Created => {
                write!(f, ", entry{} created", id(&self.after))?;
                if let Some(a) = self.after {
                    write!(f, ": {a}")?;
                }
                if !self.confirmed {
                    f.write_str("; discarded unconfirmed with the packet")?;
                }
            }
            CtChange::Updated | CtChange::Unchanged => {
                let verb = if self.change == CtChange::Updated {
                    "updated"
                } else {
                    "unchanged"
                };
                write!(f, ", entry{} {verb}", id(&self.after))?;
                match (self.before, self.after) {
                    (Some(b), Some(a)) if self.change == CtChange::Updated => {
                        write!(f, ": {b} -> {a}")?
                    }
                    (_, Some(a)) => write!(f, ": {a}")?,
                    _ => {}
                }
            }
            CtChange::Killed => write!(f, ", entry{} destroyed", id(&self.after))?,
            CtChange::Replaced => {
                write!(
                    f,
                    ", entry{} destroyed and replaced by entry{}",
                    id(&self.before),
                    id(&self.after)
                )?;
                if let Some(a) = self.after {
                    write!(f, ": {a}")?;
                }
            }
        }
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// One line of a packet's trace, in the order things happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceLine {
    /// A step through a table (raw before conntrack, filter after routing,
    /// raw and filter OUTPUT for packets the router sends).
    Rule(RuleStep),
    /// A `-j LOG` line.
    Log(LogEntry),
    /// Conntrack's outcome.
    Conntrack(CtTrace),
    /// The routing decision: the hook the filter table runs at and the
    /// interfaces (`forward lan -> wan`, `input on lan`).
    Route(String),
    /// The router sent a packet of its own (a REJECT answer, an ICMP error);
    /// the steps that follow are its walk through OUTPUT.
    Generated(String),
    /// The stack itself dropped, held or answered the packet, outside the rules.
    Stack(String),
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceLine::Rule(s) => s.fmt(f),
            TraceLine::Log(l) => write!(f, "log <{}>: {}", l.level, l.text.trim_end()),
            TraceLine::Conntrack(c) => c.fmt(f),
            TraceLine::Route(r) => write!(f, "route: {r}"),
            TraceLine::Generated(g) => write!(f, "sent: {g}"),
            TraceLine::Stack(s) => write!(f, "stack: {s}"),
        }
    }
}

/// Expands rule steps into trace lines: each step, and after a LOG step the
/// line it logged.
pub fn rule_lines(steps: &[RuleStep], out: &mut Vec<TraceLine>) {
    for s in steps {
        out.push(TraceLine::Rule(s.clone()));
        if let StepAt::Rule {
            action: StepAction::Log(l),
            ..
        } = &s.at
        {
            out.push(TraceLine::Log(l.clone()));
        }
    }
}
