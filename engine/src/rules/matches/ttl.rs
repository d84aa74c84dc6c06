//! `-m ttl --ttl-eq N | --ttl-lt N | --ttl-gt N`: the IPv4 time-to-live, as the
//! packet has it at the hook. A forwarded packet's TTL is already decremented in
//! FORWARD (`ip_forward` decrements before the hook), so a packet sent with TTL 64
//! is seen with 63 there, and with 64 in INPUT and PREROUTING. Only `--ttl-eq` can be
//! negated (`! --ttl-eq N` is "not equal").

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

const EQ: u8 = 1;
const LT: u8 = 2;
const GT: u8 = 3;

pub(crate) const TTL_OPTS: &[OptSpec] = &[
    OptSpec::new("ttl-eq", EQ, 1, true),
    OptSpec::new("ttl-lt", LT, 1, false),
    OptSpec::new("ttl-gt", GT, 1, false),
];

/// How the TTL is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlMode {
    Eq,
    Ne,
    Lt,
    Gt,
}

/// The `ttl` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlMatch {
    pub mode: TtlMode,
    pub ttl: u8,
}

fn opt_name(id: u8) -> &'static str {
    match id {
        EQ => "--ttl-eq",
        LT => "--ttl-lt",
        _ => "--ttl-gt",
    }
}

fn mode_opt(mode: TtlMode) -> &'static str {
    match mode {
        TtlMode::Eq | TtlMode::Ne => "--ttl-eq",
        TtlMode::Lt => "--ttl-lt",
        TtlMode::Gt => "--ttl-gt",
    }
}

impl TtlMatch {
    /// Applies one option to a match being parsed (they exclude each other).
    pub(crate) fn option(
        slot: &mut Option<TtlMatch>,
        id: u8,
        invert: bool,
        arg: &str,
    ) -> Result<(), String> {
        if let Some(old) = slot {
            if mode_opt(old.mode) == opt_name(id) {
                return Err(format!(
                    "ttl: option \"{}\" can only be used once.",
                    opt_name(id)
                ));
            }
            return Err(format!(
                "ttl: option \"{}\" cannot be used together with \"{}\".",
                opt_name(id),
                mode_opt(old.mode)
            ));
        }
        let ttl = parse_c_uint(arg, 255).ok_or_else(|| {
            format!(
                "ttl: bad value for option \"{}\", or out of range (0-255)",
                opt_name(id)
            )
        })? as u8;
        let mode = match (id, invert) {
            (EQ, false) => TtlMode::Eq,
            (EQ, true) => TtlMode::Ne,
            (LT, _) => TtlMode::Lt,
            _ => TtlMode::Gt,
        };
        *slot = Some(TtlMatch { mode, ttl });
        Ok(())
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let t = v.ctx.packet.ip.ttl;
        Outcome::from(match self.mode {
            TtlMode::Eq => t == self.ttl,
            TtlMode::Ne => t != self.ttl,
            TtlMode::Lt => t < self.ttl,
            TtlMode::Gt => t > self.ttl,
        })
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m ttl");
        if self.mode == TtlMode::Ne {
            out.push_str(" !");
        }
        out.push(' ');
        out.push_str(mode_opt(self.mode));
        out.push_str(&format!(" {}", self.ttl));
    }

    /// `iptables -L`: ` TTL match TTL == N` (`!=`, `<`, `>`).
    pub(crate) fn list(&self, out: &mut String) {
        let op = match self.mode {
            TtlMode::Eq => "==",
            TtlMode::Ne => "!=",
            TtlMode::Lt => "<",
            TtlMode::Gt => ">",
        };
        out.push_str(&format!(" TTL match TTL {op} {}", self.ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(opts: &[(u8, bool, &str)]) -> Result<String, String> {
        let mut slot = None;
        for (id, inv, arg) in opts {
            TtlMatch::option(&mut slot, *id, *inv, arg)?;
        }
        let mut s = String::new();
        slot.unwrap().save(&mut s);
        Ok(s)
    }

    #[test]
    fn modes_save_like_iptables() {
        assert_eq!(saved(&[(EQ, false, "63")]).unwrap(), " -m ttl --ttl-eq 63");
        assert_eq!(saved(&[(EQ, true, "63")]).unwrap(), " -m ttl ! --ttl-eq 63");
        assert_eq!(
            saved(&[(LT, false, "0x10")]).unwrap(),
            " -m ttl --ttl-lt 16"
        );
        assert_eq!(saved(&[(GT, false, "1")]).unwrap(), " -m ttl --ttl-gt 1");
        assert!(saved(&[(EQ, false, "5"), (LT, false, "3")])
            .unwrap_err()
            .contains("cannot be used together"));
        assert!(saved(&[(GT, false, "256")])
            .unwrap_err()
            .contains("out of range"));
    }
}
