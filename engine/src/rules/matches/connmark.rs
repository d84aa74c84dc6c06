//! The connection mark (`ct->mark`, `mark=` in `/proc/net/nf_conntrack`), which
//! `-j CONNMARK` sets and `-m connmark` tests. A new connection starts with mark 0,
//! or its master's mark when a helper expected it.
//!
//! * `-m connmark [!] --mark VALUE[/MASK]` matches `(ctmark & MASK) == VALUE`. A
//!   packet without a connection (INVALID, UNTRACKED) never matches, inverted or not.
//! * `-j CONNMARK` (revision 2) changes the connection's mark, or copies between it
//!   and the packet mark, and continues. Every way of setting it is stored as
//!   `--set-xmark VALUE/MASK` (`ctmark = (ctmark & !MASK) ^ VALUE`, as `-j MARK`
//!   does), `--save-mark` copies `mark & nfmask` into the bits of `ctmask`, and
//!   `--restore-mark` copies `ctmark & ctmask` into the bits of `nfmask`; the value
//!   moved may be shifted (`--left-shift-mark`, `--right-shift-mark`), and for
//!   `--set-xmark` the kernel shifts the whole new mark.

use super::mark::{mark_text, parse_mark_mask, xmark_text};
use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

pub(crate) const CONNMARK_OPTS: &[OptSpec] = &[OptSpec::new("mark", 1, 1, true)];

/// The `connmark` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnmarkMatch {
    pub value: u32,
    pub mask: u32,
    pub invert: bool,
}

impl ConnmarkMatch {
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<ConnmarkMatch, String> {
        let (value, mask) = parse_mark_mask(arg, "mark")
            .map_err(|_| "connmark: bad integer value for option \"--mark\", or out of range.")?;
        Ok(ConnmarkMatch {
            value,
            mask,
            invert,
        })
    }

    /// `connmark_mt`: no connection, no match.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        Outcome::from(
            v.ctmark
                .is_some_and(|m| (m & self.mask == self.value) != self.invert),
        )
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m connmark");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(" --mark");
        out.push_str(&mark_text(self.value, self.mask));
    }

    /// `iptables -L`: ` connmark match  0x1` (two blanks), ` connmark match ! 0x2/0xff`.
    pub(crate) fn list(&self, out: &mut String) {
        out.push_str(" connmark match ");
        if self.invert {
            out.push('!');
        }
        out.push_str(&mark_text(self.value, self.mask));
    }
}

/// What `-j CONNMARK` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnmarkMode {
    /// `ctmark = (ctmark & !ctmask) ^ ctmark_value`.
    Set { value: u32, mask: u32 },
    /// `ctmark = (ctmark & !ctmask) ^ (mark & nfmask)`.
    Save { nfmask: u32, ctmask: u32 },
    /// `mark = (mark & !nfmask) ^ (ctmark & ctmask)`.
    Restore { nfmask: u32, ctmask: u32 },
}

/// `-j CONNMARK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnmarkTarget {
    pub mode: ConnmarkMode,
    /// Bits to shift the value moved: positive left, negative right.
    pub shift: i8,
}

/// The option ids of `-j CONNMARK`.
pub(crate) mod opt {
    pub const SET_XMARK: u8 = 1;
    pub const SET_MARK: u8 = 2;
    pub const AND_MARK: u8 = 3;
    pub const OR_MARK: u8 = 4;
    pub const XOR_MARK: u8 = 5;
    pub const SAVE_MARK: u8 = 6;
    pub const RESTORE_MARK: u8 = 7;
    pub const CTMASK: u8 = 8;
    pub const NFMASK: u8 = 9;
    pub const MASK: u8 = 10;
    pub const LEFT_SHIFT: u8 = 11;
    pub const RIGHT_SHIFT: u8 = 12;
}

pub(crate) const CONNMARK_TARGET_OPTS: &[OptSpec] = &[
    OptSpec::new("set-xmark", opt::SET_XMARK, 1, false),
    OptSpec::new("set-mark", opt::SET_MARK, 1, false),
    OptSpec::new("and-mark", opt::AND_MARK, 1, false),
    OptSpec::new("or-mark", opt::OR_MARK, 1, false),
    OptSpec::new("xor-mark", opt::XOR_MARK, 1, false),
    OptSpec::new("save-mark", opt::SAVE_MARK, 0, false),
    OptSpec::new("restore-mark", opt::RESTORE_MARK, 0, false),
    OptSpec::new("ctmask", opt::CTMASK, 1, false),
    OptSpec::new("nfmask", opt::NFMASK, 1, false),
    OptSpec::new("mask", opt::MASK, 1, false),
    OptSpec::new("left-shift-mark", opt::LEFT_SHIFT, 1, false),
    OptSpec::new("right-shift-mark", opt::RIGHT_SHIFT, 1, false),
];

/// `-j CONNMARK` while its options are read: the operation and the option that
/// gave it, the masks, the shift, and every option seen (for "only once").
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingConnmark {
    op: Option<(&'static str, u8, u32, u32)>,
    ctmask: Option<u32>,
    nfmask: Option<u32>,
    mask: Option<u32>,
    shift: i8,
    seen: Vec<&'static str>,
}

impl PendingConnmark {
    pub(crate) fn option(&mut self, spec: &OptSpec, arg: Option<&str>) -> Result<(), String> {
        let name = spec.long;
        if self.seen.contains(&name) {
            return Err(format!(
                "CONNMARK: option \"--{name}\" can only be used once."
            ));
        }
        self.seen.push(name);
        let arg = arg.unwrap_or_default();
        let word = || {
            parse_c_uint(arg, u32::MAX).ok_or_else(|| {
                format!("CONNMARK: bad value for option \"--{name}\", or out of range")
            })
        };
        let together = |a: &str, b: &str| {
            Err(format!(
                "CONNMARK: option \"--{a}\" cannot be used together with \"--{b}\"."
            ))
        };
        match spec.id {
            opt::CTMASK | opt::NFMASK | opt::MASK => {
                if spec.id == opt::MASK {
                    if let Some(other) = ["ctmask", "nfmask"]
                        .into_iter()
                        .find(|o| self.seen.contains(o))
                    {
                        return together(other, "mask");
                    }
                } else if self.seen.contains(&"mask") {
                    return together(name, "mask");
                }
                let m = Some(word()?);
                match spec.id {
                    opt::CTMASK => self.ctmask = m,
                    opt::NFMASK => self.nfmask = m,
                    _ => self.mask = m,
                }
            }
            opt::LEFT_SHIFT | opt::RIGHT_SHIFT => {
                let bits = parse_c_uint(arg, 32).ok_or_else(|| {
                    format!("CONNMARK: bad value for option \"--{name}\", or out of range (0-32).")
                })? as i8;
                self.shift = if spec.id == opt::LEFT_SHIFT {
                    bits
                } else {
                    -bits
                };
            }
            id => {
                if let Some((first, ..)) = self.op {
                    return together(first, name);
                }
                let (value, mask) = match id {
                    opt::SET_XMARK => parse_mark_mask(arg, name)?,
                    opt::SET_MARK => {
                        let (v, m) = parse_mark_mask(arg, name)?;
                        (v, v | m)
                    }
                    opt::AND_MARK => (0, !word()?),
                    opt::OR_MARK => {
                        let v = word()?;
                        (v, v)
                    }
                    opt::XOR_MARK => (word()?, 0),
                    _ => (0, 0),
                };
                self.op = Some((name, id, value, mask));
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<ConnmarkTarget, String> {
        let (_, id, value, mask) = self.op.ok_or("CONNMARK target: No operation specified")?;
        let both = self.mask;
        let masks = || {
            (
                both.or(self.nfmask).unwrap_or(u32::MAX),
                both.or(self.ctmask).unwrap_or(u32::MAX),
            )
        };
        let mode = match id {
            opt::SAVE_MARK => {
                let (nfmask, ctmask) = masks();
                ConnmarkMode::Save { nfmask, ctmask }
            }
            opt::RESTORE_MARK => {
                let (nfmask, ctmask) = masks();
                ConnmarkMode::Restore { nfmask, ctmask }
            }
            _ => ConnmarkMode::Set { value, mask },
        };
        Ok(ConnmarkTarget {
            mode,
            shift: self.shift,
        })
    }
}

/// Shifts as the kernel's `u32 <<=` / `>>=` do on the CPUs it runs on (the count
/// taken modulo 32).
fn shifted(value: u32, shift: i8) -> u32 {
    if shift >= 0 {
        value.wrapping_shl(u32::from(shift.unsigned_abs()))
    } else {
        value.wrapping_shr(u32::from(shift.unsigned_abs()))
    }
}

impl ConnmarkTarget {
    /// `connmark_tg_shift`: the new connection mark and the new packet mark, for a
    /// connection marked `ctmark` and a packet marked `mark`.
    pub(crate) fn apply(&self, ctmark: u32, mark: u32) -> (u32, u32) {
        match self.mode {
            ConnmarkMode::Set { value, mask } => {
                (shifted((ctmark & !mask) ^ value, self.shift), mark)
            }
            ConnmarkMode::Save { nfmask, ctmask } => (
                (ctmark & !ctmask) ^ shifted(mark & nfmask, self.shift),
                mark,
            ),
            ConnmarkMode::Restore { nfmask, ctmask } => (
                ctmark,
                (mark & !nfmask) ^ shifted(ctmark & ctmask, self.shift),
            ),
        }
    }

    fn shift_text(&self, dashes: &str, out: &mut String) {
        if self.shift > 0 {
            out.push_str(&format!(" {dashes}left-shift-mark {}", self.shift));
        } else if self.shift < 0 {
            out.push_str(&format!(
                " {dashes}right-shift-mark {}",
                self.shift.unsigned_abs()
            ));
        }
    }

    /// iptables-save: ` -j CONNMARK --set-xmark 0x1/0xffffffff`, `--save-mark
    /// --nfmask 0x.. --ctmask 0x..`, `--restore-mark ...`.
    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -j CONNMARK");
        match self.mode {
            ConnmarkMode::Set { value, mask } => {
                out.push_str(&format!(" --set-xmark 0x{value:x}/0x{mask:x}"));
            }
            ConnmarkMode::Save { nfmask, ctmask } => {
                out.push_str(&format!(
                    " --save-mark --nfmask 0x{nfmask:x} --ctmask 0x{ctmask:x}"
                ));
            }
            ConnmarkMode::Restore { nfmask, ctmask } => out.push_str(&format!(
                " --restore-mark --nfmask 0x{nfmask:x} --ctmask 0x{ctmask:x}"
            )),
        }
        self.shift_text("--", out);
    }

    /// `iptables -L`: ` CONNMARK set 0x1`, `and 0xf0`, `or`, `xor`, `xset V/M`,
    /// `save [mask M | nfmask N ctmask ~C]`, `restore [mask M | ctmask C nfmask ~N]`.
    pub(crate) fn list(&self, out: &mut String) {
        out.push_str(" CONNMARK ");
        let all = u32::MAX;
        out.push_str(&match self.mode {
            ConnmarkMode::Set { value, mask } => xmark_text(value, mask),
            ConnmarkMode::Save { nfmask, ctmask } if nfmask == all && ctmask == all => {
                "save".into()
            }
            ConnmarkMode::Save { nfmask, ctmask } if nfmask == ctmask => {
                format!("save mask 0x{nfmask:x}")
            }
            ConnmarkMode::Save { nfmask, ctmask } => {
                format!("save nfmask 0x{nfmask:x} ctmask ~0x{ctmask:x}")
            }
            ConnmarkMode::Restore { nfmask, ctmask } if nfmask == all && ctmask == all => {
                "restore".into()
            }
            ConnmarkMode::Restore { nfmask, ctmask } if nfmask == ctmask => {
                format!("restore mask 0x{ctmask:x}")
            }
            ConnmarkMode::Restore { nfmask, ctmask } => {
                format!("restore ctmask 0x{ctmask:x} nfmask ~0x{nfmask:x}")
            }
        });
        self.shift_text("", out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(opts: &[(&str, Option<&str>)]) -> Result<ConnmarkTarget, String> {
        let mut p = PendingConnmark::default();
        for (name, arg) in opts {
            let spec = CONNMARK_TARGET_OPTS
                .iter()
                .find(|s| s.long == *name)
                .expect("known option");
            p.option(spec, *arg)?;
        }
        p.finish()
    }

    #[test]
    fn options_combine_and_exclude_as_in_iptables() {
        let t = target(&[("save-mark", None), ("mask", Some("0xff"))]).unwrap();
        assert_eq!(
            t.mode,
            ConnmarkMode::Save {
                nfmask: 0xff,
                ctmask: 0xff
            }
        );
        let e = target(&[
            ("save-mark", None),
            ("ctmask", Some("1")),
            ("mask", Some("2")),
        ]);
        assert_eq!(
            e.unwrap_err(),
            "CONNMARK: option \"--ctmask\" cannot be used together with \"--mask\"."
        );
        let e = target(&[("set-mark", Some("1")), ("save-mark", None)]);
        assert!(e.unwrap_err().contains("cannot be used together"));
        assert_eq!(
            target(&[]).unwrap_err(),
            "CONNMARK target: No operation specified"
        );
        let and = target(&[("and-mark", Some("0xf0"))]).unwrap();
        assert_eq!(
            and.mode,
            ConnmarkMode::Set {
                value: 0,
                mask: !0xf0
            }
        );
    }

    #[test]
    fn the_kernel_shifts_the_whole_new_mark_when_setting() {
        let t = target(&[("xor-mark", Some("1")), ("left-shift-mark", Some("4"))]).unwrap();
        assert_eq!(t.apply(0x105, 5), (0x1040, 5));
        let save = target(&[("save-mark", None), ("right-shift-mark", Some("1"))]).unwrap();
        assert_eq!(save.apply(0x1145, 5), (2, 5));
        let restore = target(&[("restore-mark", None), ("mask", Some("0xff"))]).unwrap();
        assert_eq!(restore.apply(0x1040, 0x300), (0x1040, 0x340));
    }
}
