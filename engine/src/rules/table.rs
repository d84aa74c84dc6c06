//! Tables and chains.
//!
//! A table has built-in chains, one per netfilter hook it is attached to (filter:
//! INPUT, FORWARD, OUTPUT; raw: PREROUTING, OUTPUT), each with a policy, and user
//! chains (`-N`) that are only entered by a jump. iptables-save prints the built-in
//! chains in hook order, then the user chains sorted by name (byte order).

use super::rule::Rule;
use super::target::Target;

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
    pub name: String,
    pub policy: Option<Policy>,
    pub rules: Vec<Rule>,
    /// Packets and bytes the policy decided on.
    pub packets: u64,
    pub bytes: u64,
}

impl Chain {
    fn new(name: &str, policy: Option<Policy>) -> Chain {
        Chain { name: name.to_string(), policy, rules: Vec::new(), packets: 0, bytes: 0 }
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
        let chains = kind.builtins().iter().map(|n| Chain::new(n, Some(Policy::Accept))).collect();
        Table { kind, chains }
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.chains.iter().position(|c| c.name == name)
    }

    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    pub(crate) fn add_user_chain(&mut self, name: &str) {
        self.chains.push(Chain::new(name, None));
    }

    /// Chain indexes in iptables-save order.
    pub(crate) fn save_order(&self) -> Vec<usize> {
        let mut user: Vec<usize> = (0..self.chains.len()).filter(|&i| self.chains[i].policy.is_none()).collect();
        user.sort_by(|&a, &b| self.chains[a].name.as_bytes().cmp(self.chains[b].name.as_bytes()));
        (0..self.chains.len()).filter(|&i| self.chains[i].policy.is_some()).chain(user).collect()
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
            out.push_str(&format!(":{} {} [{}:{}]\n", c.name, policy, c.packets, c.bytes));
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
    pub(crate) fn resolve_jumps(&mut self) -> Result<(), (&Rule, String)> {
        let names: Vec<(String, bool)> = self.chains.iter().map(|c| (c.name.clone(), c.policy.is_some())).collect();
        let mut bad: Option<(usize, usize, String)> = None;
        'outer: for (ci, chain) in self.chains.iter_mut().enumerate() {
            for (ri, rule) in chain.rules.iter_mut().enumerate() {
                let (Target::Jump(c) | Target::Goto(c)) = &mut rule.target else { continue };
                match names.iter().position(|(n, _)| *n == c.name) {
                    Some(i) if names[i].1 => {
                        bad = Some((ci, ri, format!("cannot jump to built-in chain `{}'", c.name)));
                        break 'outer;
                    }
                    Some(i) => c.index = i,
                    None => {
                        bad = Some((ci, ri, format!("Chain '{}' does not exist", c.name)));
                        break 'outer;
                    }
                }
            }
        }
        match bad {
            Some((ci, ri, msg)) => Err((&self.chains[ci].rules[ri], msg)),
            None => Ok(()),
        }
    }

    /// The kernel refuses jump loops and more than 15 nested jumps from a built-in
    /// chain (nf_tables: ELOOP, "Too many links"). Returns the offending rule.
    pub(crate) fn check_depth(&self) -> Result<(), (&Rule, String)> {
        let n = self.chains.len();
        // height[c]: the deepest chain of jumps starting in c (0 = no jumps).
        let mut height: Vec<Option<usize>> = vec![None; n];
        let mut on_path = vec![false; n];
        for start in 0..n {
            if self.chains[start].policy.is_some() {
                self.height(start, &mut height, &mut on_path)?;
            }
        }
        for start in (0..n).filter(|&c| self.chains[c].policy.is_some()) {
            let (mut c, mut level) = (start, 0);
            while let Some((rule, next)) = self.deepest_jump(c, &height) {
                level += 1;
                if level > 15 {
                    return Err((rule, "too many nested jumps (the kernel allows 15 levels of user chains)".into()));
                }
                c = next;
            }
        }
        Ok(())
    }

    fn height(&self, c: usize, memo: &mut Vec<Option<usize>>, on_path: &mut Vec<bool>) -> Result<usize, (&Rule, String)> {
        if let Some(h) = memo[c] {
            return Ok(h);
        }
        on_path[c] = true;
        let mut h = 0;
        for rule in &self.chains[c].rules {
            let (Target::Jump(t) | Target::Goto(t)) = &rule.target else { continue };
            if on_path[t.index] {
                return Err((rule, format!("jump to `{}' makes a loop (the kernel refuses it)", t.name)));
            }
            h = h.max(1 + self.height(t.index, memo, on_path)?);
        }
        on_path[c] = false;
        memo[c] = Some(h);
        Ok(h)
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
