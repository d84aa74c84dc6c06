//! Match extensions (`-m NAME`): each one parses its options, tests a packet and
//! prints itself the way `iptables-save` does.
//!
//! A match's test has three outcomes, as in the kernel: it matches, it does not
//! (the next rule is tried), or it *hotdrops* the packet — the match wanted to look
//! at a header it could not read, and the kernel drops the packet on the spot.

pub mod comment;
pub mod conntrack;
pub mod icmp;
pub mod multiport;
pub mod ports;
pub mod tcpudp;

pub use conntrack::{ConntrackMatch, StateMatch};
pub use icmp::IcmpMatch;
pub use multiport::{MultiportMatch, PortSide};
pub use ports::PortRange;
pub use tcpudp::{TcpFlags, TcpMatch, UdpMatch};

use super::view::View;

/// A command-line option of an extension: `--NAME` with `args` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptSpec {
    pub long: &'static str,
    pub id: u8,
    pub args: u8,
    /// Whether `! --NAME` is allowed.
    pub invert: bool,
}

impl OptSpec {
    pub const fn new(long: &'static str, id: u8, args: u8, invert: bool) -> OptSpec {
        OptSpec {
            long,
            id,
            args,
            invert,
        }
    }
}

/// The result of testing one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Match,
    NoMatch,
    /// Drop the packet now (`par->hotdrop`).
    Hotdrop,
}

impl From<bool> for Outcome {
    fn from(b: bool) -> Outcome {
        if b {
            Outcome::Match
        } else {
            Outcome::NoMatch
        }
    }
}

/// One `-m` match of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Tcp(TcpMatch),
    Udp(UdpMatch),
    Icmp(IcmpMatch),
    State(StateMatch),
    Conntrack(ConntrackMatch),
    Multiport(MultiportMatch),
    Comment(String),
}

impl Match {
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        match self {
            Match::Tcp(m) => m.eval(v),
            Match::Udp(m) => m.eval(v),
            Match::Icmp(m) => m.eval(v),
            Match::State(m) => m.eval(v),
            Match::Conntrack(m) => m.eval(v),
            Match::Multiport(m) => m.eval(v),
            Match::Comment(_) => Outcome::Match,
        }
    }

    /// Appends ` -m NAME OPTIONS` as iptables-save prints it.
    pub(crate) fn save(&self, out: &mut String) {
        match self {
            Match::Tcp(m) => m.save(out),
            Match::Udp(m) => m.save(out),
            Match::Icmp(m) => m.save(out),
            Match::State(m) => m.save(out),
            Match::Conntrack(m) => m.save(out),
            Match::Multiport(m) => m.save(out),
            Match::Comment(text) => comment::save(text, out),
        }
    }

    /// `state` and `conntrack` need connection tracking in the namespace.
    pub fn uses_conntrack(&self) -> bool {
        matches!(self, Match::State(_) | Match::Conntrack(_))
    }
}

/// Matches iptables has but wasmwall does not implement (a clearer error).
const UNSUPPORTED: &[&str] = &[
    "addrtype",
    "ah",
    "bpf",
    "cgroup",
    "cluster",
    "connbytes",
    "connlabel",
    "connlimit",
    "connmark",
    "cpu",
    "dccp",
    "devgroup",
    "dscp",
    "ecn",
    "esp",
    "hashlimit",
    "helper",
    "iprange",
    "ipvs",
    "length",
    "limit",
    "mac",
    "mark",
    "nfacct",
    "osf",
    "owner",
    "physdev",
    "pkttype",
    "policy",
    "quota",
    "rateest",
    "realm",
    "recent",
    "rpfilter",
    "sctp",
    "set",
    "socket",
    "statistic",
    "string",
    "tcpmss",
    "time",
    "tos",
    "ttl",
    "u32",
    "udplite",
    "unclean",
];

/// A match while its options are being parsed.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Tcp(TcpMatch),
    Udp(UdpMatch),
    Icmp(Option<IcmpMatch>),
    State(Option<StateMatch>),
    Conntrack(ConntrackMatch),
    Multiport(Option<MultiportMatch>),
    Comment(Option<String>),
}

impl Pending {
    /// `-m NAME`.
    pub fn load(name: &str) -> Result<Pending, String> {
        Ok(match name {
            "tcp" => Pending::Tcp(TcpMatch::default()),
            "udp" => Pending::Udp(UdpMatch::default()),
            "icmp" => Pending::Icmp(None),
            "state" => Pending::State(None),
            "conntrack" => Pending::Conntrack(ConntrackMatch::default()),
            "multiport" => Pending::Multiport(None),
            "comment" => Pending::Comment(None),
            _ if UNSUPPORTED.contains(&name) => {
                return Err(format!("match `{name}' is not supported by wasmwall"))
            }
            _ => return Err(format!("Couldn't load match `{name}': unknown match")),
        })
    }

    pub fn options(&self) -> &'static [OptSpec] {
        match self {
            Pending::Tcp(_) => tcpudp::TCP_OPTS,
            Pending::Udp(_) => tcpudp::UDP_OPTS,
            Pending::Icmp(_) => icmp::ICMP_OPTS,
            Pending::State(_) => conntrack::STATE_OPTS,
            Pending::Conntrack(_) => conntrack::CONNTRACK_OPTS,
            Pending::Multiport(_) => multiport::MULTIPORT_OPTS,
            Pending::Comment(_) => comment::COMMENT_OPTS,
        }
    }

    /// Applies `--OPT args`; `proto` is the rule's `-p` so far.
    pub fn apply(
        &mut self,
        spec: &OptSpec,
        invert: bool,
        args: &[&str],
        proto: Option<(u8, bool)>,
    ) -> Result<(), String> {
        let twice = |name: &str, opt: &str| {
            Err(format!("{name}: option \"--{opt}\" can only be used once."))
        };
        match self {
            Pending::Tcp(m) => m.option(spec.id, invert, args),
            Pending::Udp(m) => m.option(spec.id, invert, args),
            Pending::Icmp(slot) => {
                if slot.is_some() {
                    return twice("icmp", spec.long);
                }
                *slot = Some(IcmpMatch::parse(args[0], invert)?);
                Ok(())
            }
            Pending::State(slot) => {
                if slot.is_some() {
                    return twice("state", spec.long);
                }
                *slot = Some(StateMatch::parse(args[0], invert)?);
                Ok(())
            }
            Pending::Conntrack(m) => m.option(spec.id, invert, args[0], spec.long),
            Pending::Multiport(slot) => {
                if let Some(old) = slot {
                    return Err(format!(
                        "multiport: option \"{}\" cannot be used together with \"{}\".",
                        multiport::option_name(spec.id),
                        multiport::side_name(old.side)
                    ));
                }
                let proto = match proto {
                    Some((p, false)) if p != 0 => p,
                    _ => return Err(
                        "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"
                            .into(),
                    ),
                };
                if !multiport::proto_ok(proto) {
                    return Err("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP".into());
                }
                *slot = Some(MultiportMatch::parse(spec.id, args[0], invert, proto)?);
                Ok(())
            }
            Pending::Comment(slot) => {
                if slot.is_some() {
                    return twice("comment", spec.long);
                }
                comment::check(args[0])?;
                *slot = Some(args[0].to_string());
                Ok(())
            }
        }
    }

    /// Final checks once the whole rule is read (mandatory options, protocol).
    pub fn finish(self, proto: Option<(u8, bool)>) -> Result<Match, String> {
        let need = |p: u8, msg: &str| match proto {
            Some((q, false)) if q == p => Ok(()),
            _ => Err(msg.to_string()),
        };
        let must = |name: &str, opt: &str| format!("{name}: option \"--{opt}\" must be specified");
        match self {
            Pending::Tcp(m) => need(6, "TCP match requires '-p tcp'").map(|_| Match::Tcp(m)),
            Pending::Udp(m) => need(17, "UDP match requires '-p udp'").map(|_| Match::Udp(m)),
            Pending::Icmp(m) => {
                let m = m.ok_or_else(|| must("icmp", "icmp-type"))?;
                need(1, "ICMP match requires '-p icmp'").map(|_| Match::Icmp(m))
            }
            Pending::State(m) => m.map(Match::State).ok_or_else(|| must("state", "state")),
            Pending::Conntrack(m) => m.check().map(|_| Match::Conntrack(m)),
            Pending::Multiport(m) => m.map(Match::Multiport).ok_or_else(|| {
                "multiport: one of --sports, --dports or --ports is required".to_string()
            }),
            Pending::Comment(m) => m
                .map(Match::Comment)
                .ok_or_else(|| must("comment", "comment")),
        }
    }
}
