//! `-m mark --mark VALUE[/MASK]`: tests the packet's mark (`skb->mark`), the
//! 32-bit number `-j MARK` sets. It is *not* the connection's mark (`connmark`,
//! shown as `mark=` in `/proc/net/nf_conntrack`): a packet mark lives only as long
//! as the packet does.
//!
//! The test is `(mark & MASK) == VALUE` (MASK defaults to all ones), negated by `!`.
//! With the nf_tables backend iptables turns it into `meta mark & MASK == VALUE`;
//! iptables-save prints both numbers in hex, the mask only when it is not all ones.

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

pub(crate) const MARK_OPTS: &[OptSpec] = &[OptSpec::new("mark", 1, 1, true)];

/// The `mark` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkMatch {
    pub mark: u32,
    pub mask: u32,
    pub invert: bool,
}

/// Parses `VALUE[/MASK]`, each a C number up to 2^32 - 1 (`xtables_strtoui`).
pub(crate) fn parse_mark_mask(arg: &str, opt: &str) -> Result<(u32, u32), String> {
    let (v, m) = match arg.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (arg, None),
    };
    let num = |s: &str| {
        parse_c_uint(s, u32::MAX).ok_or_else(|| {
            if s.contains('/') {
                format!("trailing garbage after value for option \"--{opt}\"")
            } else {
                format!("bad integer value `{s}' for option \"--{opt}\", or out of range")
            }
        })
    };
    let mark = num(v)?;
    let mask = match m {
        Some(m) => num(m)?,
        None => u32::MAX,
    };
    Ok((mark, mask))
}

/// How `iptables -L` names a `--set-xmark VALUE/MASK` (of `-j MARK` and `-j
/// CONNMARK`) by the option it most likely came from: `and 0x..`, `or 0x..`,
/// `xor 0x..`, `set 0x..`, else `xset 0xV/0xM`.
pub(crate) fn xmark_text(value: u32, mask: u32) -> String {
    if value == 0 {
        format!("and 0x{:x}", !mask)
    } else if value == mask {
        format!("or 0x{value:x}")
    } else if mask == 0 {
        format!("xor 0x{value:x}")
    } else if mask == u32::MAX {
        format!("set 0x{value:x}")
    } else {
        format!("xset 0x{value:x}/0x{mask:x}")
    }
}

/// ` 0xV` or ` 0xV/0xM`, as `print_mark` writes them.
pub(crate) fn mark_text(mark: u32, mask: u32) -> String {
    if mask == u32::MAX {
        format!(" 0x{mark:x}")
    } else {
        format!(" 0x{mark:x}/0x{mask:x}")
    }
}

impl MarkMatch {
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<MarkMatch, String> {
        let (mark, mask) = parse_mark_mask(arg, "mark")?;
        Ok(MarkMatch { mark, mask, invert })
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        Outcome::from((v.mark & self.mask == self.mark) != self.invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m mark");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(" --mark");
        out.push_str(&mark_text(self.mark, self.mask));
    }

    /// `iptables -L`: ` mark match [!] 0xV[/0xM]`.
    pub(crate) fn list(&self, out: &mut String) {
        out.push_str(" mark match");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(&mark_text(self.mark, self.mask));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(arg: &str, invert: bool) -> Result<String, String> {
        let mut s = String::new();
        MarkMatch::parse(arg, invert)?.save(&mut s);
        Ok(s)
    }

    #[test]
    fn values_print_in_hex_like_iptables_save() {
        assert_eq!(saved("10", false).unwrap(), " -m mark --mark 0xa");
        assert_eq!(saved("5/0xff", true).unwrap(), " -m mark ! --mark 0x5/0xff");
        assert_eq!(
            saved("0x100/0xff", false).unwrap(),
            " -m mark --mark 0x100/0xff"
        );
        assert_eq!(
            saved("0xffffffff", false).unwrap(),
            " -m mark --mark 0xffffffff"
        );
        assert!(saved("4294967296", false)
            .unwrap_err()
            .contains("out of range"));
        assert!(saved("1/2/3", false)
            .unwrap_err()
            .contains("trailing garbage"));
        assert!(saved("", false).is_err());
    }
}
