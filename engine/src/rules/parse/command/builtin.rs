//! iptables' own options on a line: the commands (`-A -I -D -R -N -P -F -Z -X -E`)
//! and the rule's own tests and target (`-s -d -i -o -p -f -m -j -g`), `-c` and `-t`.

use super::{Ext, Kind, Line};
use crate::rules::addr::{self, Net};
use crate::rules::error::{PResult, Problem};
use crate::rules::iface::Iface;
use crate::rules::matches::Pending;
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
        let is_command = matches!(
            which,
            Builtin::Append
                | Builtin::Insert
                | Builtin::Delete
                | Builtin::Replace
                | Builtin::Flush
                | Builtin::Zero
                | Builtin::DeleteChain
                | Builtin::RenameChain
                | Builtin::NewChain
                | Builtin::Policy
        );
        if !is_command && which != Builtin::Table {
            self.first_rule_opt.get_or_insert(at);
        }
        match which {
            Builtin::Append => self.set_cmd(at, Kind::Append, arg, arg_tok)?,
            Builtin::Insert => {
                let index = match self.rule_number()? {
                    None => 1,
                    Some((n, tok)) => {
                        self.arg_tok = Some(tok);
                        n
                    }
                };
                self.set_cmd(at, Kind::Insert(index), arg, arg_tok)?;
            }
            Builtin::Delete => {
                let n = self.rule_number()?;
                self.arg_tok = n.map(|x| x.1);
                self.set_cmd(at, Kind::Delete(n.map(|x| x.0)), arg, arg_tok)?;
            }
            Builtin::Replace => {
                let Some((n, tok)) = self.rule_number()? else {
                    return Err(Problem::at(at, "-R requires a chain and a rule number"));
                };
                self.arg_tok = Some(tok);
                self.set_cmd(at, Kind::Replace(n), arg, arg_tok)?;
            }
            Builtin::Flush | Builtin::DeleteChain | Builtin::Zero => {
                let (chain, chain_tok) = self.next_word().unwrap_or((String::new(), at));
                let kind = match which {
                    Builtin::Flush => Kind::Flush,
                    Builtin::DeleteChain => Kind::DeleteChain,
                    _ if chain.is_empty() => Kind::Zero(None),
                    _ => {
                        let n = self.rule_number()?;
                        self.arg_tok = n.map(|x| x.1);
                        Kind::Zero(n.map(|x| x.0))
                    }
                };
                self.set_cmd(at, kind, chain, chain_tok)?;
            }
            Builtin::RenameChain => {
                let Some((new, tok)) = self.next_word() else {
                    return Err(Problem::at(
                        at,
                        "-E requires old-chain-name and new-chain-name",
                    ));
                };
                self.arg_tok = Some(tok);
                self.set_cmd(at, Kind::Rename(new), arg, arg_tok)?;
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
                // `-c PACKETS BYTES` sets the new rule's counters (iptables honours
                // it even when iptables-restore runs without --counters).
                once(self.counters.is_some())?;
                let mut v = [0u64; 2];
                for (k, a) in args.iter().enumerate() {
                    v[k] = a.parse::<u64>().map_err(|_| {
                        Problem::at(arg_tok + k, format!("bad counter value `{a}'"))
                    })?;
                }
                self.counters = Some((v[0], v[1], at));
            }
            Builtin::Table => {
                if !self.allow_table {
                    return Err(Problem::at(
                        at,
                        "The -t option cannot be used in iptables-restore (start a `*TABLE' section)",
                    ));
                }
                once(self.table.is_some())?;
                let kind = crate::rules::TableKind::from_name(&arg).ok_or_else(|| {
                    let msg = match arg.as_str() {
                        "nat" | "mangle" | "security" => format!(
                            "table `{arg}' is not supported by wasmwall (only filter and raw)"
                        ),
                        _ => format!("table '{arg}' does not exist"),
                    };
                    Problem::at(arg_tok, msg)
                })?;
                self.table = Some((kind, arg_tok));
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
