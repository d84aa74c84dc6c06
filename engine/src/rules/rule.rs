//! One rule: the IP-header tests every rule has (`-s -d -i -o -p -f`), a list of
//! match extensions, a target, and the rule's packet and byte counters.

use super::addr::Net;
use super::iface::Iface;
use super::matches::{Match, Outcome};
use super::target::Target;
use super::view::View;

/// A test that can be negated with `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neg<T> {
    pub value: T,
    pub invert: bool,
}

impl<T> Neg<T> {
    fn test(&self, hit: bool) -> bool {
        hit != self.invert
    }
}

/// The part of a rule the kernel checks in `ip_packet_match`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpSpec {
    pub src: Option<Neg<Net>>,
    pub dst: Option<Neg<Net>>,
    pub in_iface: Option<Neg<Iface>>,
    pub out_iface: Option<Neg<Iface>>,
    /// `-p`; protocol 0 (`all`) is never stored.
    pub proto: Option<Neg<u8>>,
    /// `-f` (Some(false)): only non-first fragments; `! -f` (Some(true)): only
    /// unfragmented packets and first fragments.
    pub fragment: Option<bool>,
}

impl IpSpec {
    pub(crate) fn matches(&self, v: &View) -> bool {
        let ip = &v.ctx.packet.ip;
        self.src
            .as_ref()
            .is_none_or(|n| n.test(n.value.contains(ip.src)))
            && self
                .dst
                .as_ref()
                .is_none_or(|n| n.test(n.value.contains(ip.dst)))
            && self
                .in_iface
                .as_ref()
                .is_none_or(|n| n.test(n.value.matches(v.ctx.in_iface)))
            && self
                .out_iface
                .as_ref()
                .is_none_or(|n| n.test(n.value.matches(v.ctx.out_iface)))
            && self
                .proto
                .as_ref()
                .is_none_or(|n| n.test(n.value == ip.protocol))
            && self
                .fragment
                .is_none_or(|invert| (v.fragoff != 0) != invert)
    }

    /// `save_ipv4_addr` + `save_rule_details`: `-s -d -i -o -p -f`, each with `!`.
    fn save(&self, out: &mut String) {
        fn item(out: &mut String, invert: bool, flag: &str, value: &str) {
            if invert {
                out.push_str(" !");
            }
            out.push_str(flag);
            out.push_str(value);
        }
        if let Some(n) = &self.src {
            item(out, n.invert, " -s ", &n.value.to_save());
        }
        if let Some(n) = &self.dst {
            item(out, n.invert, " -d ", &n.value.to_save());
        }
        if let Some(n) = &self.in_iface {
            item(out, n.invert, " -i ", n.value.as_str());
        }
        if let Some(n) = &self.out_iface {
            item(out, n.invert, " -o ", n.value.as_str());
        }
        if let Some(n) = &self.proto {
            item(out, n.invert, " -p ", &super::proto::name(n.value));
        }
        if let Some(invert) = self.fragment {
            item(out, invert, " -f", "");
        }
    }
}

/// A rule of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub ip: IpSpec,
    pub matches: Vec<Match>,
    pub target: Target,
    pub packets: u64,
    pub bytes: u64,
    /// Line and column of the rule's target in the parsed text (for error messages).
    pub origin: (usize, usize),
}

/// Whether a rule applies to a packet.
pub(crate) enum RuleOutcome {
    Match,
    NoMatch,
    Hotdrop,
}

impl Rule {
    /// Tests the rule. Matches run in order and stop at the first that fails, so a
    /// `-m limit` after a failing match spends no token.
    pub(crate) fn test(&mut self, v: &View) -> RuleOutcome {
        if !self.ip.matches(v) {
            return RuleOutcome::NoMatch;
        }
        for m in &mut self.matches {
            match m.eval(v) {
                Outcome::Match => {}
                Outcome::NoMatch => return RuleOutcome::NoMatch,
                Outcome::Hotdrop => return RuleOutcome::Hotdrop,
            }
        }
        RuleOutcome::Match
    }

    /// The rule as iptables-save prints it: `-A CHAIN ...`.
    pub fn text(&self, chain: &str) -> String {
        let mut out = format!("-A {chain}");
        self.ip.save(&mut out);
        for m in saved_matches(&self.matches) {
            m.save(&mut out);
        }
        self.target.save(&mut out);
        out
    }

    pub fn uses_conntrack(&self) -> bool {
        self.matches.iter().any(Match::uses_conntrack) || self.target.uses_conntrack()
    }

    /// The matches as iptables-save and `iptables -L` show them (see
    /// [`saved_matches`]).
    pub(crate) fn shown_matches(&self) -> Vec<Match> {
        saved_matches(&self.matches)
    }
}

/// The matches as the kernel (nf_tables) hands them back to iptables-save: port and
/// flag tests of several `tcp` (or `udp`) matches are native expressions of one
/// rule, and come back as a single match at the place of the first one, later
/// values replacing earlier ones. Empty matches and `--tcp-option` stay separate.
fn saved_matches(matches: &[Match]) -> Vec<Match> {
    let mut out: Vec<Match> = Vec::with_capacity(matches.len());
    let (mut tcp_at, mut udp_at) = (None, None);
    for m in matches {
        match m {
            Match::Tcp(t) if t.is_native() && !t.is_empty() => {
                match tcp_at.and_then(|i| out.get_mut(i)) {
                    Some(Match::Tcp(first)) => first.merge(t),
                    _ => {
                        tcp_at = Some(out.len());
                        out.push(m.clone());
                    }
                }
            }
            Match::Udp(u) if !u.is_empty() => match udp_at.and_then(|i| out.get_mut(i)) {
                Some(Match::Udp(first)) => first.merge(u),
                _ => {
                    udp_at = Some(out.len());
                    out.push(m.clone());
                }
            },
            _ => out.push(m.clone()),
        }
    }
    out
}
