//! `-m state --state` and `-m conntrack` (`--ctstate`, `--ctproto`, the original and
//! reply tuples' addresses and ports, `--ctstatus`, `--ctexpire`, `--ctdir`).
//!
//! Both test the packet's conntrack state as a bit (`xt_conntrack.h`): INVALID 1,
//! ESTABLISHED 2, RELATED 4, NEW 8, UNTRACKED 64, plus the virtual SNAT 128 and
//! DNAT 256 taken from the connection's NAT status. iptables 1.8 implements `state` as
//! an alias of `conntrack` revision 1, so both behave as `conntrack_mt`:
//!
//! 1. `--ctstate`: the state bit must (or with `!` must not) be in the list;
//! 2. a packet without a connection (INVALID, UNTRACKED) matches only if a
//!    `--ctstate` test was given and passed — every other test needs a connection;
//! 3. `--ctdir`, `--ctorigsrc` ... `--ctrepldst` (address & mask), `--ctproto`,
//!    `--ctorigsrcport` ... `--ctrepldstport` (ranges), `--ctstatus`, `--ctexpire`
//!    test the connection, in that order; each can be negated on its own.
//!
//! The addresses are the *tuples'*, not the packet's: `--ctorigsrc` is who opened
//! the connection, whichever direction the packet travels. Ports are the tuples'
//! 16-bit words: for ICMP the source "port" is the echo id and the destination one
//! `type << 8 | code`. `--ctexpire` is the seconds left on the entry; an entry that
//! is not confirmed yet (the first packet of a connection, in FORWARD or INPUT) has
//! no timer running, and the kernel reports 0 for it. (Strictly, `nf_ct_expires`
//! subtracts the 32-bit jiffies clock from the timer's relative length and clamps
//! at 0: that is 0 once the machine has been up a few minutes, until the difference
//! overflows a signed 32-bit number (about 24.8 days of uptime at HZ=1000); the
//! recorded traces show 0.)
//!
//! State names may be abbreviated (`est` is ESTABLISHED): iptables compares with
//! `strncasecmp` against the list in the order INVALID, NEW, RELATED, ESTABLISHED,
//! UNTRACKED, SNAT, DNAT and takes the first hit.

use super::{OptSpec, Outcome};
use crate::conntrack::{entry::status, tuple::Direction, tuple::Tuple};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;
use std::net::Ipv4Addr;

pub(crate) const STATE_OPTS: &[OptSpec] = &[OptSpec::new("state", STATE, 1, true)];

const STATE: u8 = 1;
const PROTO: u8 = 2;
const STATUS: u8 = 3;
const EXPIRE: u8 = 4;
const DIR: u8 = 5;
const ORIGSRC: u8 = 6;
const ORIGDST: u8 = 7;
const REPLSRC: u8 = 8;
const REPLDST: u8 = 9;
const ORIGSRCPORT: u8 = 10;
const ORIGDSTPORT: u8 = 11;
const REPLSRCPORT: u8 = 12;
const REPLDSTPORT: u8 = 13;

pub(crate) const CONNTRACK_OPTS: &[OptSpec] = &[
    OptSpec::new("ctstate", STATE, 1, true),
    OptSpec::new("ctproto", PROTO, 1, true),
    OptSpec::new("ctstatus", STATUS, 1, true),
    OptSpec::new("ctexpire", EXPIRE, 1, true),
    OptSpec::new("ctdir", DIR, 1, false),
    OptSpec::new("ctorigsrc", ORIGSRC, 1, true),
    OptSpec::new("ctorigdst", ORIGDST, 1, true),
    OptSpec::new("ctreplsrc", REPLSRC, 1, true),
    OptSpec::new("ctrepldst", REPLDST, 1, true),
    OptSpec::new("ctorigsrcport", ORIGSRCPORT, 1, true),
    OptSpec::new("ctorigdstport", ORIGDSTPORT, 1, true),
    OptSpec::new("ctreplsrcport", REPLSRCPORT, 1, true),
    OptSpec::new("ctrepldstport", REPLDSTPORT, 1, true),
];

/// State bits as `xt_conntrack` defines them.
pub mod bits {
    pub const INVALID: u32 = 1 << 0;
    pub const ESTABLISHED: u32 = 1 << 1;
    pub const RELATED: u32 = 1 << 2;
    pub const NEW: u32 = 1 << 3;
    pub const UNTRACKED: u32 = 1 << 6;
    pub const SNAT: u32 = 1 << 7;
    pub const DNAT: u32 = 1 << 8;
}

/// Names in the order iptables both matches abbreviations and prints them.
const STATE_NAMES: &[(&str, u32)] = &[
    ("INVALID", bits::INVALID),
    ("NEW", bits::NEW),
    ("RELATED", bits::RELATED),
    ("ESTABLISHED", bits::ESTABLISHED),
    ("UNTRACKED", bits::UNTRACKED),
    ("SNAT", bits::SNAT),
    ("DNAT", bits::DNAT),
];

const STATUS_NAMES: &[(&str, u32)] = &[
    ("EXPECTED", status::EXPECTED),
    ("SEEN_REPLY", status::SEEN_REPLY),
    ("ASSURED", status::ASSURED),
    ("CONFIRMED", status::CONFIRMED),
];

/// The `state` match: `--state LIST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateMatch {
    pub mask: u32,
    pub invert: bool,
}

/// An address test of `-m conntrack`: `(tuple address ^ addr) & mask == 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtAddr {
    /// Kept as given (not masked), as iptables keeps and prints it.
    pub addr: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub invert: bool,
}

impl CtAddr {
    fn matches(&self, a: Ipv4Addr) -> bool {
        (u32::from(a) ^ u32::from(self.addr)) & u32::from(self.mask) == 0
    }

    /// `conntrack_dump_addr`: the address, then `/N` unless the mask is /32.
    fn text(&self, numeric: bool) -> String {
        if !numeric && self.addr.is_unspecified() {
            return "anywhere".into();
        }
        let m = u32::from(self.mask);
        if m == u32::MAX {
            self.addr.to_string()
        } else {
            format!("{}/{}", self.addr, m.leading_ones())
        }
    }
}

/// A port test of `-m conntrack` (revision 3: an inclusive range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtPorts {
    pub lo: u16,
    pub hi: u16,
    pub invert: bool,
}

impl CtPorts {
    fn matches(&self, p: u16) -> bool {
        (self.lo <= p && p <= self.hi) != self.invert
    }

    fn text(&self) -> String {
        if self.lo == self.hi {
            self.lo.to_string()
        } else {
            format!("{}:{}", self.lo, self.hi)
        }
    }
}

/// The `conntrack` match; each test is optional, at least one is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConntrackMatch {
    pub state: Option<(u32, bool)>,
    pub proto: Option<(u8, bool)>,
    pub orig_src: Option<CtAddr>,
    pub orig_dst: Option<CtAddr>,
    pub repl_src: Option<CtAddr>,
    pub repl_dst: Option<CtAddr>,
    pub orig_sport: Option<CtPorts>,
    pub orig_dport: Option<CtPorts>,
    pub repl_sport: Option<CtPorts>,
    pub repl_dport: Option<CtPorts>,
    pub status: Option<(u32, bool)>,
    /// Seconds left, `min..=max`.
    pub expire: Option<(u32, u32, bool)>,
    pub dir: Option<Direction>,
}

/// Parses `NEW,ESTABLISHED`-style lists; `with_nat` allows SNAT and DNAT.
fn parse_states(arg: &str, with_nat: bool, what: &str) -> Result<u32, String> {
    let names = if with_nat {
        STATE_NAMES
    } else {
        &STATE_NAMES[..5]
    };
    let mut mask = 0;
    for word in arg.split(',') {
        let bit = names
            .iter()
            .find(|(n, _)| {
                !word.is_empty()
                    && n.len() >= word.len()
                    && n[..word.len()].eq_ignore_ascii_case(word)
            })
            .map(|&(_, b)| b);
        match bit {
            Some(b) => mask |= b,
            None if word.is_empty() => {
                return Err(format!(
                "\"--{what}\" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED"
            ))
            }
            None => return Err(format!("Bad {what} \"{word}\"")),
        }
    }
    Ok(mask)
}

fn names_text(mask: u32, names: &[(&str, u32)]) -> String {
    let v: Vec<&str> = names
        .iter()
        .filter(|(_, b)| mask & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if v.is_empty() {
        "NONE".into()
    } else {
        v.join(",")
    }
}

/// The packet's state bit (`XT_CONNTRACK_STATE_BIT(ctinfo)` and friends).
fn state_bit(v: &View) -> u32 {
    let mut bit = v.ctstate.bit();
    if let Some(e) = v.entry() {
        if e.has(status::SRC_NAT) {
            bit |= bits::SNAT;
        }
        if e.has(status::DST_NAT) {
            bit |= bits::DNAT;
        }
    }
    bit
}

impl StateMatch {
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<StateMatch, String> {
        Ok(StateMatch {
            mask: parse_states(arg, false, "state")?,
            invert,
        })
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        Outcome::from((self.mask & state_bit(v) != 0) != self.invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m state");
        out.push_str(if self.invert {
            " ! --state "
        } else {
            " --state "
        });
        out.push_str(&names_text(self.mask, STATE_NAMES));
    }
}

impl StateMatch {
    /// `iptables -L`: ` state LIST`.
    pub(crate) fn list(&self, out: &mut String) {
        out.push_str(if self.invert { " ! state " } else { " state " });
        out.push_str(&names_text(self.mask, STATE_NAMES));
    }
}

/// `inet_aton`: one to four parts, C numbers; the last part fills the remaining
/// bytes (`1.2.3` is 1.2.0.3). This is how `--ctorigsrc` reads addresses.
fn inet_aton(text: &str) -> Option<u32> {
    let parts: Vec<u32> = text
        .split('.')
        .map(|p| parse_c_uint(p, u32::MAX))
        .collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if head.len() > 3 || head.iter().any(|&b| b > 255) {
        return None;
    }
    if head.is_empty() {
        return Some(*last);
    }
    let bits = 8 * head.len() as u32;
    if u64::from(*last) >= 1u64 << (32 - bits) {
        return None;
    }
    let high = head.iter().fold(0u32, |v, &b| v << 8 | b);
    Some((high << (32 - bits)) | *last)
}

/// `ADDRESS[/MASK]` of `--ctorigsrc` and friends (xtables' `XTTYPE_HOSTMASK`).
fn parse_ct_addr(arg: &str, invert: bool, opt: &str) -> Result<CtAddr, String> {
    let (host, mask) = match arg.split_once('/') {
        Some((h, m)) => (h, Some(m)),
        None => (arg, None),
    };
    let addr = inet_aton(host).ok_or_else(|| {
        format!(
            "conntrack: bad address `{host}' for --{opt} (host names are not resolved: give an address)"
        )
    })?;
    let mask = match mask {
        None => u32::MAX,
        Some(m) => match parse_c_uint(m, 32) {
            Some(0) => 0,
            Some(bits) => u32::MAX << (32 - bits),
            None => {
                let v = inet_aton(m)
                    .filter(|_| m.split('.').count() == 4)
                    .ok_or_else(|| format!("conntrack: bad mask `{m}' for --{opt}"))?;
                if v.leading_ones() + v.trailing_zeros() != 32 {
                    return Err(format!(
                        "conntrack: the mask `{m}' of --{opt} is not a prefix (iptables 1.8.9 silently stores such a mask as /32)"
                    ));
                }
                v
            }
        },
    };
    Ok(CtAddr {
        addr: Ipv4Addr::from(addr),
        mask: Ipv4Addr::from(mask),
        invert,
    })
}

/// One port of `--ctorigsrcport` & co (`xtables_getportbyname`, i.e.
/// `getaddrinfo`): decimal digits (taken modulo 65536, as the C library does) or a
/// service name.
fn parse_ct_port(text: &str) -> Result<u16, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let v = text.bytes().fold(0u64, |v, b| {
            v.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        });
        return Ok(v as u16);
    }
    crate::rules::services::port(text, 6)
        .or_else(|| crate::rules::services::port(text, 17))
        .ok_or_else(|| format!("Port \"{text}\" does not resolve to anything."))
}

/// `PORT`, `LO:HI`, `LO:` or `:HI`; a reversed range is kept (it never matches).
fn parse_ct_ports(arg: &str, invert: bool, opt: &str) -> Result<CtPorts, String> {
    let (lo, hi) = match arg.split_once(':') {
        None => {
            let p = parse_ct_port(arg)?;
            (p, p)
        }
        Some((_, hi)) if hi.contains(':') => {
            return Err(format!("conntrack: bad port range `{arg}' for --{opt}"))
        }
        Some((lo, hi)) => (
            if lo.is_empty() { 0 } else { parse_ct_port(lo)? },
            if hi.is_empty() {
                65535
            } else {
                parse_ct_port(hi)?
            },
        ),
    };
    Ok(CtPorts { lo, hi, invert })
}

impl ConntrackMatch {
    pub(crate) fn option(
        &mut self,
        id: u8,
        invert: bool,
        arg: &str,
        opt: &str,
    ) -> Result<(), String> {
        let once = |given: bool| {
            if given {
                Err(format!(
                    "conntrack: option \"--{opt}\" can only be used once."
                ))
            } else {
                Ok(())
            }
        };
        match id {
            STATE => {
                once(self.state.is_some())?;
                self.state = Some((parse_states(arg, true, "ctstate")?, invert));
            }
            PROTO => {
                once(self.proto.is_some())?;
                let p = crate::rules::proto::parse(arg)
                    .ok_or_else(|| format!("unknown protocol \"{arg}\" specified"))?;
                if p == 0 {
                    return Err("rule would never match protocol".into());
                }
                self.proto = Some((p, invert));
            }
            ORIGSRC | ORIGDST | REPLSRC | REPLDST => {
                let slot = match id {
                    ORIGSRC => &mut self.orig_src,
                    ORIGDST => &mut self.orig_dst,
                    REPLSRC => &mut self.repl_src,
                    _ => &mut self.repl_dst,
                };
                once(slot.is_some())?;
                *slot = Some(parse_ct_addr(arg, invert, opt)?);
            }
            ORIGSRCPORT | ORIGDSTPORT | REPLSRCPORT | REPLDSTPORT => {
                let slot = match id {
                    ORIGSRCPORT => &mut self.orig_sport,
                    ORIGDSTPORT => &mut self.orig_dport,
                    REPLSRCPORT => &mut self.repl_sport,
                    _ => &mut self.repl_dport,
                };
                once(slot.is_some())?;
                *slot = Some(parse_ct_ports(arg, invert, opt)?);
            }
            STATUS => {
                once(self.status.is_some())?;
                self.status = Some((parse_status(arg)?, invert));
            }
            EXPIRE => {
                once(self.expire.is_some())?;
                self.expire = Some(parse_expire(arg, invert)?);
            }
            _ => {
                once(self.dir.is_some())?;
                self.dir = Some(if arg.eq_ignore_ascii_case("ORIGINAL") {
                    Direction::Original
                } else if arg.eq_ignore_ascii_case("REPLY") {
                    Direction::Reply
                } else {
                    return Err(format!("Bad value for \"--ctdir\" option: \"{arg}\""));
                });
            }
        }
        Ok(())
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if *self == ConntrackMatch::default() {
            return Err("conntrack: At least one option is required".into());
        }
        Ok(())
    }

    /// `conntrack_mt`.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        if let Some((mask, invert)) = self.state {
            if (mask & state_bit(v) != 0) == invert {
                return Outcome::NoMatch;
            }
        }
        if !v.has_ct() {
            return Outcome::from(self.state.is_some());
        }
        let entry = v.entry();
        if let Some(dir) = self.dir {
            if v.direction() != dir {
                return Outcome::NoMatch;
            }
        }
        if let Some(e) = entry {
            let (o, r) = (e.original(), e.reply());
            let addrs = [
                (self.orig_src, o.src),
                (self.orig_dst, o.dst),
                (self.repl_src, r.src),
                (self.repl_dst, r.dst),
            ];
            for (test, a) in addrs {
                if test.is_some_and(|t| t.matches(a) == t.invert) {
                    return Outcome::NoMatch;
                }
            }
        }
        if let Some((p, invert)) = self.proto {
            let ct_proto = entry.map_or(v.ctx.packet.ip.protocol, |e| e.original().protocol);
            if (ct_proto == p) == invert {
                return Outcome::NoMatch;
            }
        }
        if let Some(e) = entry {
            let ports = |t: &Tuple| (t.sport, t.dport);
            let ((os, od), (rs, rd)) = (ports(e.original()), ports(&e.reply()));
            let tests = [
                (self.orig_sport, os),
                (self.orig_dport, od),
                (self.repl_sport, rs),
                (self.repl_dport, rd),
            ];
            for (test, p) in tests {
                if test.is_some_and(|t| !t.matches(p)) {
                    return Outcome::NoMatch;
                }
            }
        }
        if let Some((mask, invert)) = self.status {
            let st = entry.map_or(0, |e| e.status);
            if (mask & st != 0) == invert {
                return Outcome::NoMatch;
            }
        }
        if let Some((lo, hi, invert)) = self.expire {
            let left = entry.map_or(0, |e| {
                if e.has(status::CONFIRMED) {
                    e.timeout_secs(v.ctx.now_ms)
                } else {
                    0
                }
            });
            if ((u64::from(lo)..=u64::from(hi)).contains(&left)) == invert {
                return Outcome::NoMatch;
            }
        }
        Outcome::Match
    }

    /// `conntrack_dump` (revision 3): state, proto, the four addresses, the four
    /// ports, status, expire, dir — in that order, each with its own `!`.
    /// `prefix` is `--` for iptables-save and empty for `iptables -L`.
    fn dump(&self, out: &mut String, prefix: &str, numeric: bool) {
        let opt = |out: &mut String, inv: bool, name: &str, value: &str| {
            if inv {
                out.push_str(" !");
            }
            out.push_str(&format!(" {prefix}{name} {value}"));
        };
        if let Some((mask, inv)) = self.state {
            opt(out, inv, "ctstate", &names_text(mask, STATE_NAMES));
        }
        if let Some((p, inv)) = self.proto {
            opt(out, inv, "ctproto", &p.to_string());
        }
        let addrs = [
            (self.orig_src, "ctorigsrc"),
            (self.orig_dst, "ctorigdst"),
            (self.repl_src, "ctreplsrc"),
            (self.repl_dst, "ctrepldst"),
        ];
        for (a, name) in addrs {
            if let Some(a) = a {
                opt(out, a.invert, name, &a.text(numeric));
            }
        }
        let ports = [
            (self.orig_sport, "ctorigsrcport"),
            (self.orig_dport, "ctorigdstport"),
            (self.repl_sport, "ctreplsrcport"),
            (self.repl_dport, "ctrepldstport"),
        ];
        for (p, name) in ports {
            if let Some(p) = p {
                opt(out, p.invert, name, &p.text());
            }
        }
        if let Some((mask, inv)) = self.status {
            opt(out, inv, "ctstatus", &names_text(mask, STATUS_NAMES));
        }
        if let Some((lo, hi, inv)) = self.expire {
            let v = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}:{hi}")
            };
            opt(out, inv, "ctexpire", &v);
        }
        match self.dir {
            Some(Direction::Original) => opt(out, false, "ctdir", "ORIGINAL"),
            Some(Direction::Reply) => opt(out, false, "ctdir", "REPLY"),
            None => {}
        }
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m conntrack");
        self.dump(out, "--", true);
    }

    /// `iptables -L`: the same options without `--`.
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        self.dump(out, "", numeric);
    }
}

fn parse_status(arg: &str) -> Result<u32, String> {
    let mut mask = 0;
    for word in arg.split(',') {
        if word.eq_ignore_ascii_case("NONE") {
            continue;
        }
        let (_, b) = STATUS_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(word))
            .ok_or_else(|| format!("Bad ctstatus \"{word}\""))?;
        mask |= b;
    }
    Ok(mask)
}

fn parse_expire(arg: &str, invert: bool) -> Result<(u32, u32, bool), String> {
    let num = |s: &str| {
        parse_c_uint(s, u32::MAX)
            .ok_or_else(|| format!("conntrack: bad value \"{arg}\" for --ctexpire"))
    };
    let (lo, hi) = match arg.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(arg)?, num(arg)?),
    };
    if lo > hi {
        return Err(format!(
            "conntrack: bad value \"{arg}\" for --ctexpire (min > max)"
        ));
    }
    Ok((lo, hi, invert))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lists_print_in_iptables_order() {
        let mut s = String::new();
        StateMatch::parse("ESTABLISHED,RELATED", false)
            .unwrap()
            .save(&mut s);
        assert_eq!(s, " -m state --state RELATED,ESTABLISHED");
        let mut s = String::new();
        StateMatch::parse("est,n", true).unwrap().save(&mut s);
        assert_eq!(s, " -m state ! --state NEW,ESTABLISHED");
        assert_eq!(
            StateMatch::parse("SNAT", false).unwrap_err(),
            "Bad state \"SNAT\""
        );
        assert!(StateMatch::parse("NEW,", false)
            .unwrap_err()
            .contains("no spaces"));
    }

    #[test]
    fn conntrack_options_print_in_dump_order() {
        let mut m = ConntrackMatch::default();
        m.option(DIR, false, "reply", "ctdir").unwrap();
        m.option(STATUS, false, "seen_reply,EXPECTED", "ctstatus")
            .unwrap();
        m.option(PROTO, true, "udp", "ctproto").unwrap();
        m.option(STATE, false, "dnat,NEW", "ctstate").unwrap();
        let mut s = String::new();
        m.save(&mut s);
        assert_eq!(s, " -m conntrack --ctstate NEW,DNAT ! --ctproto 17 --ctstatus EXPECTED,SEEN_REPLY --ctdir REPLY");
        assert!(m
            .option(STATE, false, "NEW", "ctstate")
            .unwrap_err()
            .contains("only be used once"));
        assert!(ConntrackMatch::default().check().is_err());
    }

    #[test]
    fn tuple_addresses_and_ports() {
        let mut m = ConntrackMatch::default();
        m.option(REPLDST, true, "5.6.7.8", "ctrepldst").unwrap();
        m.option(ORIGSRC, false, "192.168.1.0/24", "ctorigsrc")
            .unwrap();
        m.option(REPLSRC, false, "1.2.3.4/255.255.0.0", "ctreplsrc")
            .unwrap();
        m.option(ORIGDST, false, "1.2.3", "ctorigdst").unwrap();
        m.option(ORIGDSTPORT, false, "80:90", "ctorigdstport")
            .unwrap();
        m.option(REPLSRCPORT, true, "5", "ctreplsrcport").unwrap();
        m.option(ORIGSRCPORT, false, "ssh", "ctorigsrcport")
            .unwrap();
        m.option(REPLDSTPORT, false, "70000", "ctrepldstport")
            .unwrap();
        let mut s = String::new();
        m.save(&mut s);
        assert_eq!(
            s,
            " -m conntrack --ctorigsrc 192.168.1.0/24 --ctorigdst 1.2.0.3 --ctreplsrc 1.2.3.4/16 \
             ! --ctrepldst 5.6.7.8 --ctorigsrcport 22 --ctorigdstport 80:90 ! --ctreplsrcport 5 \
             --ctrepldstport 4464"
        );
        let mut l = String::new();
        m.list(&mut l, true);
        assert!(
            l.starts_with(" ctorigsrc 192.168.1.0/24 ctorigdst 1.2.0.3"),
            "{l}"
        );
        let mut p = ConntrackMatch::default();
        assert!(p
            .option(ORIGSRC, false, "host.example", "ctorigsrc")
            .unwrap_err()
            .contains("not resolved"));
        assert!(p
            .option(ORIGSRC, false, "1.2.3.4/255.0.255.0", "ctorigsrc")
            .unwrap_err()
            .contains("not a prefix"));
        assert!(p
            .option(ORIGSRCPORT, false, "0x10", "ctorigsrcport")
            .unwrap_err()
            .contains("does not resolve"));
        p.option(ORIGSRCPORT, false, "5:", "ctorigsrcport").unwrap();
        assert_eq!(
            p.orig_sport,
            Some(CtPorts {
                lo: 5,
                hi: 65535,
                invert: false
            })
        );
        assert_eq!(inet_aton("10"), Some(10));
        assert_eq!(inet_aton("1.2"), Some(0x0100_0002));
        assert_eq!(inet_aton("0x7f.1"), Some(0x7f00_0001));
        assert_eq!(inet_aton("1.256.1.1"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
    }
}
