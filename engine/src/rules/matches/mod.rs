//! Match extensions (`-m NAME`): each one parses its options, tests a packet and
//! prints itself the way `iptables-save` does.
//!
//! A match's test has three outcomes, as in the kernel: it matches, it does not
//! (the next rule is tried), or it *hotdrops* the packet — the match wanted to look
//! at a header it could not read, and the kernel drops the packet on the spot.

pub mod addrtype;
pub mod comment;
pub mod connlimit;
pub mod connmark;
pub mod conntrack;
pub mod dccp;
pub mod helper;
pub mod icmp;
pub mod iprange;
pub mod length;
pub mod limit;
pub mod mac;
pub mod mark;
pub mod multiport;
pub mod ports;
pub mod recent;
pub mod sctp;
pub mod string;
pub mod tcpmss;
pub mod tcpudp;
pub mod tos;
pub mod ttl;

pub use addrtype::{AddrType, AddrtypeMatch, IfaceLimit, TypeTest};
pub use connlimit::ConnlimitMatch;
pub use connmark::{ConnmarkMatch, ConnmarkMode, ConnmarkTarget};
pub use conntrack::{ConntrackMatch, CtAddr, CtPorts, StateMatch};
pub use dccp::DccpMatch;
pub use helper::HelperMatch;
pub use icmp::IcmpMatch;
pub use iprange::{AddrRange, IprangeMatch};
pub use length::LengthMatch;
pub use limit::LimitMatch;
pub use mark::MarkMatch;
pub use multiport::{MultiportMatch, PortSide};
pub use ports::PortRange;
pub use recent::{RecentLists, RecentMatch, RecentMode};
pub use sctp::SctpMatch;
pub use string::StringMatch;
pub use tcpmss::TcpmssMatch;
pub use tcpudp::{TcpFlags, TcpMatch, UdpMatch};
pub use tos::{DscpMatch, TosMatch};
pub use ttl::{TtlMatch, TtlMode};

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
    Sctp(SctpMatch),
    Dccp(DccpMatch),
    Icmp(IcmpMatch),
    State(StateMatch),
    Conntrack(ConntrackMatch),
    Multiport(MultiportMatch),
    Comment(String),
    Iprange(IprangeMatch),
    Length(LengthMatch),
    Ttl(TtlMatch),
    Mark(MarkMatch),
    /// The only stateful match: its token bucket changes as packets pass.
    Limit(LimitMatch),
    Addrtype(AddrtypeMatch),
    Tos(TosMatch),
    Dscp(DscpMatch),
    Helper(HelperMatch),
    Connmark(ConnmarkMatch),
    /// Reads and writes the rule set's address lists.
    Recent(RecentMatch),
    Tcpmss(TcpmssMatch),
    /// Counts connections per address, in lists the rule keeps.
    Connlimit(ConnlimitMatch),
    String(StringMatch),
}

impl Match {
    /// A `tcp` or `udp` match of nothing but `! 0:65535`, which nf_tables does not
    /// install (the rule keeps no trace of it).
    pub(crate) fn vanished(&self) -> bool {
        match self {
            Match::Tcp(t) => t.vanished(),
            Match::Udp(u) => u.vanished(),
            _ => false,
        }
    }

    pub(crate) fn eval(&mut self, v: &View) -> Outcome {
        match self {
            Match::Tcp(m) => m.eval(v),
            Match::Udp(m) => m.eval(v),
            Match::Sctp(m) => m.eval(v),
            Match::Dccp(m) => m.eval(v),
            Match::Icmp(m) => m.eval(v),
            Match::State(m) => m.eval(v),
            Match::Conntrack(m) => m.eval(v),
            Match::Multiport(m) => m.eval(v),
            Match::Comment(_) => Outcome::Match,
            Match::Iprange(m) => m.eval(v),
            Match::Length(m) => m.eval(v),
            Match::Ttl(m) => m.eval(v),
            Match::Mark(m) => m.eval(v),
            Match::Limit(m) => m.eval(v),
            Match::Addrtype(m) => m.eval(v),
            Match::Tos(m) => m.eval(v),
            Match::Dscp(m) => m.eval(v),
            Match::Helper(m) => m.eval(v),
            Match::Connmark(m) => m.eval(v),
            Match::Recent(m) => m.eval(v),
            Match::Tcpmss(m) => m.eval(v),
            Match::Connlimit(m) => m.eval(v),
            Match::String(m) => m.eval(v),
        }
    }

    /// Appends ` -m NAME OPTIONS` as iptables-save prints it.
    pub(crate) fn save(&self, out: &mut String) {
        match self {
            Match::Tcp(m) => m.save(out),
            Match::Udp(m) => m.save(out),
            Match::Sctp(m) => m.save(out),
            Match::Dccp(m) => m.save(out),
            Match::Icmp(m) => m.save(out),
            Match::State(m) => m.save(out),
            Match::Conntrack(m) => m.save(out),
            Match::Multiport(m) => m.save(out),
            Match::Comment(text) => comment::save(text, out),
            Match::Iprange(m) => m.save(out),
            Match::Length(m) => m.save(out),
            Match::Ttl(m) => m.save(out),
            Match::Mark(m) => m.save(out),
            Match::Limit(m) => m.save(out),
            Match::Addrtype(m) => m.save(out),
            Match::Tos(m) => m.save(out),
            Match::Dscp(m) => m.save(out),
            Match::Helper(m) => m.save(out),
            Match::Connmark(m) => m.save(out),
            Match::Recent(m) => m.save(out),
            Match::Tcpmss(m) => m.save(out),
            Match::Connlimit(m) => m.save(out),
            Match::String(m) => m.save(out),
        }
    }

    /// Appends what `iptables -L` prints for the match (with a leading blank).
    /// `proto` is the rule's `-p` (multiport names ports by it).
    pub(crate) fn list(&self, out: &mut String, numeric: bool, proto: u8) {
        match self {
            Match::Tcp(m) => m.list(out, numeric),
            Match::Udp(m) => m.list(out, numeric),
            Match::Sctp(m) => m.list(out, numeric),
            Match::Dccp(m) => m.list(out, numeric),
            Match::Icmp(m) => m.list(out, numeric),
            Match::State(m) => m.list(out),
            Match::Conntrack(m) => m.list(out, numeric),
            Match::Multiport(m) => m.list(out, numeric, proto),
            Match::Comment(text) => out.push_str(&format!(" /* {text} */")),
            Match::Iprange(m) => m.list(out),
            Match::Length(m) => m.list(out),
            Match::Ttl(m) => m.list(out),
            Match::Mark(m) => m.list(out),
            Match::Limit(m) => m.list(out),
            Match::Addrtype(m) => m.list(out),
            Match::Tos(m) => m.list(out, numeric),
            Match::Dscp(m) => m.list(out),
            Match::Helper(m) => m.list(out),
            Match::Connmark(m) => m.list(out),
            Match::Recent(m) => m.list(out),
            Match::Tcpmss(m) => m.list(out),
            Match::Connlimit(m) => m.list(out),
            Match::String(m) => m.list(out),
        }
    }

    /// `state` and `conntrack` need connection tracking in the namespace.
    pub fn uses_conntrack(&self) -> bool {
        matches!(
            self,
            Match::State(_)
                | Match::Conntrack(_)
                | Match::Helper(_)
                | Match::Connmark(_)
                | Match::Connlimit(_)
        )
    }
}

/// Matches iptables has but wasmwall does not implement (a clearer error).
const UNSUPPORTED: &[&str] = &[
    "ah",
    "bpf",
    "cgroup",
    "cluster",
    "connbytes",
    "connlabel",
    "cpu",
    "devgroup",
    "ecn",
    "esp",
    "hashlimit",
    "ipvs",
    "nfacct",
    "osf",
    "owner",
    "physdev",
    "pkttype",
    "policy",
    "quota",
    "rateest",
    "realm",
    "rpfilter",
    "set",
    "socket",
    "statistic",
    "time",
    "u32",
    "udplite",
    "unclean",
];

/// Fills a match's one option; given twice, it is refused as xtables refuses it.
fn once<T>(
    slot: &mut Option<T>,
    name: &str,
    opt: &str,
    parse: impl FnOnce() -> Result<T, String>,
) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{name}: option \"--{opt}\" can only be used once."));
    }
    *slot = Some(parse()?);
    Ok(())
}

/// A match while its options are being parsed.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Tcp(TcpMatch),
    Udp(UdpMatch),
    Sctp(SctpMatch),
    Dccp(DccpMatch),
    Icmp(Option<IcmpMatch>),
    State(Option<StateMatch>),
    Conntrack(ConntrackMatch),
    Multiport(Option<MultiportMatch>),
    Comment(Option<String>),
    Iprange(IprangeMatch),
    Length(Option<LengthMatch>),
    Ttl(Option<TtlMatch>),
    Mark(Option<MarkMatch>),
    Limit(limit::PendingLimit),
    Mac(Option<mac::MacMatch>),
    Addrtype(AddrtypeMatch),
    Tos(Option<TosMatch>),
    /// The match and the option that set it.
    Dscp(Option<(DscpMatch, u8)>),
    Helper(Option<HelperMatch>),
    Connmark(Option<ConnmarkMatch>),
    Recent(recent::PendingRecent),
    Tcpmss(Option<TcpmssMatch>),
    Connlimit(connlimit::PendingConnlimit),
    String(string::PendingString),
}

impl Pending {
    /// `-m NAME`.
    pub fn load(name: &str) -> Result<Pending, String> {
        Ok(match name {
            "tcp" => Pending::Tcp(TcpMatch::default()),
            "udp" => Pending::Udp(UdpMatch::default()),
            "sctp" => Pending::Sctp(SctpMatch::default()),
            "dccp" => Pending::Dccp(DccpMatch::default()),
            "icmp" => Pending::Icmp(None),
            "state" => Pending::State(None),
            "conntrack" => Pending::Conntrack(ConntrackMatch::default()),
            "multiport" => Pending::Multiport(None),
            "comment" => Pending::Comment(None),
            "iprange" => Pending::Iprange(IprangeMatch::default()),
            "length" => Pending::Length(None),
            "ttl" => Pending::Ttl(None),
            "mark" => Pending::Mark(None),
            "limit" => Pending::Limit(limit::PendingLimit::new()),
            "mac" => Pending::Mac(None),
            "addrtype" => Pending::Addrtype(AddrtypeMatch::default()),
            "tos" => Pending::Tos(None),
            "dscp" => Pending::Dscp(None),
            "helper" => Pending::Helper(None),
            "connmark" => Pending::Connmark(None),
            "recent" => Pending::Recent(recent::PendingRecent::default()),
            "tcpmss" => Pending::Tcpmss(None),
            "connlimit" => Pending::Connlimit(connlimit::PendingConnlimit::default()),
            "string" => Pending::String(string::PendingString::default()),
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
            Pending::Sctp(_) => sctp::SCTP_OPTS,
            Pending::Dccp(_) => dccp::DCCP_OPTS,
            Pending::Icmp(_) => icmp::ICMP_OPTS,
            Pending::State(_) => conntrack::STATE_OPTS,
            Pending::Conntrack(_) => conntrack::CONNTRACK_OPTS,
            Pending::Multiport(_) => multiport::MULTIPORT_OPTS,
            Pending::Comment(_) => comment::COMMENT_OPTS,
            Pending::Iprange(_) => iprange::IPRANGE_OPTS,
            Pending::Length(_) => length::LENGTH_OPTS,
            Pending::Ttl(_) => ttl::TTL_OPTS,
            Pending::Mark(_) => mark::MARK_OPTS,
            Pending::Limit(_) => limit::LIMIT_OPTS,
            Pending::Mac(_) => mac::MAC_OPTS,
            Pending::Addrtype(_) => addrtype::ADDRTYPE_OPTS,
            Pending::Tos(_) => tos::TOS_OPTS,
            Pending::Dscp(_) => tos::DSCP_OPTS,
            Pending::Helper(_) => helper::HELPER_OPTS,
            Pending::Connmark(_) => connmark::CONNMARK_OPTS,
            Pending::Recent(_) => recent::RECENT_OPTS,
            Pending::Tcpmss(_) => tcpmss::TCPMSS_OPTS,
            Pending::Connlimit(_) => connlimit::CONNLIMIT_OPTS,
            Pending::String(_) => string::STRING_OPTS,
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
        let (arg, opt) = (args.first().copied().unwrap_or_default(), spec.long);
        match self {
            Pending::Tcp(m) => m.option(spec.id, invert, args),
            Pending::Udp(m) => m.option(spec.id, invert, args),
            Pending::Sctp(m) => m.option(spec.id, invert, args),
            Pending::Dccp(m) => m.option(spec.id, invert, args),
            Pending::Icmp(slot) => once(slot, "icmp", opt, || IcmpMatch::parse(arg, invert)),
            Pending::State(slot) => once(slot, "state", opt, || StateMatch::parse(arg, invert)),
            Pending::Conntrack(m) => m.option(spec.id, invert, arg, opt),
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
                *slot = Some(MultiportMatch::parse(spec.id, arg, invert, proto)?);
                Ok(())
            }
            Pending::Comment(slot) => once(slot, "comment", opt, || {
                comment::check(arg)?;
                Ok(arg.to_string())
            }),
            Pending::Iprange(m) => m.option(spec.id, invert, arg),
            Pending::Length(slot) => once(slot, "length", opt, || LengthMatch::parse(arg, invert)),
            Pending::Ttl(slot) => TtlMatch::option(slot, spec.id, invert, arg),
            Pending::Mark(slot) => once(slot, "mark", opt, || MarkMatch::parse(arg, invert)),
            Pending::Limit(p) => p.option(spec.id, arg),
            Pending::Addrtype(m) => m.option(spec.id, invert, args),
            Pending::Tos(slot) => once(slot, "tos", opt, || TosMatch::parse(arg, invert)),
            Pending::Dscp(slot) => DscpMatch::option(slot, spec.id, invert, arg),
            Pending::Connmark(slot) => {
                once(slot, "connmark", opt, || ConnmarkMatch::parse(arg, invert))
            }
            Pending::Helper(slot) => once(slot, "helper", opt, || HelperMatch::parse(arg, invert)),
            Pending::Mac(slot) => once(slot, "mac", opt, || mac::MacMatch::parse(arg, invert)),
            Pending::Recent(p) => p.option(spec.id, invert, arg),
            Pending::Connlimit(p) => p.option(spec.id, invert, arg),
            Pending::String(p) => p.option(spec.id, invert, arg),
            Pending::Tcpmss(slot) => once(slot, "tcpmss", opt, || TcpmssMatch::parse(arg, invert)),
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
            Pending::Tcp(m) => {
                need(6, "TCP match requires '-p tcp'").map(|_| Match::Tcp(m.loaded()))
            }
            Pending::Udp(m) => {
                need(17, "UDP match requires '-p udp'").map(|_| Match::Udp(m.loaded()))
            }
            Pending::Sctp(m) => need(132, "SCTP match requires '-p sctp'").map(|_| Match::Sctp(m)),
            Pending::Dccp(m) => need(33, "DCCP match requires '-p dccp'").map(|_| Match::Dccp(m)),
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
            Pending::Iprange(m) => m.check().map(|_| Match::Iprange(m)),
            Pending::Length(m) => m.map(Match::Length).ok_or_else(|| must("length", "length")),
            Pending::Ttl(m) => m.map(Match::Ttl).ok_or_else(|| {
                "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt'".to_string()
            }),
            Pending::Mark(m) => m.map(Match::Mark).ok_or_else(|| must("mark", "mark")),
            Pending::Limit(p) => Ok(Match::Limit(p.finish())),
            Pending::Addrtype(m) => m.check().map(|_| Match::Addrtype(m)),
            Pending::Tos(m) => m.map(Match::Tos).ok_or_else(|| must("tos", "tos")),
            Pending::Dscp(m) => m
                .map(|(m, _)| Match::Dscp(m))
                .ok_or_else(|| "DSCP match: Parameter --dscp is required".to_string()),
            Pending::Helper(m) => m.map(Match::Helper).ok_or_else(|| must("helper", "helper")),
            Pending::Connmark(m) => m
                .map(Match::Connmark)
                .ok_or_else(|| must("connmark", "mark")),
            Pending::Mac(m) => Err(m.ok_or_else(|| must("mac", "mac-source"))?.refusal()),
            Pending::Recent(p) => p.finish().map(Match::Recent),
            Pending::Connlimit(p) => p.finish().map(Match::Connlimit),
            Pending::String(p) => p.finish().map(Match::String),
            Pending::Tcpmss(m) => {
                let m = m.ok_or_else(|| must("tcpmss", "mss"))?;
                // The kernel refuses the rule (EINVAL) unless it is for TCP.
                need(
                    6,
                    "tcpmss: the kernel accepts this match only with `-p tcp'",
                )
                .map(|_| Match::Tcpmss(m))
            }
        }
    }
}
