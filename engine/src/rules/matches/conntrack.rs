//! `-m state --state` and `-m conntrack` (`--ctstate`, `--ctproto`, `--ctstatus`,
//! `--ctexpire`, `--ctdir`).
//!
//! Both test the packet's conntrack state as a bit (`xt_conntrack.h`): INVALID 1,
//! ESTABLISHED 2, RELATED 4, NEW 8, UNTRACKED 64, plus the virtual SNAT 128 and
//! DNAT 256 taken from the connection's NAT status. iptables 1.8 implements `state` as
//! an alias of `conntrack` revision 1, so both behave as `conntrack_mt`:
//!
//! 1. `--ctstate`: the state bit must (or with `!` must not) be in the list;
//! 2. a packet without a connection (INVALID, UNTRACKED) matches only if a
//!    `--ctstate` test was given and passed — every other test needs a connection;
//! 3. `--ctdir`, `--ctproto`, `--ctstatus`, `--ctexpire` test the connection.
//!
//! State names may be abbreviated (`est` is ESTABLISHED): iptables compares with
//! `strncasecmp` against the list in the order INVALID, NEW, RELATED, ESTABLISHED,
//! UNTRACKED, SNAT, DNAT and takes the first hit.

use super::{OptSpec, Outcome};
use crate::conntrack::{entry::status, tuple::Direction};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

pub(crate) const STATE_OPTS: &[OptSpec] = &[OptSpec::new("state", STATE, 1, true)];

const STATE: u8 = 1;
const PROTO: u8 = 2;
const STATUS: u8 = 3;
const EXPIRE: u8 = 4;
const DIR: u8 = 5;
const UNSUPPORTED: u8 = 6;

pub(crate) const CONNTRACK_OPTS: &[OptSpec] = &[
    OptSpec::new("ctstate", STATE, 1, true),
    OptSpec::new("ctproto", PROTO, 1, true),
    OptSpec::new("ctstatus", STATUS, 1, true),
    OptSpec::new("ctexpire", EXPIRE, 1, true),
    OptSpec::new("ctdir", DIR, 1, false),
    OptSpec::new("ctorigsrc", UNSUPPORTED, 1, true),
    OptSpec::new("ctorigdst", UNSUPPORTED, 1, true),
    OptSpec::new("ctreplsrc", UNSUPPORTED, 1, true),
    OptSpec::new("ctrepldst", UNSUPPORTED, 1, true),
    OptSpec::new("ctorigsrcport", UNSUPPORTED, 1, true),
    OptSpec::new("ctorigdstport", UNSUPPORTED, 1, true),
    OptSpec::new("ctreplsrcport", UNSUPPORTED, 1, true),
    OptSpec::new("ctrepldstport", UNSUPPORTED, 1, true),
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

/// The `conntrack` match; each test is optional, at least one is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConntrackMatch {
    pub state: Option<(u32, bool)>,
    pub proto: Option<(u8, bool)>,
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
            STATUS => {
                once(self.status.is_some())?;
                self.status = Some((parse_status(arg)?, invert));
            }
            EXPIRE => {
                once(self.expire.is_some())?;
                self.expire = Some(parse_expire(arg, invert)?);
            }
            DIR => {
                once(self.dir.is_some())?;
                self.dir = Some(if arg.eq_ignore_ascii_case("ORIGINAL") {
                    Direction::Original
                } else if arg.eq_ignore_ascii_case("REPLY") {
                    Direction::Reply
                } else {
                    return Err(format!("Bad value for \"--ctdir\" option: \"{arg}\""));
                });
            }
            _ => {
                return Err(format!(
                    "conntrack option \"--{opt}\" is not supported by wasmwall"
                ))
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
        if let Some((p, invert)) = self.proto {
            let ct_proto = entry.map_or(v.ctx.packet.ip.protocol, |e| e.original().protocol);
            if (ct_proto == p) == invert {
                return Outcome::NoMatch;
            }
        }
        if let Some((mask, invert)) = self.status {
            let st = entry.map_or(0, |e| e.status);
            if (mask & st != 0) == invert {
                return Outcome::NoMatch;
            }
        }
        if let Some((lo, hi, invert)) = self.expire {
            let left = entry.map_or(0, |e| e.timeout_secs(v.ctx.now_ms));
            if ((u64::from(lo)..=u64::from(hi)).contains(&left)) == invert {
                return Outcome::NoMatch;
            }
        }
        Outcome::Match
    }

    /// `conntrack_dump`: state, proto, status, expire, dir — in that order.
    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m conntrack");
        let bang = |out: &mut String, inv: bool| {
            if inv {
                out.push_str(" !");
            }
        };
        if let Some((mask, inv)) = self.state {
            bang(out, inv);
            out.push_str(" --ctstate ");
            out.push_str(&names_text(mask, STATE_NAMES));
        }
        if let Some((p, inv)) = self.proto {
            bang(out, inv);
            out.push_str(&format!(" --ctproto {p}"));
        }
        if let Some((mask, inv)) = self.status {
            bang(out, inv);
            out.push_str(" --ctstatus ");
            out.push_str(&names_text(mask, STATUS_NAMES));
        }
        if let Some((lo, hi, inv)) = self.expire {
            bang(out, inv);
            if lo == hi {
                out.push_str(&format!(" --ctexpire {lo}"));
            } else {
                out.push_str(&format!(" --ctexpire {lo}:{hi}"));
            }
        }
        match self.dir {
            Some(Direction::Original) => out.push_str(" --ctdir ORIGINAL"),
            Some(Direction::Reply) => out.push_str(" --ctdir REPLY"),
            None => {}
        }
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
}
