//! One iptables command line (`-A FORWARD -p tcp --dport 80 -j ACCEPT`), parsed the
//! way `do_command` does: options in any order, `!` before the option it negates,
//! extensions loaded by `-m` / `-j` or implicitly by `-p`.

mod builtin;

use super::options::{self, LookupError, Opt};
use crate::rules::addr::Net;
use crate::rules::error::{PResult, Problem};
use crate::rules::iface::Iface;
use crate::rules::lex::Token;
use crate::rules::matches::{Match, OptSpec, Pending};
use crate::rules::rule::{IpSpec, Neg, Rule};
use crate::rules::target::{PendingTarget, Target};

/// What the line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Append,
    /// `-I CHAIN [N]` (1-based, default 1).
    Insert(usize),
    /// `-D CHAIN N`, or `-D CHAIN RULE-SPEC` (None): the first rule equal to the spec.
    Delete(Option<usize>),
    /// `-R CHAIN N RULE-SPEC`.
    Replace(usize),
    /// `-F [CHAIN]`: remove the rules of one chain or of all.
    Flush,
    /// `-Z [CHAIN [N]]`: zero the counters of a rule, a chain or the table.
    Zero(Option<usize>),
    /// `-X [CHAIN]`: delete one user chain or all of them.
    DeleteChain,
    /// `-E OLD NEW`.
    Rename(String),
    NewChain,
    /// `-P CHAIN POLICY`.
    Policy(String),
}

impl Kind {
    /// Whether the command takes a rule specification.
    fn takes_rule(&self) -> bool {
        matches!(
            self,
            Kind::Append | Kind::Insert(_) | Kind::Delete(None) | Kind::Replace(_)
        )
    }
}

/// A parsed command line. Token indexes point into the line's tokens.
#[derive(Debug)]
pub(crate) struct Command {
    pub kind: Kind,
    /// Empty for `-F`, `-Z` and `-X` without a chain.
    pub chain: String,
    /// The chain's token, or the command's when no chain was given.
    pub chain_tok: usize,
    /// The token of the command option itself (`-A`, `-D`...).
    pub cmd_tok: usize,
    /// The token of a rule number or a second name (`-D CHAIN 3`, `-E A B`).
    pub arg_tok: Option<usize>,
    /// One rule per source × destination address (empty without a rule spec).
    pub rules: Vec<Rule>,
    pub in_tok: Option<usize>,
    pub out_tok: Option<usize>,
    pub target_tok: Option<usize>,
    /// `-t TABLE` (only where the caller allows it).
    pub table: Option<(crate::rules::TableKind, usize)>,
    /// `-c PACKETS BYTES`.
    pub counters: Option<(u64, u64)>,
    /// The `-c` token.
    pub counters_tok: Option<usize>,
}

enum Ext {
    Match(Pending, usize),
    Target(PendingTarget, usize),
}

impl Ext {
    fn options(&self) -> &'static [OptSpec] {
        match self {
            Ext::Match(m, _) => m.options(),
            Ext::Target(t, _) => t.options(),
        }
    }
}

#[derive(Default)]
struct Line<'t> {
    toks: &'t [Token],
    i: usize,
    /// (kind, chain, chain token, command token)
    cmd: Option<(Kind, String, usize, usize)>,
    arg_tok: Option<usize>,
    allow_table: bool,
    table: Option<(crate::rules::TableKind, usize)>,
    counters: Option<(u64, u64, usize)>,
    srcs: Option<(Vec<Net>, bool, usize)>,
    dsts: Option<(Vec<Net>, bool, usize)>,
    in_iface: Option<(Neg<Iface>, usize)>,
    out_iface: Option<(Neg<Iface>, usize)>,
    proto: Option<(u8, bool, usize)>,
    fragment: Option<(bool, usize)>,
    exts: Vec<Ext>,
    target: Option<usize>,
    proto_used: bool,
    first_rule_opt: Option<usize>,
}

/// Parses the tokens of one command line; `allow_table`: whether `-t` may select
/// the table (a single command) or not (inside an iptables-restore section).
pub(crate) fn parse(toks: &[Token], allow_table: bool) -> PResult<Command> {
    let mut line = Line {
        toks,
        allow_table,
        ..Line::default()
    };
    line.run()?;
    line.finish()
}

impl<'t> Line<'t> {
    fn run(&mut self) -> PResult<()> {
        let mut invert: Option<usize> = None;
        while self.i < self.toks.len() {
            let at = self.i;
            let tok = &self.toks[at];
            if !tok.quoted && tok.text == "!" {
                if invert.is_some() {
                    return Err(Problem::at(at, "multiple consecutive ! not allowed"));
                }
                invert = Some(at);
                self.i += 1;
                continue;
            }
            if tok.quoted || !tok.text.starts_with('-') || tok.text == "-" || tok.text == "--" {
                return Err(Problem::at(at, format!("Bad argument `{}'", tok.text)));
            }
            let (opt, inline) = self.resolve(at)?;
            self.i += 1;
            if let Some(bang) = invert {
                if !opt.invertible() {
                    return Err(Problem::at(
                        bang,
                        format!("option \"--{}\" cannot be inverted", opt.long()),
                    ));
                }
            }
            let (args, arg_tok) = self.take_args(at, &opt, inline)?;
            self.apply(at, arg_tok, opt, invert.is_some(), args)?;
            invert = None;
        }
        match invert {
            Some(bang) => Err(Problem::at(bang, "`!' must be followed by an option")),
            None => Ok(()),
        }
    }

    fn ext_options(&self) -> Vec<&'static [OptSpec]> {
        self.exts.iter().map(Ext::options).collect()
    }

    /// Finds the option a token names; `inline` is a value glued to it.
    fn resolve(&mut self, at: usize) -> PResult<(Opt, Option<String>)> {
        let text = self.toks[at].text.as_str();
        let Some(body) = text.strip_prefix("--") else {
            let mut chars = text[1..].chars();
            let letter = chars.next().unwrap_or('-');
            let rest = chars.as_str();
            return match options::short(letter) {
                Some(o) if rest.is_empty() => Ok((o, None)),
                Some(o) if o.args() > 0 => Ok((o, Some(rest.to_string()))),
                _ => Err(Problem::at(at, format!("unknown option \"{text}\""))),
            };
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        loop {
            match options::long(name, &self.ext_options()) {
                Ok(o) => return Ok((o, inline)),
                Err(LookupError::Ambiguous(all)) => {
                    let all: Vec<String> = all.iter().map(|n| format!("--{n}")).collect();
                    return Err(Problem::at(
                        at,
                        format!("option \"{text}\" is ambiguous ({})", all.join(", ")),
                    ));
                }
                Err(LookupError::Unknown) => {
                    if !self.load_proto_match(at)? {
                        return Err(Problem::at(at, format!("unknown option \"{text}\"")));
                    }
                }
            }
        }
    }

    /// iptables' `load_proto`: an unknown option loads the match named after `-p`.
    fn load_proto_match(&mut self, at: usize) -> PResult<bool> {
        let Some((p, _, _)) = self.proto else {
            return Ok(false);
        };
        if self.proto_used || p == 0 {
            return Ok(false);
        }
        self.proto_used = true;
        let name = crate::rules::proto::name(p);
        let m = match name.as_str() {
            "tcp" | "udp" | "icmp" | "sctp" | "dccp" => Pending::load(&name),
            _ if name.parse::<u8>().is_ok() => return Ok(false),
            _ => Err(format!(
                "match `{name}' (loaded by -p {name}) is not supported by wasmwall"
            )),
        }
        .map_err(|e| Problem::at(at, e))?;
        self.exts.push(Ext::Match(m, at));
        Ok(true)
    }

    /// The option's arguments, and the index of the token holding the first one.
    fn take_args(
        &mut self,
        at: usize,
        opt: &Opt,
        inline: Option<String>,
    ) -> PResult<(Vec<String>, usize)> {
        let n = usize::from(opt.args());
        let mut args = Vec::with_capacity(n);
        let mut first_tok = at;
        if let Some(v) = inline {
            args.push(v);
        }
        while args.len() < n {
            let Some(tok) = self.toks.get(self.i) else {
                return Err(Problem::at(
                    at,
                    format!("option \"{}\" requires {n} argument(s)", self.toks[at].text),
                ));
            };
            if !args.is_empty() && !tok.quoted && (tok.text.starts_with('-') || tok.text == "!") {
                return Err(Problem::at(
                    at,
                    format!("\"{}\" requires {n} arguments", self.toks[at].text),
                ));
            }
            if args.is_empty() {
                first_tok = self.i;
                if !tok.quoted && tok.text == "!" {
                    return Err(Problem::at(
                        self.i,
                        format!(
                            "`!' must come before the option (`! {} ...')",
                            self.toks[at].text
                        ),
                    ));
                }
            }
            args.push(tok.text.clone());
            self.i += 1;
        }
        Ok((args, first_tok))
    }

    /// The next token if it is a plain word (for `-I CHAIN [N]` and `-P CHAIN POLICY`).
    fn next_word(&mut self) -> Option<(String, usize)> {
        let tok = self.toks.get(self.i)?;
        if !tok.quoted && (tok.text.starts_with('-') || tok.text == "!") {
            return None;
        }
        self.i += 1;
        Some((tok.text.clone(), self.i - 1))
    }

    /// An optional rule number after the chain (`-I CHAIN 2`, `-D CHAIN 3`): the next
    /// plain word, which must then be a number from 1 up.
    fn rule_number(&mut self) -> PResult<Option<(usize, usize)>> {
        let Some((n, tok)) = self.next_word() else {
            return Ok(None);
        };
        match crate::rules::num::parse_c_uint(&n, i32::MAX as u32) {
            Some(v) if v >= 1 => Ok(Some((v as usize, tok))),
            _ => Err(Problem::at(tok, format!("Invalid rule number `{n}'"))),
        }
    }

    fn apply(
        &mut self,
        at: usize,
        arg_tok: usize,
        opt: Opt,
        invert: bool,
        args: Vec<String>,
    ) -> PResult<()> {
        let proto = self.proto.map(|(p, inv, _)| (p, inv));
        let ext = match opt {
            Opt::Builtin { which, .. } => {
                return self.apply_builtin(at, arg_tok, which, invert, args)
            }
            Opt::Ext { ext, spec } => (ext, spec),
        };
        self.first_rule_opt.get_or_insert(at);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = match &mut self.exts[ext.0] {
            Ext::Match(m, _) => m.apply(ext.1, invert, &refs, proto),
            Ext::Target(t, _) => t.apply(ext.1, refs.first().copied()),
        };
        let tok = if args.is_empty() { at } else { arg_tok };
        result.map_err(|e| Problem::at(tok, e))
    }

    fn set_cmd(&mut self, at: usize, kind: Kind, chain: String, chain_tok: usize) -> PResult<()> {
        if let Some((_, _, _, first)) = &self.cmd {
            let first = &self.toks[*first].text;
            return Err(Problem::at(
                at,
                format!(
                    "only one command per line (`{}' after `{first}')",
                    self.toks[at].text
                ),
            ));
        }
        if chain.is_empty() && chain_tok != at {
            return Err(Problem::at(chain_tok, "empty chain name"));
        }
        self.cmd = Some((kind, chain, chain_tok, at));
        Ok(())
    }

    fn finish(self) -> PResult<Command> {
        let Some((kind, chain, chain_tok, cmd_tok)) = self.cmd else {
            return Err(Problem::at(
                0,
                "no command specified (expected -A, -I, -D, -R, -N, -P, -F, -X, -Z or -E)",
            ));
        };
        let mut cmd = Command {
            kind,
            chain,
            chain_tok,
            cmd_tok,
            arg_tok: self.arg_tok,
            rules: Vec::new(),
            in_tok: self.in_iface.as_ref().map(|x| x.1),
            out_tok: self.out_iface.as_ref().map(|x| x.1),
            target_tok: self.target,
            table: self.table,
            counters: self.counters.map(|(p, b, _)| (p, b)),
            counters_tok: self.counters.map(|c| c.2),
        };
        if !cmd.kind.takes_rule() {
            if let Some(t) = self.first_rule_opt {
                return Err(Problem::at(
                    t,
                    format!("Illegal option `{}' with this command", self.toks[t].text),
                ));
            }
            return Ok(cmd);
        }
        let proto = self.proto.map(|(p, inv, _)| (p, inv));
        let mut matches: Vec<Match> = Vec::new();
        let mut target = Target::None;
        for ext in self.exts {
            match ext {
                Ext::Match(m, tok) => {
                    let m = m.finish(proto).map_err(|e| Problem::at(tok, e))?;
                    // nf_tables installs nothing for a match of only `! 0:65535`.
                    if !m.vanished() {
                        matches.push(m);
                    }
                }
                Ext::Target(t, tok) => target = t.finish(proto).map_err(|e| Problem::at(tok, e))?,
            }
        }
        let ip = IpSpec {
            src: None,
            dst: None,
            in_iface: self.in_iface.map(|x| x.0),
            out_iface: self.out_iface.map(|x| x.0),
            proto: self
                .proto
                .filter(|p| p.0 != 0)
                .map(|(value, invert, _)| Neg { value, invert }),
            fragment: self.fragment.map(|f| f.0),
        };
        let expand = |slot: Option<(Vec<Net>, bool, usize)>| -> Vec<Option<Neg<Net>>> {
            match slot {
                None => vec![None],
                Some((nets, invert, _)) => nets
                    .into_iter()
                    .map(|n| (!n.is_any()).then_some(Neg { value: n, invert }))
                    .collect(),
            }
        };
        let dsts = expand(self.dsts);
        for src in expand(self.srcs) {
            for dst in &dsts {
                let ip = IpSpec {
                    src: src.clone(),
                    dst: dst.clone(),
                    ..ip.clone()
                };
                cmd.rules.push(Rule {
                    ip,
                    matches: matches.clone(),
                    target: target.clone(),
                    packets: 0,
                    bytes: 0,
                    origin: (0, 0),
                });
            }
        }
        Ok(cmd)
    }
}
