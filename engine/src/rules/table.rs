//! Tables and chains.
//!
//! A table has built-in chains, one per netfilter hook it is attached to (filter:
//! INPUT, FORWARD, OUTPUT; raw: PREROUTING, OUTPUT), each with a policy, and user
//! chains (`-N`) that are only entered by a jump. iptables-save prints the built-in
//! chains in hook order, then the user chains sorted by name (byte order).

use super::matches::{IfaceLimit, Match};
use super::rule::Rule;
use super::target::Target;
use std::sync::Arc;

/// The most user chains nf_tables lets a built-in chain nest.
const MAX_NESTING: usize = 15;
/// An error at a rule's origin (line, column).
pub(crate) type Located = ((usize, usize), String);
const TOO_DEEP: &str = "too many nested jumps (the kernel allows 15 levels of user chains)";

/// The tables wasmwall implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableKind {
    Raw,
    Filter,
}

impl TableKind {
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Raw => "raw",
            TableKind::Filter => "filter",
        }
    }

    pub fn from_name(name: &str) -> Option<TableKind> {
        match name {
            "raw" => Some(TableKind::Raw),
            "filter" => Some(TableKind::Filter),
            _ => None,
        }
    }

    /// Built-in chains, in hook order.
    pub fn builtins(self) -> &'static [&'static str] {
        match self {
            TableKind::Raw => &["PREROUTING", "OUTPUT"],
            TableKind::Filter => &["INPUT", "FORWARD", "OUTPUT"],
        }
    }
}

/// What a built-in chain does with packets no rule decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        }
    }

    pub fn from_name(name: &str) -> Option<Policy> {
        match name {
            "ACCEPT" => Some(Policy::Accept),
            "DROP" => Some(Policy::Drop),
            _ => None,
        }
    }
}

/// A chain. Built-in chains have a policy and its counters; user chains have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Shared with the decisions and trace steps that name the chain, so naming it
    /// costs no allocation per packet.
    pub name: Arc<str>,
    pub policy: Option<Policy>,
    pub rules: Vec<Rule>,
    /// Packets and bytes the policy decided on.
    pub packets: u64,
    pub bytes: u64,
}

impl Chain {
    fn new(name: &str, policy: Option<Policy>) -> Chain {
        Chain {
            name: name.into(),
            policy,
            rules: Vec::new(),
            packets: 0,
            bytes: 0,
        }
    }
}

/// A table: built-in chains first (in hook order), then user chains in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub kind: TableKind,
    pub chains: Vec<Chain>,
}

impl Table {
    /// A table with empty built-in chains whose policy is ACCEPT.
    pub fn new(kind: TableKind) -> Table {
        let chains = kind
            .builtins()
            .iter()
            .map(|n| Chain::new(n, Some(Policy::Accept)))
            .collect();
        Table { kind, chains }
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.chains.iter().position(|c| &*c.name == name)
    }

    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| &*c.name == name)
    }

    pub(crate) fn add_user_chain(&mut self, name: &str) {
        self.chains.push(Chain::new(name, None));
    }

    /// Chain indexes in iptables-save order.
    pub(crate) fn save_order(&self) -> Vec<usize> {
        let mut user: Vec<usize> = (0..self.chains.len())
            .filter(|&i| self.chains[i].policy.is_none())
            .collect();
        crate::sort::sort_by(&mut user, |&a, &b| {
            self.chains[a]
                .name
                .as_bytes()
                .cmp(self.chains[b].name.as_bytes())
        });
        (0..self.chains.len())
            .filter(|&i| self.chains[i].policy.is_some())
            .chain(user)
            .collect()
    }

    /// Appends the table in iptables-save format.
    pub fn save(&self, with_counters: bool, out: &mut String) {
        let order = self.save_order();
        out.push('*');
        out.push_str(self.kind.name());
        out.push('\n');
        for &i in &order {
            let c = &self.chains[i];
            let policy = c.policy.map_or("-", Policy::name);
            out.push_str(&format!(
                ":{} {} [{}:{}]\n",
                c.name, policy, c.packets, c.bytes
            ));
        }
        for &i in &order {
            let c = &self.chains[i];
            for r in &c.rules {
                if with_counters {
                    out.push_str(&format!("[{}:{}] ", r.packets, r.bytes));
                }
                out.push_str(&r.text(&c.name));
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
    }

    /// Points every jump at its chain's index; returns the first rule whose target
    /// names no user chain, with the reason.
    pub(crate) fn resolve_jumps(&mut self) -> Result<(), Located> {
        // (name, index, built-in), sorted by name.
        let mut names: Vec<(String, usize, bool)> = self
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.to_string(), i, c.policy.is_some()))
            .collect();
        crate::sort::sort_by(&mut names, |a, b| a.0.cmp(&b.0));
        for chain in &mut self.chains {
            for rule in &mut chain.rules {
                let (Target::Jump(c) | Target::Goto(c)) = &mut rule.target else {
                    continue;
                };
                let found = names
                    .binary_search_by(|n| n.0.as_str().cmp(&c.name))
                    .ok()
                    .map(|k| (names[k].1, names[k].2));
                match found {
                    Some((_, true)) => {
                        return Err((
                            rule.origin,
                            format!("cannot jump to built-in chain `{}'", c.name),
                        ));
                    }
                    Some((i, false)) => c.index = i,
                    None => {
                        return Err((rule.origin, format!("Chain '{}' does not exist", c.name)))
                    }
                }
            }
        }
        Ok(())
    }

    /// The kernel refuses jump loops and more than 15 nested jumps from a built-in
    /// chain (nf_tables: ELOOP, "Too many links"). Errors carry the offending rule's
    /// origin.
    pub(crate) fn check_depth(&self) -> Result<(), Located> {
        let n = self.chains.len();
        // height[c]: the deepest chain of jumps starting in c (0 = no jumps).
        let mut height: Vec<Option<usize>> = vec![None; n];
        let mut on_path = vec![false; n];
        for start in 0..n {
            if self.chains[start].policy.is_some() {
                self.explore(start, 0, (0, 0), &mut height, &mut on_path)?;
            }
        }
        Ok(())
    }

    /// Depth-first walk from chain `c`, reached after `depth` jumps, the last one at
    /// `via`; the recursion never goes deeper than the limit, whatever the input.
    fn explore(
        &self,
        c: usize,
        depth: usize,
        via: (usize, usize),
        memo: &mut [Option<usize>],
        on_path: &mut [bool],
    ) -> Result<usize, Located> {
        if let Some(h) = memo[c] {
            if depth + h > MAX_NESTING {
                return Err((
                    self.too_deep(c, MAX_NESTING - depth, via, memo),
                    TOO_DEEP.into(),
                ));
            }
            return Ok(h);
        }
        on_path[c] = true;
        let mut h = 0;
        for rule in &self.chains[c].rules {
            let (Target::Jump(t) | Target::Goto(t)) = &rule.target else {
                continue;
            };
            if on_path[t.index] {
                let msg = format!("jump to `{}' makes a loop (the kernel refuses it)", t.name);
                return Err((rule.origin, msg));
            }
            if depth + 1 > MAX_NESTING {
                return Err((rule.origin, TOO_DEEP.into()));
            }
            h = h.max(1 + self.explore(t.index, depth + 1, rule.origin, memo, on_path)?);
        }
        on_path[c] = false;
        memo[c] = Some(h);
        Ok(h)
    }

    /// The kernel checks some matches against every hook their chain can be reached
    /// from (`par->hook_mask`): `-m addrtype --limit-iface-in` has no incoming
    /// interface to limit to in OUTPUT and POSTROUTING, `--limit-iface-out` no
    /// outgoing one in PREROUTING and INPUT. Run after [`check_depth`](Self::check_depth)
    /// (no loops).
    pub(crate) fn check_hooks(&self) -> Result<(), Located> {
        const IN_HOOKS: u8 = 1 << 0; // PREROUTING, INPUT
        const OUT_HOOKS: u8 = 1 << 1; // OUTPUT, POSTROUTING
        let n = self.chains.len();
        let mut reached: Vec<u8> = self
            .chains
            .iter()
            .map(|c| match (&c.policy, &*c.name) {
                (None, _) => 0,
                (Some(_), "PREROUTING" | "INPUT") => IN_HOOKS,
                (Some(_), "OUTPUT" | "POSTROUTING") => OUT_HOOKS,
                (Some(_), _) => 0,
            })
            .collect();
        // Spread along jumps until nothing changes (at most one pass per chain).
        for _ in 0..n {
            let mut changed = false;
            for (c, chain) in self.chains.iter().enumerate() {
                for rule in &chain.rules {
                    if let Target::Jump(t) | Target::Goto(t) = &rule.target {
                        let both = reached[t.index] | reached[c];
                        changed |= both != reached[t.index];
                        reached[t.index] = both;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        for (c, chain) in self.chains.iter().enumerate() {
            for rule in &chain.rules {
                for m in &rule.matches {
                    let Match::Addrtype(a) = m else { continue };
                    let refused = match a.limit {
                        Some(IfaceLimit::In) if reached[c] & OUT_HOOKS != 0 => {
                            "input interface limitation not valid in POSTROUTING and OUTPUT"
                        }
                        Some(IfaceLimit::Out) if reached[c] & IN_HOOKS != 0 => {
                            "output interface limitation not valid in PREROUTING and INPUT"
                        }
                        _ => continue,
                    };
                    return Err((
                        rule.origin,
                        format!("addrtype: {refused} (the kernel refuses the rule)"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where the deepest path from `c` (which may take `budget` more jumps) goes past
    /// the limit.
    fn too_deep(
        &self,
        mut c: usize,
        mut budget: usize,
        mut last: (usize, usize),
        height: &[Option<usize>],
    ) -> (usize, usize) {
        while let Some((rule, next)) = self.deepest_jump(c, height) {
            last = rule.origin;
            if budget == 0 {
                break;
            }
            c = next;
            budget -= 1;
        }
        last
    }

    fn deepest_jump(&self, c: usize, height: &[Option<usize>]) -> Option<(&Rule, usize)> {
        self.chains[c]
            .rules
            .iter()
            .filter_map(|r| match &r.target {
                Target::Jump(t) | Target::Goto(t) => Some((r, t.index)),
                _ => None,
            })
            .max_by_key(|(_, t)| height[*t].unwrap_or(0))
    }
}
