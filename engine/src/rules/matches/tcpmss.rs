//! `-m tcpmss [!] --mss MIN[:MAX]`: the maximum segment size a TCP segment announces
//! in its MSS option (`xt_tcpmss`), inclusive at both ends; `MIN:` means up to 65535,
//! `:MAX` from 0, and a reversed range is refused. A segment without an MSS option
//! matches only under `!`. The kernel takes the rule only with `-p tcp`, and drops a
//! segment whose data offset or options cannot be read (hotdrop).

use super::length::{list_range, parse_u32_range, save_range};
use super::{OptSpec, Outcome};
use crate::rules::view::View;

pub(crate) const TCPMSS_OPTS: &[OptSpec] = &[OptSpec::new("mss", 1, 1, true)];

/// `TCPOPT_MSS` and its length.
const MSS_KIND: u8 = 2;
const MSS_LEN: u8 = 4;

/// The `tcpmss` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpmssMatch {
    pub min: u16,
    pub max: u16,
    pub invert: bool,
}

impl TcpmssMatch {
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<TcpmssMatch, String> {
        let (min, max) = parse_u32_range(arg, 65535, "mss").map_err(|e| format!("tcpmss: {e}"))?;
        if min > max {
            return Err("tcpmss: invalid range given".into());
        }
        Ok(TcpmssMatch {
            min: min as u16,
            max: max as u16,
            invert,
        })
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let Some(offset) = v.l4_bytes(12, 1).map(|b| usize::from(b[0] >> 4) * 4) else {
            return Outcome::Hotdrop;
        };
        if offset < 20 {
            return Outcome::Hotdrop;
        }
        let Some(opts) = v.l4_bytes(20, offset - 20) else {
            return Outcome::Hotdrop;
        };
        let mut i = 0;
        while i < opts.len() {
            if opts[i] == MSS_KIND && opts.len() - i >= 4 && opts[i + 1] == MSS_LEN {
                let mss = u16::from_be_bytes([opts[i + 2], opts[i + 3]]);
                return Outcome::from((self.min <= mss && mss <= self.max) != self.invert);
            }
            // End of list and no-op are one byte; a zero length steps one byte too.
            i += match opts[i] {
                0 | 1 => 1,
                _ => opts.get(i + 1).map_or(1, |&l| usize::from(l).max(1)),
            };
        }
        Outcome::from(self.invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        save_range(out, "tcpmss", "mss", (self.min, self.max), self.invert);
    }

    /// `iptables -L`: ` tcpmss match [!]RANGE`.
    pub(crate) fn list(&self, out: &mut String) {
        list_range(out, "tcpmss match", (self.min, self.max), self.invert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_iptables_reads_them() {
        let m = TcpmssMatch::parse("0x10:020", false).unwrap();
        assert_eq!((m.min, m.max), (16, 16));
        let m = TcpmssMatch::parse("5:", false).unwrap();
        assert_eq!((m.min, m.max), (5, 65535));
        assert_eq!(
            TcpmssMatch::parse("9:5", false).unwrap_err(),
            "tcpmss: invalid range given"
        );
        assert!(TcpmssMatch::parse("70000", false).is_err());
        let mut s = String::new();
        TcpmssMatch::parse("1460", true).unwrap().save(&mut s);
        assert_eq!(s, " -m tcpmss ! --mss 1460");
        let mut l = String::new();
        TcpmssMatch::parse("1400:1500", true).unwrap().list(&mut l);
        assert_eq!(l, " tcpmss match !1400:1500");
    }
}
