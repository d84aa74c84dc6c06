//! Walking a table's chains for one packet (`ipt_do_table`).
//!
//! Rules are tried in order. A rule that matches counts the packet (its IP total
//! length in bytes) and runs its target: a verdict ends the walk, a jump enters a
//! user chain (remembering where to come back), RETURN or the end of a user chain
//! goes back, and the end of a built-in chain — or RETURN with nowhere to go back
//! to — applies the built-in chain's policy, which is then counted. A hotdropping
//! match drops the packet at once, without counting the rule. LOG, MARK, CT and a
//! rule without target count the packet and go on with the next rule.

use super::rule::RuleOutcome;
use super::table::{Policy, Table};
use super::target::Target;
use super::trace::{LogEntry, RuleStep, StepAction, StepAt};
use super::view::View;
use super::Verdict;
use crate::conntrack::{ctinfo::CtState, entry::Helper};
use std::sync::Arc;

/// The deepest jump nesting the kernel accepts; a guard, as loading checks it.
const MAX_DEPTH: usize = 16;

/// What a raw-table CT / NOTRACK target attached to the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CtAction {
    Notrack,
    Template(Option<Helper>),
}

/// The result of a walk.
pub(crate) struct Walk {
    pub verdict: Verdict,
    /// The chain and 1-based rule that decided; `rule: None` is the policy.
    pub chain: usize,
    pub rule: Option<usize>,
    pub steps: Vec<RuleStep>,
    pub ct: Option<CtAction>,
    /// The packet mark when the walk ended.
    pub mark: u32,
    /// The connection mark when the walk ended (None: no connection).
    pub ctmark: Option<u32>,
}

/// Walks `table` from built-in chain `start`. The steps (and LOG lines) are
/// recorded only when `record` is set: without a trace nobody reads them.
pub(crate) fn walk(table: &mut Table, start: usize, v: &mut View, record: bool) -> Walk {
    let kind = table.kind;
    let len = u64::from(v.ctx.packet.ip.total_len);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut out = Walk {
        verdict: Verdict::Accept,
        chain: start,
        rule: None,
        steps: Vec::new(),
        ct: None,
        mark: v.mark,
        ctmark: v.ctmark,
    };
    let step = |chain: &Arc<str>, at: StepAt| RuleStep {
        table: kind,
        chain: Arc::clone(chain),
        at,
    };
    let (mut c, mut i) = (start, 0);
    loop {
        let chain = &mut table.chains[c];
        let Some(rule) = chain.rules.get_mut(i) else {
            if chain.policy.is_none() {
                if record {
                    out.steps.push(step(&chain.name, StepAt::Return));
                }
                (c, i) = stack.pop().unwrap_or((start, usize::MAX));
                continue;
            }
            let chain = &mut table.chains[start];
            let policy = chain.policy.unwrap_or(Policy::Accept);
            chain.packets += 1;
            chain.bytes += len;
            if record {
                out.steps.push(step(&chain.name, StepAt::Policy(policy)));
            }
            out.verdict = match policy {
                Policy::Accept => Verdict::Accept,
                Policy::Drop => Verdict::Drop,
            };
            out.chain = start;
            out.rule = None;
            out.mark = v.mark;
            out.ctmark = v.ctmark;
            return out;
        };
        let outcome = rule.test(v);
        if let RuleOutcome::NoMatch = outcome {
            i += 1;
            continue;
        }
        let at = |action: StepAction| StepAt::Rule {
            index: i + 1,
            action,
        };
        if let RuleOutcome::Hotdrop = outcome {
            if record {
                out.steps.push(step(&chain.name, at(StepAction::Hotdrop)));
            }
            return decided(out, Verdict::Drop, c, i, v);
        }
        rule.packets += 1;
        rule.bytes += len;
        let (action, next) = match &rule.target {
            Target::None => (StepAction::Continue, Next::Continue),
            Target::Accept => (StepAction::Accept, Next::Verdict(Verdict::Accept)),
            Target::Drop => (StepAction::Drop, Next::Verdict(Verdict::Drop)),
            Target::Reject(with) => (
                StepAction::Reject(*with),
                Next::Verdict(Verdict::Reject(*with)),
            ),
            Target::Return => (StepAction::Return, Next::Return),
            Target::Jump(to) => (StepAction::Jump(to.name.clone()), Next::Jump(to.index)),
            Target::Goto(to) => (StepAction::Goto(to.name.clone()), Next::Goto(to.index)),
            Target::Ct { notrack, helper } => {
                let action = if *notrack {
                    CtAction::Notrack
                } else {
                    CtAction::Template(*helper)
                };
                attach(&mut out, v, action);
                (StepAction::Ct, Next::Continue)
            }
            Target::Notrack => {
                attach(&mut out, v, CtAction::Notrack);
                (StepAction::Notrack, Next::Continue)
            }
            // The log line exists only in the recorded steps.
            Target::Log(_) if !record => (StepAction::Continue, Next::Continue),
            Target::Log(t) => {
                let entry = LogEntry {
                    level: t.level,
                    prefix: t.prefix.clone(),
                    text: super::log::line(t, v),
                };
                (StepAction::Log(entry), Next::Continue)
            }
            Target::Mark { value, mask } => {
                v.mark = (v.mark & !mask) ^ value;
                (StepAction::Mark(v.mark), Next::Continue)
            }
            Target::Connmark(t) => {
                // Without a connection the target does nothing (`nf_ct_get` is NULL).
                if let Some(ctmark) = v.ctmark {
                    let (ctmark, mark) = t.apply(ctmark, v.mark);
                    v.ctmark = Some(ctmark);
                    v.mark = mark;
                }
                (StepAction::Connmark(v.ctmark), Next::Continue)
            }
        };
        if record {
            out.steps.push(step(&chain.name, at(action)));
        }
        match next {
            Next::Continue => i += 1,
            Next::Verdict(verdict) => return decided(out, verdict, c, i, v),
            Next::Return => (c, i) = stack.pop().unwrap_or((start, usize::MAX)),
            Next::Jump(to) => {
                if stack.len() >= MAX_DEPTH {
                    return decided(out, Verdict::Drop, c, i, v);
                }
                stack.push((c, i + 1));
                (c, i) = (to, 0);
            }
            Next::Goto(to) => (c, i) = (to, 0),
        }
    }
}

/// Where the walk goes after a matching rule.
enum Next {
    Continue,
    Verdict(Verdict),
    Return,
    Jump(usize),
    Goto(usize),
}

fn decided(mut out: Walk, verdict: Verdict, chain: usize, i: usize, v: &View) -> Walk {
    out.verdict = verdict;
    out.chain = chain;
    out.rule = Some(i + 1);
    out.mark = v.mark;
    out.ctmark = v.ctmark;
    out
}

/// The first CT / NOTRACK wins; later ones see the packet already has one.
fn attach(out: &mut Walk, v: &mut View, action: CtAction) {
    if out.ct.is_some() {
        return;
    }
    out.ct = Some(action);
    v.ctstate = match action {
        CtAction::Notrack => CtState::Untracked,
        CtAction::Template(_) => CtState::New,
    };
}
