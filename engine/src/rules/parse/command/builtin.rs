//! iptables' own options (`-A -I -N -P -s -d -i -o -p -j -g -m -f -c`) on a line.

use super::{Ext, Kind, Line};
use crate::rules::addr::{self, Net};
use crate::rules::error::{PResult, Problem};
use crate::rules::iface::Iface;
use crate::rules::matches::Pending;
use crate::rules::num::parse_c_uint;
use crate::rules::parse::options::Builtin;
use crate::rules::rule::Neg;
use crate::rules::target::PendingTarget;

impl Line<'_> {
    pub(super) fn apply_builtin(
        &mut self,
        at: usize,
        arg_tok: usize,
        which: Builtin,
        invert: bool,
        args: Vec<String>,
    ) -> PResult<()> {
        let flag = &self.toks[at].text;
        let once = |given: bool| {
            if given {
                Err(Problem::at(
                    at,
                    format!("multiple {flag} flags not allowed"),
                ))
            } else {
                Ok(())
            }
        };
        let arg = args.first().cloned().unwrap_or_default();
        if !matches!(
            which,
            Builtin::Append | Builtin::Insert | Builtin::NewChain | Builtin::Policy
        ) {
            self.first_rule_opt.get_or_insert(at);
        }
        match which {
            Builtin::Append => self.set_cmd(at, Kind::Append, arg, arg_tok)?,
            Builtin::Insert => {
                let index = match self.next_word() {
                    None => 1,
                    Some((n, tok)) => match parse_c_uint(&n, i32::MAX as u32) {
                        Some(v) if v >= 1 => v as usize,
                        _ => return Err(Problem::at(tok, format!("Invalid rule number `{n}'"))),
                    },
                };
                self.set_cmd(at, Kind::Insert(index), arg, arg_tok)?;
            }
            Builtin::NewChain => self.set_cmd(at, Kind::NewChain, arg, arg_tok)?,
            Builtin::Policy => {
                let Some((policy, _)) = self.next_word() else {
                    return Err(Problem::at(at, "-P requires a chain and a policy"));
                };
                self.set_cmd(at, Kind::Policy(policy), arg, arg_tok)?;
            }
            Builtin::Source | Builtin::Destination => {
                let slot = if which == Builtin::Source {
                    &self.srcs
                } else {
                    &self.dsts
                };
                once(slot.is_some())?;
                let nets = addr::parse_list(&arg).map_err(|e| Problem::at(arg_tok, e))?;
                if invert && nets.iter().any(Net::is_any) {
                    return Err(Problem::at(
                        arg_tok,
                        format!("! {flag} {arg} never matches (the kernel refuses this rule)"),
                    ));
                }
                let v = Some((nets, invert, arg_tok));
                if which == Builtin::Source {
                    self.srcs = v;
                } else {
                    self.dsts = v;
                }
            }
            Builtin::InIface | Builtin::OutIface => {
                let slot = if which == Builtin::InIface {
                    &self.in_iface
                } else {
                    &self.out_iface
                };
                once(slot.is_some())?;
                let v = Some((
                    Neg {
                        value: Iface::parse(&arg).map_err(|e| Problem::at(arg_tok, e))?,
                        invert,
                    },
                    at,
                ));
                if which == Builtin::InIface {
                    self.in_iface = v;
                } else {
                    self.out_iface = v;
                }
            }
            Builtin::Protocol => {
                once(self.proto.is_some())?;
                let p = crate::rules::proto::parse(&arg).ok_or_else(|| {
                    Problem::at(arg_tok, format!("unknown protocol \"{arg}\" specified"))
                })?;
                if p == 0 && invert {
                    return Err(Problem::at(arg_tok, "rule would never match protocol"));
                }
                self.proto = Some((p, invert, arg_tok));
            }
            Builtin::Jump | Builtin::Goto => {
                if self.target.is_some() {
                    return Err(Problem::at(at, "multiple -j / -g flags not allowed"));
                }
                let t = PendingTarget::load(&arg, which == Builtin::Goto)
                    .map_err(|e| Problem::at(arg_tok, e))?;
                self.target = Some(arg_tok);
                self.exts.push(Ext::Target(t, arg_tok));
            }
            Builtin::Match => {
                let m = Pending::load(&arg).map_err(|e| Problem::at(arg_tok, e))?;
                self.exts.push(Ext::Match(m, at));
            }
            Builtin::Fragment => {
                once(self.fragment.is_some())?;
                self.fragment = Some((invert, at));
            }
            Builtin::SetCounters => {
                // iptables-restore without --counters ignores them; so do we.
                for (k, a) in args.iter().enumerate() {
                    if a.parse::<u64>().is_err() {
                        return Err(Problem::at(arg_tok + k, format!("bad counter value `{a}'")));
                    }
                }
            }
            Builtin::Table => {
                return Err(Problem::at(
                    at,
                    "The -t option cannot be used in iptables-restore (start a `*TABLE' section)",
                ))
            }
            Builtin::Unsupported => {
                return Err(Problem::at(
                    at,
                    format!("option \"{flag}\" is not supported in a rule file"),
                ));
            }
        }
        Ok(())
    }
}
