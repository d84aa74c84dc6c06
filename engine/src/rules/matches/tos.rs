//! The IPv4 header's second byte, type of service / DS field:
//!
//! * `-m tos [!] --tos VALUE[/MASK]` matches `(tos & MASK) == VALUE`. A number without
//!   a mask compares the whole byte (mask 0xff); a name (`Minimize-Delay` 0x10,
//!   `Maximize-Throughput` 0x08, `Maximize-Reliability` 0x04, `Minimize-Cost` 0x02,
//!   `Normal-Service` 0x00, any case) leaves out the three precedence bits (mask
//!   0x3f), so `Minimize-Delay` matches 0x10 and 0xd0 but not 0x12.
//! * `-m dscp [!] --dscp N | [!] --dscp-class CLASS` matches the DiffServ code point,
//!   the byte's upper six bits (`tos >> 2`). Classes are `CS0`..`CS7`, `BE`, `AF11`..
//!   `AF43` and `EF`; as in iptables, a name is taken for the first class it begins
//!   with (`cs3x` is CS3).

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

pub(crate) const TOS_OPTS: &[OptSpec] = &[OptSpec::new("tos", 1, 1, true)];

const DSCP: u8 = 1;
const DSCP_CLASS: u8 = 2;

pub(crate) const DSCP_OPTS: &[OptSpec] = &[
    OptSpec::new("dscp", DSCP, 1, true),
    OptSpec::new("dscp-class", DSCP_CLASS, 1, true),
];

/// The names of TOS values (`tos_values.c`).
const TOS_NAMES: [(u8, &str); 5] = [
    (0x10, "Minimize-Delay"),
    (0x08, "Maximize-Throughput"),
    (0x04, "Maximize-Reliability"),
    (0x02, "Minimize-Cost"),
    (0x00, "Normal-Service"),
];

/// The mask a TOS name stands with (the match's revision 1 leaves out the precedence).
const NAME_MASK: u8 = 0x3f;

/// DiffServ classes and their code points, in the order iptables tries them.
const DSCP_CLASSES: [(&str, u8); 22] = [
    ("CS0", 0x00),
    ("CS1", 0x08),
    ("CS2", 0x10),
    ("CS3", 0x18),
    ("CS4", 0x20),
    ("CS5", 0x28),
    ("CS6", 0x30),
    ("CS7", 0x38),
    ("BE", 0x00),
    ("AF11", 0x0a),
    ("AF12", 0x0c),
    ("AF13", 0x0e),
    ("AF21", 0x12),
    ("AF22", 0x14),
    ("AF23", 0x16),
    ("AF31", 0x1a),
    ("AF32", 0x1c),
    ("AF33", 0x1e),
    ("AF41", 0x22),
    ("AF42", 0x24),
    ("AF43", 0x26),
    ("EF", 0x2e),
];

/// The largest DiffServ code point (`XT_DSCP_MAX`).
const DSCP_MAX: u32 = 0x3f;

/// The `tos` match (revision 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TosMatch {
    pub value: u8,
    pub mask: u8,
    pub invert: bool,
}

/// The `dscp` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DscpMatch {
    pub dscp: u8,
    pub invert: bool,
}

/// A leading number as `strtoul(s, &end, 0)` reads it, if it is at most 255, and
/// what follows it.
fn leading_byte(s: &str) -> Option<(u8, &str)> {
    let b = s.as_bytes();
    let (start, radix) =
        if b.len() > 2 && b[0] == b'0' && b[1] | 0x20 == b'x' && b[2].is_ascii_hexdigit() {
            (2, 16)
        } else if b.first() == Some(&b'0') {
            (0, 8)
        } else {
            (0, 10)
        };
    let len = s[start..]
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(s.len() - start);
    if len == 0 {
        return None;
    }
    let value = u32::from_str_radix(&s[start..start + len], radix).ok()?;
    Some((u8::try_from(value).ok()?, &s[start + len..]))
}

impl TosMatch {
    /// `--tos VALUE[/MASK]` or `--tos NAME` (`xtopt_parse_tosmask`).
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<TosMatch, String> {
        if let Some((value, rest)) = leading_byte(arg) {
            let mask = match rest.strip_prefix('/') {
                None if rest.is_empty() => 0xff,
                Some(m) => {
                    parse_c_uint(m, 0xff).ok_or_else(|| format!("Illegal value: \"{arg}\""))? as u8
                }
                None => return Err(format!("Illegal value: \"{arg}\"")),
            };
            return Ok(TosMatch {
                value,
                mask,
                invert,
            });
        }
        TOS_NAMES
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(arg))
            .map(|&(value, _)| TosMatch {
                value,
                mask: NAME_MASK,
                invert,
            })
            .ok_or_else(|| format!("Symbolic name \"{arg}\" is unknown"))
    }

    /// `tos_mt`: `(tos & mask) == value`.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        Outcome::from((v.ctx.packet.ip.tos & self.mask == self.value) != self.invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m tos");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(&format!(" --tos 0x{:02x}/0x{:02x}", self.value, self.mask));
    }

    /// `iptables -L`: ` tos match Minimize-Delay` for a name's value and mask, else
    /// ` tos match0x10/0xff` (iptables prints no blank before the number).
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        out.push_str(" tos match");
        if self.invert {
            out.push('!');
        }
        let name = TOS_NAMES
            .iter()
            .find(|&&(value, _)| self.mask == NAME_MASK && value == self.value);
        match name {
            Some((_, name)) if !numeric => out.push_str(&format!(" {name}")),
            _ => out.push_str(&format!("0x{:02x}/0x{:02x}", self.value, self.mask)),
        }
    }
}

impl DscpMatch {
    /// Applies `--dscp N` or `--dscp-class CLASS` (they exclude each other).
    pub(crate) fn option(
        slot: &mut Option<(DscpMatch, u8)>,
        id: u8,
        invert: bool,
        arg: &str,
    ) -> Result<(), String> {
        let name = |id| if id == DSCP { "dscp" } else { "dscp-class" };
        if let Some((_, first)) = slot {
            return Err(if *first == id {
                format!("dscp: option \"--{}\" can only be used once.", name(id))
            } else {
                "dscp: option \"--dscp\" cannot be used together with \"--dscp-class\".".into()
            });
        }
        let dscp = if id == DSCP {
            parse_c_uint(arg, DSCP_MAX).ok_or_else(|| {
                "dscp: bad value for option \"--dscp\", or out of range (0-63).".to_string()
            })? as u8
        } else {
            DSCP_CLASSES
                .iter()
                .find(|(class, _)| {
                    arg.len() >= class.len()
                        && arg.as_bytes()[..class.len()].eq_ignore_ascii_case(class.as_bytes())
                })
                .map(|&(_, dscp)| dscp)
                .ok_or_else(|| format!("Invalid DSCP value `{arg}'"))?
        };
        *slot = Some((DscpMatch { dscp, invert }, id));
        Ok(())
    }

    /// `dscp_mt`: the code point is the DS field's upper six bits.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        Outcome::from((v.ctx.packet.ip.tos >> 2 == self.dscp) != self.invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m dscp");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(&format!(" --dscp 0x{:02x}", self.dscp));
    }

    /// `iptables -L`: ` DSCP match 0x0a` (`!0x0a` inverted).
    pub(crate) fn list(&self, out: &mut String) {
        let not = if self.invert { "!" } else { "" };
        out.push_str(&format!(" DSCP match {not}0x{:02x}", self.dscp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tos(arg: &str) -> Result<(u8, u8), String> {
        TosMatch::parse(arg, false).map(|t| (t.value, t.mask))
    }

    #[test]
    fn tos_values_masks_and_names_read_as_iptables_reads_them() {
        assert_eq!(tos("0x10"), Ok((0x10, 0xff)));
        assert_eq!(tos("16/0x3f"), Ok((0x10, 0x3f)));
        assert_eq!(tos("010"), Ok((8, 0xff)));
        assert_eq!(tos("minimize-delay"), Ok((0x10, 0x3f)));
        assert_eq!(tos("Normal-Service"), Ok((0, 0x3f)));
        assert_eq!(tos("0x10x"), Err("Illegal value: \"0x10x\"".into()));
        assert_eq!(tos("0x10/"), Err("Illegal value: \"0x10/\"".into()));
        assert_eq!(
            tos("0x10/0x100"),
            Err("Illegal value: \"0x10/0x100\"".into())
        );
        assert_eq!(
            tos("0x100"),
            Err("Symbolic name \"0x100\" is unknown".into())
        );
        assert_eq!(tos("Foo"), Err("Symbolic name \"Foo\" is unknown".into()));
    }

    #[test]
    fn dscp_numbers_and_classes() {
        let parse = |id, arg: &str| {
            let mut slot = None;
            DscpMatch::option(&mut slot, id, false, arg).map(|()| slot.unwrap().0.dscp)
        };
        assert_eq!(parse(DSCP, "10"), Ok(10));
        assert_eq!(parse(DSCP, "010"), Ok(8));
        assert_eq!(parse(DSCP, "0x2e"), Ok(0x2e));
        assert!(parse(DSCP, "64").is_err());
        assert_eq!(parse(DSCP_CLASS, "af11"), Ok(0x0a));
        assert_eq!(parse(DSCP_CLASS, "cs3x"), Ok(0x18));
        assert_eq!(parse(DSCP_CLASS, "EF"), Ok(0x2e));
        assert_eq!(
            parse(DSCP_CLASS, "AF1"),
            Err("Invalid DSCP value `AF1'".into())
        );
        let mut slot = None;
        DscpMatch::option(&mut slot, DSCP, false, "1").unwrap();
        assert!(DscpMatch::option(&mut slot, DSCP_CLASS, false, "EF")
            .unwrap_err()
            .contains("cannot be used together"));
    }
}
