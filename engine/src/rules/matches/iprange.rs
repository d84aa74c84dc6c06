//! `-m iprange --src-range A-B --dst-range C-D` (revision 1): the source and/or
//! destination address lies in an inclusive range, each test negated by its own `!`.
//! A single address is the range from it to itself; a reversed range is accepted
//! and never matches. Addresses are numeric, parts may be missing (`1.2` is
//! `1.2.0.0`) as for `-s`.

use super::{OptSpec, Outcome};
use crate::rules::addr;
use crate::rules::view::View;
use std::net::Ipv4Addr;

const SRC: u8 = 1;
const DST: u8 = 2;

pub(crate) const IPRANGE_OPTS: &[OptSpec] = &[
    OptSpec::new("src-range", SRC, 1, true),
    OptSpec::new("dst-range", DST, 1, true),
];

/// An inclusive address range, possibly negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    pub lo: Ipv4Addr,
    pub hi: Ipv4Addr,
    pub invert: bool,
}

impl AddrRange {
    fn matches(&self, a: Ipv4Addr) -> bool {
        (self.lo <= a && a <= self.hi) != self.invert
    }

    fn text(&self) -> String {
        format!("{}-{}", self.lo, self.hi)
    }
}

/// The `iprange` match (at least one of the ranges is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IprangeMatch {
    pub src: Option<AddrRange>,
    pub dst: Option<AddrRange>,
}

fn parse_range(arg: &str, invert: bool, opt: &str) -> Result<AddrRange, String> {
    let (a, b) = arg.split_once('-').unwrap_or((arg, arg));
    let one = |s: &str| {
        addr::numeric(s)
            .map(Ipv4Addr::from)
            .ok_or_else(|| format!("iprange: Bad value for \"--{opt}\" option: \"{s}\""))
    };
    Ok(AddrRange {
        lo: one(a)?,
        hi: one(b)?,
        invert,
    })
}

impl IprangeMatch {
    pub(crate) fn option(&mut self, id: u8, invert: bool, arg: &str) -> Result<(), String> {
        let (slot, opt) = if id == SRC {
            (&mut self.src, "src-range")
        } else {
            (&mut self.dst, "dst-range")
        };
        if slot.is_some() {
            return Err(format!(
                "iprange: option \"--{opt}\" can only be used once."
            ));
        }
        *slot = Some(parse_range(arg, invert, opt)?);
        Ok(())
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.src.is_none() && self.dst.is_none() {
            return Err("iprange match: You must specify `--src-range' or `--dst-range'".into());
        }
        Ok(())
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let ip = &v.ctx.packet.ip;
        Outcome::from(
            self.src.is_none_or(|r| r.matches(ip.src))
                && self.dst.is_none_or(|r| r.matches(ip.dst)),
        )
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m iprange");
        for (r, opt) in [(self.src, "--src-range"), (self.dst, "--dst-range")] {
            if let Some(r) = r {
                if r.invert {
                    out.push_str(" !");
                }
                out.push_str(&format!(" {opt} {}", r.text()));
            }
        }
    }

    /// `iptables -L`: ` source IP range [!] A-B destination IP range [!] C-D`.
    pub(crate) fn list(&self, out: &mut String) {
        for (r, what) in [(self.src, "source"), (self.dst, "destination")] {
            if let Some(r) = r {
                out.push_str(&format!(" {what} IP range"));
                if r.invert {
                    out.push_str(" !");
                }
                out.push(' ');
                out.push_str(&r.text());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(opts: &[(u8, bool, &str)]) -> Result<String, String> {
        let mut m = IprangeMatch::default();
        for (id, inv, arg) in opts {
            m.option(*id, *inv, arg)?;
        }
        m.check()?;
        let mut s = String::new();
        m.save(&mut s);
        Ok(s)
    }

    #[test]
    fn ranges_save_like_iptables() {
        assert_eq!(
            saved(&[(SRC, false, "1.2.3.4")]).unwrap(),
            " -m iprange --src-range 1.2.3.4-1.2.3.4"
        );
        assert_eq!(
            saved(&[(DST, false, "1.2.3.4-1.2.3.5"), (SRC, true, "1.2-1.3")]).unwrap(),
            " -m iprange ! --src-range 1.2.0.0-1.3.0.0 --dst-range 1.2.3.4-1.2.3.5"
        );
        assert!(saved(&[]).unwrap_err().contains("You must specify"));
        assert!(saved(&[(SRC, false, "1.2.3.4/24-1.2.3.5")])
            .unwrap_err()
            .contains("Bad value for \"--src-range\" option: \"1.2.3.4/24\""));
        assert!(saved(&[(SRC, false, "1.2.3.4-")]).is_err());
    }
}
