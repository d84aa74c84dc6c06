//! `-m string --algo bm|kmp [!] --string TEXT | [!] --hex-string TEXT [--from N]
//! [--to N] [--icase]`: a byte pattern anywhere in the packet (`xt_string`).
//!
//! The search covers the packet from its IP header on, between offsets `--from` (0)
//! and `--to` (65535): the whole pattern must lie there (`skb_find_text`). Both
//! algorithms find the same matches in a packet held in one piece, as every packet
//! here is. `--icase` compares ASCII letters without case. `--hex-string` mixes text
//! with `|hex bytes|` blocks and `\` escapes. The pattern holds 1 to 128 bytes.
//!
//! iptables-save prints the pattern as `--string "TEXT"` (with `"` and `\` escaped)
//! when every byte is printable and the last is not `\`, else as
//! `--hex-string "|HEX|"`; `--from` only when not 0, `--to` only when not 65535.

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

const ALGO: u8 = 1;
const FROM: u8 = 2;
const TO: u8 = 3;
const STRING: u8 = 4;
const HEX: u8 = 5;
const ICASE: u8 = 6;

pub(crate) const STRING_OPTS: &[OptSpec] = &[
    OptSpec::new("algo", ALGO, 1, false),
    OptSpec::new("from", FROM, 1, false),
    OptSpec::new("to", TO, 1, false),
    OptSpec::new("string", STRING, 1, true),
    OptSpec::new("hex-string", HEX, 1, true),
    OptSpec::new("icase", ICASE, 0, false),
];

/// `XT_STRING_MAX_PATTERN_SIZE`.
const MAX_PATTERN: usize = 128;
/// The default `--to`.
const TO_END: u32 = 65535;

/// The search algorithm (`--algo`); both find the same matches here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    BoyerMoore,
    Kmp,
}

/// The `string` match (revision 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringMatch {
    pub pattern: Vec<u8>,
    pub algo: Algo,
    pub from: u32,
    pub to: u32,
    pub icase: bool,
    pub invert: bool,
}

/// A `string` match while its options are read.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingString {
    pattern: Option<(Vec<u8>, bool)>,
    algo: Option<Algo>,
    from: Option<u32>,
    to: Option<u32>,
    icase: bool,
}

impl PendingString {
    pub fn option(&mut self, id: u8, invert: bool, arg: &str) -> Result<(), String> {
        let once = |set: bool, opt: &str| {
            if set {
                Err(format!("string: option \"--{opt}\" can only be used once."))
            } else {
                Ok(())
            }
        };
        let offset = |opt: &str| {
            parse_c_uint(arg, u32::from(u16::MAX)).ok_or_else(|| {
                format!("string: bad value for option \"--{opt}\" near \"{arg}\", or out of range (0-65535).")
            })
        };
        match id {
            ALGO => {
                once(self.algo.is_some(), "algo")?;
                // The kernel has more text search modules (fsm); iptables users pick
                // one of these two.
                self.algo = Some(match arg {
                    "bm" => Algo::BoyerMoore,
                    "kmp" => Algo::Kmp,
                    _ => return Err(format!("string: unknown --algo \"{arg}\" (bm or kmp)")),
                });
            }
            FROM => {
                once(self.from.is_some(), "from")?;
                self.from = Some(offset("from")?);
            }
            TO => {
                once(self.to.is_some(), "to")?;
                self.to = Some(offset("to")?);
            }
            STRING | HEX => {
                if self.pattern.is_some() {
                    return Err("string: option \"--hex-string\" cannot be used together \
                                with \"--string\"."
                        .into());
                }
                let pattern = if id == HEX {
                    parse_hex_string(arg)?
                } else {
                    arg.as_bytes().to_vec()
                };
                if pattern.len() > MAX_PATTERN {
                    return Err(format!("string: STRING too long \"{arg}\""));
                }
                self.pattern = Some((pattern, invert));
            }
            ICASE => self.icase = true,
            _ => unreachable!("string has no option {id}"),
        }
        Ok(())
    }

    /// What iptables and `string_mt_check` refuse.
    pub fn finish(self) -> Result<StringMatch, String> {
        let algo = self
            .algo
            .ok_or("string: option \"--algo\" must be specified")?;
        let (pattern, invert) = self
            .pattern
            .ok_or("STRING match: You must specify `--string' or `--hex-string'")?;
        let (from, to) = (self.from.unwrap_or(0), self.to.unwrap_or(TO_END));
        if pattern.is_empty() {
            return Err("string: the kernel refuses an empty pattern".into());
        }
        if from > to {
            return Err(format!(
                "string: the kernel refuses --from {from} after --to {to}"
            ));
        }
        Ok(StringMatch {
            pattern,
            algo,
            from,
            to,
            icase: self.icase,
            invert,
        })
    }
}

/// `--hex-string`: text with `|..|` blocks of hex byte pairs (spaces allowed
/// between pairs) and `\` escaping the next character (`parse_hex_string`).
fn parse_hex_string(s: &str) -> Result<Vec<u8>, String> {
    let s = s.as_bytes();
    if s.is_empty() {
        return Err("string: STRING must contain at least one char".into());
    }
    let (mut out, mut i, mut hex) = (Vec::new(), 0, false);
    while i < s.len() {
        if out.len() >= MAX_PATTERN {
            return Err("string: STRING too long".into());
        }
        let mut literal = false;
        if s[i] == b'\\' {
            if hex {
                return Err("string: Cannot include literals in hex data".into());
            }
            literal = true;
        } else if s[i] == b'|' {
            hex = !hex;
            if hex {
                while s.get(i + 1) == Some(&b' ') {
                    i += 1;
                }
            }
            if i + 1 >= s.len() {
                break;
            }
            i += 1;
        }
        if literal {
            let Some(&c) = s.get(i + 1) else {
                return Err("string: Bad literal placement at end of string".into());
            };
            out.push(c);
            i += 2;
        } else if hex {
            if i + 1 >= s.len() {
                return Err("string: Odd number of hex digits".into());
            }
            if i + 2 >= s.len() {
                return Err("string: Invalid hex block".into());
            }
            let pair = std::str::from_utf8(&s[i..i + 2]).unwrap_or("");
            let byte = u8::from_str_radix(pair, 16)
                .ok()
                .filter(|_| pair.bytes().all(|c| c.is_ascii_hexdigit()))
                .ok_or_else(|| format!("string: Invalid hex char '{}'", s[i] as char))?;
            out.push(byte);
            i += if s[i + 2] == b' ' { 3 } else { 2 };
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Ok(out)
}

impl StringMatch {
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let bytes = v.ctx.bytes;
        let total = usize::from(v.ctx.packet.ip.total_len).min(bytes.len());
        let from = (self.from as usize).min(total);
        let to = (self.to as usize).min(total);
        let window = bytes.get(from..to).unwrap_or_default();
        let found = window.windows(self.pattern.len()).any(|w| {
            if self.icase {
                w.eq_ignore_ascii_case(&self.pattern)
            } else {
                w == self.pattern.as_slice()
            }
        });
        Outcome::from(found != self.invert)
    }

    /// Printed as text: every byte printable and the last not a backslash.
    fn as_text(&self) -> Option<String> {
        let printable = self.pattern.iter().all(|&c| (0x20..0x7f).contains(&c));
        if !printable || self.pattern.last() == Some(&b'\\') {
            return None;
        }
        let mut s = String::from("\"");
        for &c in &self.pattern {
            if c == b'"' || c == b'\\' {
                s.push('\\');
            }
            s.push(c as char);
        }
        s.push('"');
        Some(s)
    }

    fn quoted(&self) -> (bool, String) {
        match self.as_text() {
            Some(text) => (false, text),
            None => {
                let hex: String = self.pattern.iter().map(|b| format!("{b:02x}")).collect();
                (true, format!("\"|{hex}|\""))
            }
        }
    }

    fn algo_name(&self) -> &'static str {
        match self.algo {
            Algo::BoyerMoore => "bm",
            Algo::Kmp => "kmp",
        }
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m string");
        if self.invert {
            out.push_str(" !");
        }
        let (hex, quoted) = self.quoted();
        out.push_str(if hex { " --hex-string " } else { " --string " });
        out.push_str(&quoted);
        out.push_str(" --algo ");
        out.push_str(self.algo_name());
        if self.from != 0 {
            out.push_str(&format!(" --from {}", self.from));
        }
        if self.to != TO_END {
            out.push_str(&format!(" --to {}", self.to));
        }
        if self.icase {
            out.push_str(" --icase");
        }
    }

    /// `iptables -L`: ` STRING match [!] "TEXT" ALGO name bm FROM n TO n ICASE`.
    pub(crate) fn list(&self, out: &mut String) {
        out.push_str(" STRING match ");
        if self.invert {
            out.push('!');
        }
        out.push(' ');
        out.push_str(&self.quoted().1);
        out.push_str(" ALGO name ");
        out.push_str(self.algo_name());
        if self.from != 0 {
            out.push_str(&format!(" FROM {}", self.from));
        }
        if self.to != TO_END {
            out.push_str(&format!(" TO {}", self.to));
        }
        if self.icase {
            out.push_str(" ICASE");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_strings_as_iptables_reads_them() {
        assert_eq!(
            parse_hex_string("|00 01|abc|ff|").unwrap(),
            [0, 1, b'a', b'b', b'c', 0xff]
        );
        assert_eq!(parse_hex_string("a\\|b").unwrap(), b"a|b");
        assert!(parse_hex_string("|0|").is_err());
        assert!(parse_hex_string("|zz|").is_err());
        assert!(parse_hex_string("").is_err());
    }

    fn saved(p: &[u8]) -> String {
        let m = StringMatch {
            pattern: p.to_vec(),
            algo: Algo::BoyerMoore,
            from: 0,
            to: TO_END,
            icase: false,
            invert: false,
        };
        let mut s = String::new();
        m.save(&mut s);
        s
    }

    #[test]
    fn printable_patterns_save_as_text_the_others_as_hex() {
        assert_eq!(saved(b"x\"y"), " -m string --string \"x\\\"y\" --algo bm");
        assert_eq!(
            saved(b"tab\tx"),
            " -m string --hex-string \"|7461620978|\" --algo bm"
        );
        assert_eq!(
            saved(b"end\\"),
            " -m string --hex-string \"|656e645c|\" --algo bm"
        );
    }
}
