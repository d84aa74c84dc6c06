//! Walking a table's chains for one packet (`ipt_do_table`).
//!
//! Rules are tried in order. A rule that matches counts the packet (its IP total
//! length in bytes) and runs its target: a verdict ends the walk, a jump enters a
//! user chain (remembering where to come back), RETURN or the end of a user chain
//! goes back, and the end of a built-in chain — or RETURN with nowhere to go back
//! to — applies the built-in chain's policy, which is then counted. A hotdropping
//! match drops the packet at once, without counting the rule.

use super::rule::RuleOutcome;
use super::table::{Policy, Table};
use super::target::Target;
use super::view::View;
use super::Verdict;
use crate::conntrack::{ctinfo::CtState, entry::Helper};

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
    pub trace: Vec<String>,
    pub ct: Option<CtAction>,
}

/// Walks `table` from built-in chain `start`.
pub(crate) fn walk(table: &mut Table, start: usize, v: &mut View) -> Walk {
    let tname = table.kind.name();
    let len = u64::from(v.ctx.packet.ip.total_len);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut out = Walk {
        verdict: Verdict::Accept,
        chain: start,
        rule: None,
        trace: Vec::new(),
        ct: None,
    };
    let (mut c, mut i) = (start, 0);
    loop {
        let chain = &mut table.chains[c];
        let Some(rule) = chain.rules.get_mut(i) else {
            if chain.policy.is_none() {
                out.trace.push(format!("{tname}:{}:return", chain.name));
                (c, i) = stack.pop().unwrap_or((start, usize::MAX));
                continue;
            }
            let chain = &mut table.chains[start];
            let policy = chain.policy.unwrap_or(Policy::Accept);
            chain.packets += 1;
            chain.bytes += len;
            out.trace
                .push(format!("{tname}:{}:policy:{}", chain.name, policy.name()));
            out.verdict = match policy {
                Policy::Accept => Verdict::Accept,
                Policy::Drop => Verdict::Drop,
            };
            out.chain = start;
            out.rule = None;
            return out;
        };
        let outcome = rule.test(v);
        if let RuleOutcome::NoMatch = outcome {
            i += 1;
            continue;
        }
        let at = format!("{tname}:{}:rule:{}", chain.name, i + 1);
        if let RuleOutcome::Hotdrop = outcome {
            out.trace.push(format!("{at}:HOTDROP"));
            return decided(out, Verdict::Drop, c, i);
        }
        rule.packets += 1;
        rule.bytes += len;
        match &rule.target {
            Target::None => {
                out.trace.push(format!("{at}:CONTINUE"));
                i += 1;
            }
            Target::Accept => {
                out.trace.push(format!("{at}:ACCEPT"));
                return decided(out, Verdict::Accept, c, i);
            }
            Target::Drop => {
                out.trace.push(format!("{at}:DROP"));
                return decided(out, Verdict::Drop, c, i);
            }
            Target::Reject(with) => {
                out.trace.push(format!("{at}:REJECT"));
                return decided(out, Verdict::Reject(*with), c, i);
            }
            Target::Return => {
                out.trace.push(format!("{at}:RETURN"));
                (c, i) = stack.pop().unwrap_or((start, usize::MAX));
            }
            Target::Jump(to) => {
                out.trace.push(format!("{at}:JUMP:{}", to.name));
                if stack.len() >= MAX_DEPTH {
                    return decided(out, Verdict::Drop, c, i);
                }
                stack.push((c, i + 1));
                (c, i) = (to.index, 0);
            }
            Target::Goto(to) => {
                out.trace.push(format!("{at}:GOTO:{}", to.name));
                (c, i) = (to.index, 0);
            }
            Target::Ct { notrack, helper } => {
                out.trace.push(format!("{at}:CT"));
                let action = if *notrack {
                    CtAction::Notrack
                } else {
                    CtAction::Template(*helper)
                };
                attach(&mut out, v, action);
                i += 1;
            }
            Target::Notrack => {
                out.trace.push(format!("{at}:NOTRACK"));
                attach(&mut out, v, CtAction::Notrack);
                i += 1;
            }
        }
    }
}

fn decided(mut out: Walk, verdict: Verdict, chain: usize, i: usize) -> Walk {
    out.verdict = verdict;
    out.chain = chain;
    out.rule = Some(i + 1);
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
