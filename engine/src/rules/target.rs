//! Targets (`-j` / `-g`): what happens to a packet a rule matches.
//!
//! * `ACCEPT` / `DROP` end the traversal of the table with that verdict.
//! * `RETURN` goes back to the rule after the one that jumped here (in a built-in
//!   chain: the chain's policy applies).
//! * `-j CHAIN` jumps to a user chain and comes back when it ends; `-g CHAIN` goes
//!   there without coming back (its end returns to whoever called the current chain).
//! * `REJECT` drops the packet and answers it (filter table only).
//! * `CT` / `NOTRACK` (raw table only) attach a conntrack template to the packet
//!   and *continue*: `--notrack` makes it UNTRACKED, `--helper ftp` assigns a helper.
//!   Only the first of them counts (`xt_ct_target`: "previously seen? ignore").
//! * `LOG` writes a line about the packet to the kernel log and *continues*.
//! * `MARK` changes the packet's mark (`skb->mark`, which `-m mark` tests) and
//!   *continues*. Every form is stored as `--set-xmark VALUE/MASK`, meaning
//!   `mark = (mark & !MASK) ^ VALUE`: `--set-mark V/M` is `V/(M|V)`, `--and-mark V`
//!   is `0/!V`, `--or-mark V` is `V/V`, `--xor-mark V` is `V/0`.
//! * No `-j` at all: the rule only counts packets.

use super::matches::comment::save_string;
use super::matches::connmark::{ConnmarkTarget, PendingConnmark, CONNMARK_TARGET_OPTS};
use super::matches::mark::{parse_mark_mask, xmark_text};
use super::matches::OptSpec;
use super::num::parse_c_uint;
use crate::conntrack::entry::Helper;

/// How REJECT answers (`--reject-with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectWith {
    TcpReset,
    IcmpNetUnreachable,
    IcmpHostUnreachable,
    IcmpPortUnreachable,
    IcmpProtoUnreachable,
    IcmpNetProhibited,
    IcmpHostProhibited,
    IcmpAdminProhibited,
}

/// `reject_table[]` of iptables' libipt_REJECT, in its order: (kind, name, alias).
/// Arguments are matched as case-insensitive prefixes of either, first hit wins.
const REJECT_NAMES: &[(RejectWith, &str, &str)] = &[
    (
        RejectWith::IcmpNetUnreachable,
        "icmp-net-unreachable",
        "net-unreach",
    ),
    (
        RejectWith::IcmpHostUnreachable,
        "icmp-host-unreachable",
        "host-unreach",
    ),
    (
        RejectWith::IcmpProtoUnreachable,
        "icmp-proto-unreachable",
        "proto-unreach",
    ),
    (
        RejectWith::IcmpPortUnreachable,
        "icmp-port-unreachable",
        "port-unreach",
    ),
    (
        RejectWith::IcmpNetProhibited,
        "icmp-net-prohibited",
        "net-prohib",
    ),
    (
        RejectWith::IcmpHostProhibited,
        "icmp-host-prohibited",
        "host-prohib",
    ),
    (RejectWith::TcpReset, "tcp-reset", "tcp-rst"),
    (
        RejectWith::IcmpAdminProhibited,
        "icmp-admin-prohibited",
        "admin-prohib",
    ),
];

impl RejectWith {
    /// The name iptables-save prints.
    pub fn name(self) -> &'static str {
        REJECT_NAMES
            .iter()
            .find(|(k, ..)| *k == self)
            .map_or("", |(_, n, _)| n)
    }

    /// Parses a `--reject-with` argument.
    pub fn parse(arg: &str) -> Option<RejectWith> {
        let prefix =
            |full: &str| full.len() >= arg.len() && full[..arg.len()].eq_ignore_ascii_case(arg);
        REJECT_NAMES
            .iter()
            .find(|(_, n, a)| prefix(n) || prefix(a))
            .map(|(k, ..)| *k)
    }

    /// The ICMP destination-unreachable code sent, or None for tcp-reset.
    pub fn icmp_code(self) -> Option<u8> {
        Some(match self {
            RejectWith::TcpReset => return None,
            RejectWith::IcmpNetUnreachable => 0,
            RejectWith::IcmpHostUnreachable => 1,
            RejectWith::IcmpProtoUnreachable => 2,
            RejectWith::IcmpPortUnreachable => 3,
            RejectWith::IcmpNetProhibited => 9,
            RejectWith::IcmpHostProhibited => 10,
            RejectWith::IcmpAdminProhibited => 13,
        })
    }
}

/// A user chain named by a jump, with its index in the table once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRef {
    pub name: String,
    pub(crate) index: usize,
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// No `-j`: count and continue.
    None,
    Accept,
    Drop,
    Return,
    Jump(ChainRef),
    Goto(ChainRef),
    Reject(RejectWith),
    /// `-j CT [--notrack] [--helper NAME]`.
    Ct {
        notrack: bool,
        helper: Option<Helper>,
    },
    /// `-j NOTRACK` (the same as `CT --notrack`, printed under its own name).
    Notrack,
    /// `-j LOG`.
    Log(LogTarget),
    /// `-j MARK`: `mark = (mark & !mask) ^ value`.
    Mark {
        value: u32,
        mask: u32,
    },
    /// `-j CONNMARK`: the connection's mark.
    Connmark(ConnmarkTarget),
}

/// `-j LOG` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// syslog level, 0 (emerg) to 7 (debug); 4 (warning) by default.
    pub level: u8,
    /// Up to 29 characters put in front of the line.
    pub prefix: String,
    /// [`log_flags`] bits.
    pub flags: u8,
}

/// `-j LOG` flags (`XT_LOG_*`).
pub mod log_flags {
    /// `--log-tcp-sequence`: add `SEQ= ACK=`.
    pub const TCPSEQ: u8 = 0x01;
    /// `--log-tcp-options`: add the TCP options in hex.
    pub const TCPOPT: u8 = 0x02;
    /// `--log-ip-options`: add the IP options in hex.
    pub const IPOPT: u8 = 0x04;
    /// `--log-uid`: add the owning socket's UID (none for forwarded packets).
    pub const UID: u8 = 0x08;
    /// `--log-macdecode`: decode the MAC header (there is none here).
    pub const MACDECODE: u8 = 0x20;
}

/// (option, flag) in iptables-save's order.
const LOG_FLAG_OPTS: [(&str, &str, u8); 5] = [
    ("log-tcp-sequence", "tcp-sequence", log_flags::TCPSEQ),
    ("log-tcp-options", "tcp-options", log_flags::TCPOPT),
    ("log-ip-options", "ip-options", log_flags::IPOPT),
    ("log-uid", "uid", log_flags::UID),
    ("log-macdecode", "macdecode", log_flags::MACDECODE),
];

/// Level names `--log-level` accepts (`error` and `panic` are deprecated aliases).
const LOG_LEVEL_NAMES: &[(&str, u8)] = &[
    ("alert", 1),
    ("crit", 2),
    ("debug", 7),
    ("emerg", 0),
    ("error", 3),
    ("info", 6),
    ("notice", 5),
    ("panic", 0),
    ("warning", 4),
];

/// Level names `iptables -L` prints, by level.
const LOG_LEVEL_LIST: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
];

const LOG_DEFAULT_LEVEL: u8 = 4;
/// `sizeof(xt_log_info.prefix)` less the terminating NUL.
const LOG_PREFIX_MAX: usize = 29;

impl Target {
    /// Appends ` -j NAME OPTIONS` (or ` -g CHAIN`) as iptables-save prints it.
    pub(crate) fn save(&self, out: &mut String) {
        match self {
            Target::None => {}
            Target::Accept => out.push_str(" -j ACCEPT"),
            Target::Drop => out.push_str(" -j DROP"),
            Target::Return => out.push_str(" -j RETURN"),
            Target::Jump(c) => {
                out.push_str(" -j ");
                out.push_str(&c.name);
            }
            Target::Goto(c) => {
                out.push_str(" -g ");
                out.push_str(&c.name);
            }
            Target::Reject(w) => {
                out.push_str(" -j REJECT --reject-with ");
                out.push_str(w.name());
            }
            Target::Ct { notrack, helper } => {
                out.push_str(" -j CT");
                if *notrack {
                    out.push_str(" --notrack");
                }
                if let Some(h) = helper {
                    out.push_str(" --helper ");
                    out.push_str(h.name());
                }
            }
            Target::Notrack => out.push_str(" -j NOTRACK"),
            Target::Log(l) => {
                out.push_str(" -j LOG");
                if !l.prefix.is_empty() {
                    out.push_str(" --log-prefix");
                    save_string(&l.prefix, out);
                }
                if l.level != LOG_DEFAULT_LEVEL {
                    out.push_str(&format!(" --log-level {}", l.level));
                }
                for (opt, _, bit) in LOG_FLAG_OPTS {
                    if l.flags & bit != 0 {
                        out.push_str(" --");
                        out.push_str(opt);
                    }
                }
            }
            Target::Mark { value, mask } => {
                out.push_str(&format!(" -j MARK --set-xmark 0x{value:x}/0x{mask:x}"));
            }
            Target::Connmark(t) => t.save(out),
        }
    }

    /// The target column of `iptables -L` (empty for no target).
    pub(crate) fn list_name(&self) -> &str {
        match self {
            Target::None => "",
            Target::Accept => "ACCEPT",
            Target::Drop => "DROP",
            Target::Return => "RETURN",
            Target::Jump(c) | Target::Goto(c) => &c.name,
            Target::Reject(_) => "REJECT",
            Target::Ct { .. } | Target::Notrack => "CT",
            Target::Log(_) => "LOG",
            Target::Mark { .. } => "MARK",
            Target::Connmark(_) => "CONNMARK",
        }
    }

    /// What `iptables -L` prints after the matches for the target's options.
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        match self {
            Target::Reject(w) => {
                out.push_str(" reject-with ");
                out.push_str(w.name());
            }
            Target::Ct { notrack, helper } => {
                out.push_str(" CT");
                if *notrack {
                    out.push_str(" notrack");
                }
                if let Some(h) = helper {
                    out.push_str(" helper ");
                    out.push_str(h.name());
                }
            }
            Target::Notrack => out.push_str(" NOTRACK"),
            Target::Log(l) => {
                out.push_str(" LOG");
                if numeric {
                    out.push_str(&format!(" flags {} level {}", l.flags, l.level));
                } else {
                    out.push_str(" level ");
                    out.push_str(LOG_LEVEL_LIST[usize::from(l.level & 7)]);
                    for (_, word, bit) in LOG_FLAG_OPTS {
                        if l.flags & bit != 0 {
                            out.push(' ');
                            out.push_str(word);
                        }
                    }
                }
                if !l.prefix.is_empty() {
                    out.push_str(&format!(" prefix \"{}\"", l.prefix));
                }
            }
            Target::Mark { value, mask } => {
                out.push_str(" MARK ");
                out.push_str(&xmark_text(*value, *mask));
            }
            Target::Connmark(t) => t.list(out),
            _ => {}
        }
    }

    /// A CT template that is not `--notrack` makes the kernel track connections.
    pub fn uses_conntrack(&self) -> bool {
        matches!(
            self,
            Target::Ct { notrack: false, .. } | Target::Connmark(_)
        )
    }
}

/// Targets iptables has but wasmwall does not implement (a clearer error).
const UNSUPPORTED: &[&str] = &[
    "AUDIT",
    "CHECKSUM",
    "CLASSIFY",
    "CONNSECMARK",
    "DNAT",
    "DSCP",
    "ECN",
    "HMARK",
    "IDLETIMER",
    "LED",
    "MASQUERADE",
    "NETMAP",
    "NFLOG",
    "NFQUEUE",
    "QUEUE",
    "RATEEST",
    "REDIRECT",
    "SECMARK",
    "SET",
    "SNAT",
    "SYNPROXY",
    "TCPMSS",
    "TCPOPTSTRIP",
    "TEE",
    "TOS",
    "TPROXY",
    "TRACE",
    "TTL",
    "ULOG",
];

/// Whether `name` is a target iptables knows (so it cannot name a chain).
pub(crate) fn is_target_name(name: &str) -> bool {
    matches!(
        name,
        "ACCEPT" | "DROP" | "RETURN" | "REJECT" | "CT" | "NOTRACK" | "LOG" | "MARK"
    ) || UNSUPPORTED.contains(&name)
}

const REJECT_OPTS: &[OptSpec] = &[OptSpec::new("reject-with", 1, 1, false)];
const CT_NOTRACK: u8 = 1;
const CT_HELPER: u8 = 2;
const CT_OTHER: u8 = 3;
const CT_OPTS: &[OptSpec] = &[
    OptSpec::new("notrack", CT_NOTRACK, 0, false),
    OptSpec::new("helper", CT_HELPER, 1, false),
    OptSpec::new("ctevents", CT_OTHER, 1, false),
    OptSpec::new("expevents", CT_OTHER, 1, false),
    OptSpec::new("zone", CT_OTHER, 1, false),
    OptSpec::new("zone-orig", CT_OTHER, 1, false),
    OptSpec::new("zone-reply", CT_OTHER, 1, false),
    OptSpec::new("timeout", CT_OTHER, 1, false),
];
const LOG_LEVEL: u8 = 1;
const LOG_PREFIX: u8 = 2;
const LOG_FLAG: u8 = 3;
const LOG_OPTS: &[OptSpec] = &[
    OptSpec::new("log-level", LOG_LEVEL, 1, false),
    OptSpec::new("log-prefix", LOG_PREFIX, 1, false),
    OptSpec::new("log-tcp-sequence", LOG_FLAG, 0, false),
    OptSpec::new("log-tcp-options", LOG_FLAG, 0, false),
    OptSpec::new("log-ip-options", LOG_FLAG, 0, false),
    OptSpec::new("log-uid", LOG_FLAG, 0, false),
    OptSpec::new("log-macdecode", LOG_FLAG, 0, false),
];
const MARK_SET_X: u8 = 1;
const MARK_SET: u8 = 2;
const MARK_AND: u8 = 3;
const MARK_OR: u8 = 4;
const MARK_XOR: u8 = 5;
const MARK_OPTS: &[OptSpec] = &[
    OptSpec::new("set-xmark", MARK_SET_X, 1, false),
    OptSpec::new("set-mark", MARK_SET, 1, false),
    OptSpec::new("and-mark", MARK_AND, 1, false),
    OptSpec::new("or-mark", MARK_OR, 1, false),
    OptSpec::new("xor-mark", MARK_XOR, 1, false),
];

/// A target while its options are being parsed.
#[derive(Debug, Clone)]
pub(crate) enum PendingTarget {
    Simple(Target),
    /// A jump or goto to a chain resolved when the table is committed.
    Chain {
        name: String,
        goto: bool,
    },
    Reject(Option<RejectWith>),
    Ct {
        notrack: bool,
        helper: Option<String>,
    },
    Log {
        level: Option<u8>,
        prefix: Option<String>,
        flags: u8,
    },
    /// The option that set it, and (value, mask).
    Mark(Option<(&'static str, u32, u32)>),
    Connmark(PendingConnmark),
}

impl PendingTarget {
    /// `-j NAME` / `-g NAME`.
    pub fn load(name: &str, goto: bool) -> Result<PendingTarget, String> {
        if goto {
            if is_target_name(name) {
                return Err(format!("goto '{name}' is not a chain"));
            }
            return Ok(PendingTarget::Chain {
                name: name.into(),
                goto,
            });
        }
        Ok(match name {
            "ACCEPT" => PendingTarget::Simple(Target::Accept),
            "DROP" => PendingTarget::Simple(Target::Drop),
            "RETURN" => PendingTarget::Simple(Target::Return),
            "REJECT" => PendingTarget::Reject(None),
            "CT" => PendingTarget::Ct {
                notrack: false,
                helper: None,
            },
            "NOTRACK" => PendingTarget::Simple(Target::Notrack),
            "LOG" => PendingTarget::Log {
                level: None,
                prefix: None,
                flags: 0,
            },
            "MARK" => PendingTarget::Mark(None),
            "CONNMARK" => PendingTarget::Connmark(PendingConnmark::default()),
            _ if UNSUPPORTED.contains(&name) => {
                return Err(format!("target `{name}' is not supported by wasmwall"))
            }
            _ => PendingTarget::Chain {
                name: name.into(),
                goto,
            },
        })
    }

    pub fn options(&self) -> &'static [OptSpec] {
        match self {
            PendingTarget::Reject(_) => REJECT_OPTS,
            PendingTarget::Ct { .. } => CT_OPTS,
            PendingTarget::Log { .. } => LOG_OPTS,
            PendingTarget::Mark(_) => MARK_OPTS,
            PendingTarget::Connmark(_) => CONNMARK_TARGET_OPTS,
            _ => &[],
        }
    }

    pub fn apply(&mut self, spec: &OptSpec, arg: Option<&str>) -> Result<(), String> {
        let once = |given: bool| {
            if given {
                Err(format!("option \"--{}\" can only be used once.", spec.long))
            } else {
                Ok(())
            }
        };
        match self {
            PendingTarget::Connmark(p) => p.option(spec, arg)?,
            PendingTarget::Reject(slot) => {
                once(slot.is_some())?;
                let arg = arg.unwrap_or_default();
                *slot = Some(
                    RejectWith::parse(arg)
                        .ok_or_else(|| format!("unknown reject type \"{arg}\""))?,
                );
            }
            PendingTarget::Ct { notrack, helper } => match spec.id {
                CT_NOTRACK => {
                    once(*notrack)?;
                    *notrack = true;
                }
                CT_HELPER => {
                    once(helper.is_some())?;
                    *helper = Some(arg.unwrap_or_default().to_string());
                }
                _ => {
                    return Err(format!(
                        "CT option \"--{}\" is not supported by wasmwall",
                        spec.long
                    ))
                }
            },
            PendingTarget::Log {
                level,
                prefix,
                flags,
            } => match spec.id {
                LOG_LEVEL => {
                    once(level.is_some())?;
                    *level = Some(parse_log_level(arg.unwrap_or_default())?);
                }
                LOG_PREFIX => {
                    once(prefix.is_some())?;
                    *prefix = Some(parse_log_prefix(arg.unwrap_or_default())?);
                }
                _ => {
                    let bit = LOG_FLAG_OPTS
                        .iter()
                        .find(|(o, ..)| *o == spec.long)
                        .map_or(0, |f| f.2);
                    once(*flags & bit != 0)?;
                    *flags |= bit;
                }
            },
            PendingTarget::Mark(slot) => {
                if let Some((first, ..)) = slot {
                    if *first == spec.long {
                        return once(true);
                    }
                    return Err(format!(
                        "MARK: option \"--{}\" cannot be used together with \"--{first}\".",
                        spec.long
                    ));
                }
                let arg = arg.unwrap_or_default();
                let word = |a: &str| {
                    parse_c_uint(a, u32::MAX).ok_or_else(|| {
                        format!(
                            "MARK: bad value `{a}' for option \"--{}\", or out of range",
                            spec.long
                        )
                    })
                };
                let (value, mask) = match spec.id {
                    MARK_SET_X => parse_mark_mask(arg, spec.long)?,
                    MARK_SET => {
                        let (v, m) = parse_mark_mask(arg, spec.long)?;
                        (v, v | m)
                    }
                    MARK_AND => (0, !word(arg)?),
                    MARK_OR => {
                        let v = word(arg)?;
                        (v, v)
                    }
                    _ => (word(arg)?, 0),
                };
                *slot = Some((spec.long, value, mask));
            }
            _ => return Err(format!("unknown option \"--{}\"", spec.long)),
        }
        Ok(())
    }

    /// Final checks against the rule's `-p` (REJECT's tcp-reset, CT's helper).
    pub fn finish(self, proto: Option<(u8, bool)>) -> Result<Target, String> {
        let tcp = matches!(proto, Some((6, false)));
        Ok(match self {
            PendingTarget::Simple(t) => t,
            PendingTarget::Chain { name, goto } => {
                let c = ChainRef {
                    name,
                    index: usize::MAX,
                };
                if goto {
                    Target::Goto(c)
                } else {
                    Target::Jump(c)
                }
            }
            PendingTarget::Reject(with) => {
                let with = with.unwrap_or(RejectWith::IcmpPortUnreachable);
                if with == RejectWith::TcpReset && !tcp {
                    return Err("REJECT --reject-with tcp-reset is only valid with -p tcp (the kernel refuses it)".into());
                }
                Target::Reject(with)
            }
            PendingTarget::Ct { notrack, helper } => {
                let helper = match helper {
                    None => None,
                    Some(name) => {
                        let h = Helper::from_name(&name)
                            .ok_or_else(|| format!("No such helper \"{name}\""))?;
                        if !tcp {
                            return Err(format!(
                                "CT --helper {name}: you must specify -p tcp (a L4 protocol, not inverted)"
                            ));
                        }
                        Some(h)
                    }
                };
                Target::Ct { notrack, helper }
            }
            PendingTarget::Log {
                level,
                prefix,
                flags,
            } => Target::Log(LogTarget {
                level: level.unwrap_or(LOG_DEFAULT_LEVEL),
                prefix: prefix.unwrap_or_default(),
                flags,
            }),
            PendingTarget::Connmark(p) => Target::Connmark(p.finish()?),
            PendingTarget::Mark(m) => {
                let (_, value, mask) = m.ok_or(
                    "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required",
                )?;
                Target::Mark { value, mask }
            }
        })
    }
}

/// `--log-level`: a number 0-7 (C notation) or a level name.
fn parse_log_level(arg: &str) -> Result<u8, String> {
    if let Some(n) = parse_c_uint(arg, 7) {
        return Ok(n as u8);
    }
    LOG_LEVEL_NAMES
        .iter()
        .find(|(n, _)| *n == arg)
        .map(|&(_, l)| l)
        .ok_or_else(|| format!("log level \"{arg}\" unknown"))
}

/// `--log-prefix`: 1 to 29 characters, no newline. iptables silently cuts longer
/// prefixes to 29 characters; wasmwall refuses them instead.
fn parse_log_prefix(arg: &str) -> Result<String, String> {
    if arg.is_empty() {
        return Err("--log-prefix: Argument must have a minimum length of 1 characters".into());
    }
    if arg.contains('\n') {
        return Err("Newlines not allowed in --log-prefix".into());
    }
    if arg.len() > LOG_PREFIX_MAX {
        return Err(format!(
            "--log-prefix is {} bytes long; the kernel keeps at most {LOG_PREFIX_MAX} (iptables would silently cut it)",
            arg.len()
        ));
    }
    Ok(arg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_names_and_aliases() {
        assert_eq!(RejectWith::parse("tcp-reset"), Some(RejectWith::TcpReset));
        assert_eq!(RejectWith::parse("tcp-rst"), Some(RejectWith::TcpReset));
        assert_eq!(RejectWith::parse("TCP"), Some(RejectWith::TcpReset));
        assert_eq!(
            RejectWith::parse("icmp-"),
            Some(RejectWith::IcmpNetUnreachable)
        );
        assert_eq!(
            RejectWith::parse("host-prohib"),
            Some(RejectWith::IcmpHostProhibited)
        );
        assert_eq!(
            RejectWith::parse("admin"),
            Some(RejectWith::IcmpAdminProhibited)
        );
        assert_eq!(RejectWith::parse("echo-reply"), None);
        assert_eq!(
            RejectWith::IcmpProtoUnreachable.name(),
            "icmp-proto-unreachable"
        );
        assert_eq!(RejectWith::IcmpAdminProhibited.icmp_code(), Some(13));
    }
}
