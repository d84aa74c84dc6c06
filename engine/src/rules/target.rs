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
//! * No `-j` at all: the rule only counts packets.

use super::matches::OptSpec;
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
}

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
        }
    }

    /// A CT template that is not `--notrack` makes the kernel track connections.
    pub fn uses_conntrack(&self) -> bool {
        matches!(self, Target::Ct { notrack: false, .. })
    }
}

/// Targets iptables has but wasmwall does not implement (a clearer error).
const UNSUPPORTED: &[&str] = &[
    "AUDIT",
    "CHECKSUM",
    "CLASSIFY",
    "CONNMARK",
    "CONNSECMARK",
    "DNAT",
    "DSCP",
    "ECN",
    "HMARK",
    "IDLETIMER",
    "LED",
    "LOG",
    "MARK",
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
        "ACCEPT" | "DROP" | "RETURN" | "REJECT" | "CT" | "NOTRACK"
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
        })
    }
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
