//! `-m length --length MIN[:MAX]`: the IP packet's total length (the IPv4 header's
//! `tot_len`, header included), inclusive at both ends, negated by `!`. `MIN:` means
//! up to 65535, `:MAX` from 0; a reversed range is accepted and never matches.

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

pub(crate) const LENGTH_OPTS: &[OptSpec] = &[OptSpec::new("length", 1, 1, true)];

/// The `length` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthMatch {
    pub min: u16,
    pub max: u16,
    pub invert: bool,
}

/// A `LO[:HI]` range of C numbers up to `max` (xtables' `XTTYPE_UINT*RC`); an empty
/// end is 0 or `max`.
pub(crate) fn parse_u32_range(arg: &str, max: u32, opt: &str) -> Result<(u32, u32), String> {
    let bad =
        || format!("bad value for option \"--{opt}\" near \"{arg}\", or out of range (0-{max})");
    let num = |s: &str, empty: u32| {
        if s.is_empty() {
            Ok(empty)
        } else {
            parse_c_uint(s, max).ok_or_else(bad)
        }
    };
    match arg.split_once(':') {
        None if arg.is_empty() => Err(bad()),
        None => {
            let v = num(arg, 0)?;
            Ok((v, v))
        }
        Some((lo, hi)) if !hi.contains(':') => Ok((num(lo, 0)?, num(hi, max)?)),
        Some(_) => Err(bad()),
    }
}

impl LengthMatch {
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<LengthMatch, String> {
        let (min, max) = parse_u32_range(arg, 65535, "length")?;
        Ok(LengthMatch {
            min: min as u16,
            max: max as u16,
            invert,
        })
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let len = v.ctx.packet.ip.total_len;
        Outcome::from((self.min <= len && len <= self.max) != self.invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        save_range(out, "length", "length", (self.min, self.max), self.invert);
    }

    /// `iptables -L`: ` length [!]RANGE`.
    pub(crate) fn list(&self, out: &mut String) {
        list_range(out, "length", (self.min, self.max), self.invert);
    }
}

/// `MIN` or `MIN:MAX`.
fn range_text((min, max): (u16, u16)) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min}:{max}")
    }
}

/// ` -m MATCH [!] --OPT RANGE`, as iptables-save prints a range match.
pub(crate) fn save_range(out: &mut String, name: &str, opt: &str, range: (u16, u16), invert: bool) {
    out.push_str(" -m ");
    out.push_str(name);
    if invert {
        out.push_str(" !");
    }
    out.push_str(" --");
    out.push_str(opt);
    out.push(' ');
    out.push_str(&range_text(range));
}

/// ` LABEL [!]RANGE`, as `iptables -L` prints a range match.
pub(crate) fn list_range(out: &mut String, label: &str, range: (u16, u16), invert: bool) {
    out.push(' ');
    out.push_str(label);
    out.push(' ');
    if invert {
        out.push('!');
    }
    out.push_str(&range_text(range));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(arg: &str) -> Result<String, String> {
        let mut s = String::new();
        LengthMatch::parse(arg, false)?.save(&mut s);
        Ok(s)
    }

    #[test]
    fn ranges_like_xtables() {
        assert_eq!(saved("100").unwrap(), " -m length --length 100");
        assert_eq!(saved("5:").unwrap(), " -m length --length 5:65535");
        assert_eq!(saved(":5").unwrap(), " -m length --length 0:5");
        assert_eq!(saved("9:3").unwrap(), " -m length --length 9:3");
        assert_eq!(saved("0x10").unwrap(), " -m length --length 16");
        assert!(saved("70000")
            .unwrap_err()
            .contains("out of range (0-65535)"));
        assert!(saved("").is_err() && saved("1:2:3").is_err() && saved("x").is_err());
    }
}
