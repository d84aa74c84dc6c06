//! `-m icmp --icmp-type TYPE[/CODE]` (loaded implicitly by `-p icmp --icmp-type`).
//!
//! Types are given by number or by name (`echo-request`, `port-unreachable`...;
//! any unambiguous prefix, case-insensitive). A name for a whole type matches every
//! code; `any` matches every ICMP message. With the nf_tables backend this stays the
//! x_tables match: a non-first fragment does not match, and an ICMP header shorter
//! than 8 bytes is *hotdropped*.

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

pub(crate) const ICMP_OPTS: &[OptSpec] = &[OptSpec::new("icmp-type", 1, 1, true)];

/// `icmp_codes[]` of iptables: (name, type, lowest code, highest code).
const NAMES: &[(&str, u8, u8, u8)] = &[
    ("any", 0xff, 0, 0xff),
    ("echo-reply", 0, 0, 0xff),
    ("pong", 0, 0, 0xff),
    ("destination-unreachable", 3, 0, 0xff),
    ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1),
    ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5),
    ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9),
    ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11),
    ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13),
    ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15),
    ("source-quench", 4, 0, 0xff),
    ("redirect", 5, 0, 0xff),
    ("network-redirect", 5, 0, 0),
    ("host-redirect", 5, 1, 1),
    ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3),
    ("echo-request", 8, 0, 0xff),
    ("ping", 8, 0, 0xff),
    ("router-advertisement", 9, 0, 0xff),
    ("router-solicitation", 10, 0, 0xff),
    ("time-exceeded", 11, 0, 0xff),
    ("ttl-exceeded", 11, 0, 0xff),
    ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 0xff),
    ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xff),
    ("timestamp-reply", 14, 0, 0xff),
    ("address-mask-request", 17, 0, 0xff),
    ("address-mask-reply", 18, 0, 0xff),
];

/// The `icmp` match. Type 255 means "any".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpMatch {
    pub icmp_type: u8,
    pub code_min: u8,
    pub code_max: u8,
    pub invert: bool,
}

impl IcmpMatch {
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<IcmpMatch, String> {
        let (icmp_type, code_min, code_max) = parse_type(arg)?;
        Ok(IcmpMatch {
            icmp_type,
            code_min,
            code_max,
            invert,
        })
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        if v.fragoff != 0 {
            return Outcome::NoMatch;
        }
        let Some(h) = v.l4_bytes(0, 8) else {
            return Outcome::Hotdrop;
        };
        let hit = self.icmp_type == 0xff
            || (h[0] == self.icmp_type && (self.code_min..=self.code_max).contains(&h[1]));
        Outcome::from(hit != self.invert)
    }

    /// `icmp_save`: `any`, `T`, or `T/C` when the code is restricted.
    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m icmp");
        if self.invert {
            out.push_str(" !");
        }
        if self.icmp_type == 0xff {
            out.push_str(" --icmp-type any");
        } else if self.code_min != 0 || self.code_max != 0xff {
            out.push_str(&format!(
                " --icmp-type {}/{}",
                self.icmp_type, self.code_min
            ));
        } else {
            out.push_str(&format!(" --icmp-type {}", self.icmp_type));
        }
    }
}

impl IcmpMatch {
    /// `iptables -L`: ` icmp NAME` (the first name for exactly this type and code
    /// range) or, numerically, ` icmptype T code C` — there is no blank between
    /// `icmp` and `type` unless negated (` icmp !type T`).
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        out.push_str(" icmp");
        let (t, lo, hi) = (self.icmp_type, self.code_min, self.code_max);
        if !numeric {
            if let Some((name, ..)) = NAMES.iter().find(|n| (n.1, n.2, n.3) == (t, lo, hi)) {
                out.push_str(&format!(" {}{name}", if self.invert { "!" } else { "" }));
                return;
            }
        }
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(&format!("type {t}"));
        if lo == hi {
            out.push_str(&format!(" code {lo}"));
        } else if lo != 0 || hi != 0xff {
            out.push_str(&format!(" codes {lo}-{hi}"));
        }
    }
}

fn parse_type(arg: &str) -> Result<(u8, u8, u8), String> {
    let hits: Vec<_> = NAMES
        .iter()
        .filter(|(name, ..)| name.len() >= arg.len() && name[..arg.len()].eq_ignore_ascii_case(arg))
        .collect();
    match hits.as_slice() {
        [(_, t, lo, hi)] => return Ok((*t, *lo, *hi)),
        [(a, ..), (b, ..), ..] if !arg.is_empty() => {
            return Err(format!("Ambiguous ICMP type `{arg}': `{a}' or `{b}'?"));
        }
        _ => {}
    }
    let (t, code) = match arg.split_once('/') {
        Some((t, c)) => (t, Some(c)),
        None => (arg, None),
    };
    let t = parse_c_uint(t, 255).ok_or_else(|| format!("Unknown ICMP type `{arg}'"))? as u8;
    match code {
        None => Ok((t, 0, 0xff)),
        Some(c) => {
            let c = parse_c_uint(c, 255).ok_or_else(|| format!("Unknown ICMP code `{arg}'"))? as u8;
            Ok((t, c, c))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(arg: &str, invert: bool) -> Result<String, String> {
        let mut s = String::new();
        IcmpMatch::parse(arg, invert)?.save(&mut s);
        Ok(s)
    }

    #[test]
    fn names_numbers_and_codes() {
        assert_eq!(
            saved("echo-request", false).unwrap(),
            " -m icmp --icmp-type 8"
        );
        assert_eq!(saved("ECHO-REQ", false).unwrap(), " -m icmp --icmp-type 8");
        assert_eq!(saved("pong", false).unwrap(), " -m icmp --icmp-type 0");
        assert_eq!(
            saved("port-unreachable", true).unwrap(),
            " -m icmp ! --icmp-type 3/3"
        );
        assert_eq!(saved("3/4", false).unwrap(), " -m icmp --icmp-type 3/4");
        assert_eq!(saved("3/0", false).unwrap(), " -m icmp --icmp-type 3/0");
        assert_eq!(saved("0x8", false).unwrap(), " -m icmp --icmp-type 8");
        assert_eq!(saved("255", false).unwrap(), " -m icmp --icmp-type any");
        assert_eq!(saved("any", false).unwrap(), " -m icmp --icmp-type any");
    }

    #[test]
    fn bad_types() {
        assert_eq!(
            saved("echo-re", false).unwrap_err(),
            "Ambiguous ICMP type `echo-re': `echo-reply' or `echo-request'?"
        );
        assert_eq!(saved("256", false).unwrap_err(), "Unknown ICMP type `256'");
        assert_eq!(
            saved("3/300", false).unwrap_err(),
            "Unknown ICMP code `3/300'"
        );
        assert_eq!(saved("3/", false).unwrap_err(), "Unknown ICMP code `3/'");
        assert_eq!(saved("-1", false).unwrap_err(), "Unknown ICMP type `-1'");
    }
}
