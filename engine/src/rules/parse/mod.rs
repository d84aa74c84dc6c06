//! Loading rule text, as `iptables-restore` does.
//!
//! Two formats, told apart the way kernel-oracle's `rules_to_restore` does: if any
//! line starts with `*` it is iptables-save text, otherwise "seed style" lines for
//! the filter table (`-P`/`-N` lines are applied first, then the rest in order).
//!
//! In iptables-save text each `*TABLE` ... `COMMIT` section replaces that table;
//! jumps are resolved at `COMMIT`, so a jump may name a chain declared later.
//! Every command iptables accepts on a line of iptables-restore works here too
//! (`-D`, `-R`, `-F`, `-X`, `-Z`, `-E` besides `-A -I -N -P`).
//!
//! Counters: `[PACKETS:BYTES]` before a rule and on a chain line are restored only
//! when asked (`iptables-restore -c`); a `-c PACKETS BYTES` option in a rule is
//! always honoured, as iptables does.

mod command;
mod options;

use super::error::{Problem, RulesError};
use super::lex::{self, Token};
use super::table::{Policy, Table, TableKind};
use super::target::{is_target_name, Target};
use command::{Command, Kind};

/// Parses rule text into tables; `counters`: restore `[p:b]` counters.
pub(crate) fn parse(text: &str, counters: bool) -> Result<Vec<Table>, RulesError> {
    if text.lines().any(|l| l.trim_start().starts_with('*')) {
        restore(text, counters)
    } else {
        seed(text)
    }
}

/// Runs one `iptables ...` command line (numbered `n` in errors) on copies of
/// `tables` and returns them; the originals are untouched, so a failing command
/// changes nothing. `-t` selects the table (filter by default; the raw table is
/// created when first named, as the kernel creates it on first use).
pub(crate) fn command(tables: &[Table], line: &str, n: usize) -> Result<Vec<Table>, RulesError> {
    let mut toks = tokens(line, n)?;
    if let Some(first) = toks.first().filter(|t| !t.quoted) {
        match first.text.as_str() {
            "iptables" | "iptables-nft" | "iptables-legacy" => {
                toks.remove(0);
            }
            "ip6tables" | "ip6tables-nft" | "ip6tables-legacy" => {
                return Err(RulesError::new(
                    n,
                    first.column,
                    "ip6tables is not supported by wasmwall (IPv4 only)",
                ))
            }
            _ => {}
        }
    }
    if toks.is_empty() {
        return Err(RulesError::new(n, first_column(line), "no command given"));
    }
    let cmd = command::parse(&toks, true).map_err(|p| locate(p, &toks, n, line))?;
    let kind = cmd.table.map_or(TableKind::Filter, |t| t.0);
    let mut out = tables.to_vec();
    if !out.iter().any(|t| t.kind == kind) {
        out.push(Table::new(kind));
        crate::sort::sort_by_key(&mut out, |t| t.kind != TableKind::Raw);
    }
    let table = out
        .iter_mut()
        .find(|t| t.kind == kind)
        .expect("the table was just added");
    command_line(table, cmd, &toks, n, line)?;
    finish(table)?;
    Ok(out)
}

/// Column (1-based, in characters) where the line's content starts.
fn first_column(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count() + 1
}

/// Tokens of a line, with an unterminated quote reported.
fn tokens(line: &str, n: usize) -> Result<Vec<Token>, RulesError> {
    lex::split(line).map_err(|col| RulesError::new(n, col, "unterminated quote"))
}

/// Places a token-indexed problem on the line.
fn locate(p: Problem, toks: &[Token], n: usize, line: &str) -> RulesError {
    let column = toks
        .get(p.token)
        .map_or(line.chars().count() + 1, |t| t.column);
    RulesError::new(n, column, p.message)
}

fn restore(text: &str, counters: bool) -> Result<Vec<Table>, RulesError> {
    let mut done: Vec<Table> = Vec::new();
    let mut open: Option<Table> = None;
    let mut last = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        last = n;
        let body = line.trim();
        let col = first_column(line);
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if let Some(name) = body.strip_prefix('*') {
            if open.is_some() {
                return Err(RulesError::new(
                    n,
                    col,
                    "COMMIT expected before a new table starts",
                ));
            }
            open = Some(Table::new(table_kind(
                name.split_whitespace().next().unwrap_or(""),
                n,
                col,
            )?));
        } else if body == "COMMIT" {
            let mut table = open
                .take()
                .ok_or_else(|| RulesError::new(n, col, "COMMIT without a table (`*filter')"))?;
            finish(&mut table)?;
            done.retain(|t| t.kind != table.kind);
            done.push(table);
        } else {
            let table = open.as_mut().ok_or_else(|| {
                RulesError::new(
                    n,
                    col,
                    "rule outside a table: a `*filter' or `*raw' line must come first",
                )
            })?;
            if body.starts_with(':') {
                let toks = tokens(&line.replacen(':', " ", 1), n)?;
                chain_line(table, &toks, n, counters)?;
            } else {
                let (line, prefix) = take_counters(line, n, col)?;
                let toks = tokens(&line, n)?;
                let mut cmd =
                    command::parse(&toks, false).map_err(|p| locate(p, &toks, n, &line))?;
                if let Some(c) = prefix.filter(|_| counters) {
                    if let Some(t) = cmd.counters_tok {
                        return Err(locate(
                            Problem::at(
                                t,
                                "multiple -c flags not allowed (the line has [packets:bytes] too)",
                            ),
                            &toks,
                            n,
                            &line,
                        ));
                    }
                    cmd.counters = Some(c);
                }
                command_line(table, cmd, &toks, n, &line)?;
            }
        }
    }
    if open.is_some() {
        return Err(RulesError::new(
            last + 1,
            1,
            "COMMIT expected at the end of the input",
        ));
    }
    Ok(done)
}

fn table_kind(name: &str, n: usize, col: usize) -> Result<TableKind, RulesError> {
    TableKind::from_name(name).ok_or_else(|| {
        let msg = match name {
            "nat" | "mangle" | "security" => {
                format!("table `{name}' is not supported by wasmwall (only filter and raw)")
            }
            _ => format!("table name '{name}' invalid"),
        };
        RulesError::new(n, col + 1, msg)
    })
}

/// Takes a leading `[packets:bytes]` off a rule line (replacing it by blanks, so
/// columns stay right) and returns the counters.
fn take_counters(
    line: &str,
    n: usize,
    col: usize,
) -> Result<(String, Option<(u64, u64)>), RulesError> {
    let body = line.trim_start();
    if !body.starts_with('[') {
        return Ok((line.to_string(), None));
    }
    let end = body
        .find(']')
        .ok_or_else(|| RulesError::new(n, col, "counters need a closing `]'"))?;
    let inner = &body[1..end];
    let (p, b) = parse_counters(inner).ok_or_else(|| {
        RulesError::new(
            n,
            col,
            format!("bad counters `[{inner}]' (expected [packets:bytes])"),
        )
    })?;
    let lead = line.len() - body.len();
    let text = format!("{}{}", " ".repeat(lead + end + 1), &body[end + 1..]);
    Ok((text, Some((p, b))))
}

/// `PACKETS:BYTES`.
fn parse_counters(inner: &str) -> Option<(u64, u64)> {
    let (p, b) = inner.split_once(':')?;
    Some((p.parse().ok()?, b.parse().ok()?))
}

/// `:CHAIN POLICY [packets:bytes]`; the counters of a built-in chain's policy are
/// restored when `counters` is set.
fn chain_line(
    table: &mut Table,
    toks: &[Token],
    n: usize,
    counters: bool,
) -> Result<(), RulesError> {
    let Some(name_tok) = toks.first() else {
        return Err(RulesError::new(n, 1, "chain name missing after `:'"));
    };
    let Some(policy_tok) = toks.get(1) else {
        return Err(RulesError::new(
            n,
            name_tok.column,
            "policy missing after the chain name",
        ));
    };
    declare(table, name_tok, policy_tok, n)?;
    match toks.get(2) {
        None => Ok(()),
        Some(t) => {
            let c = t
                .text
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .and_then(parse_counters)
                .ok_or_else(|| {
                    RulesError::new(
                        n,
                        t.column,
                        format!("bad counters `{}' (expected [packets:bytes])", t.text),
                    )
                })?;
            if let Some(extra) = toks.get(3) {
                return Err(RulesError::new(
                    n,
                    extra.column,
                    format!("unexpected `{}' after the counters", extra.text),
                ));
            }
            if counters {
                if let Some(i) = table
                    .index_of(&name_tok.text)
                    .filter(|&i| table.chains[i].policy.is_some())
                {
                    (table.chains[i].packets, table.chains[i].bytes) = c;
                }
            }
            Ok(())
        }
    }
}

/// Declares a chain: sets a built-in chain's policy (`-` keeps it), or creates a
/// user chain if it does not exist (a user chain's policy is ignored).
fn declare(
    table: &mut Table,
    name_tok: &Token,
    policy_tok: &Token,
    n: usize,
) -> Result<(), RulesError> {
    let name = name_tok.text.as_str();
    match table.index_of(name) {
        Some(i) if table.chains[i].policy.is_some() => {
            if policy_tok.text != "-" {
                let p = Policy::from_name(&policy_tok.text).ok_or_else(|| {
                    RulesError::new(
                        n,
                        policy_tok.column,
                        format!("Bad policy name `{}'", policy_tok.text),
                    )
                })?;
                table.chains[i].policy = Some(p);
            }
        }
        Some(_) => {}
        None => {
            check_chain_name(name).map_err(|m| RulesError::new(n, name_tok.column, m))?;
            table.add_user_chain(name);
        }
    }
    Ok(())
}

fn check_chain_name(name: &str) -> Result<(), String> {
    // A quoted token can be empty or hold blanks; iptables-restore splits chain lines
    // on blanks, so such a name could not be saved and read back.
    if name.is_empty() {
        return Err("empty chain name".into());
    }
    if name.contains(char::is_whitespace) {
        return Err(format!("chain name `{name}' contains blanks"));
    }
    if name.len() > 28 {
        return Err(format!(
            "chain name `{name}' too long (must be under 29 chars)"
        ));
    }
    if name.starts_with('-') {
        return Err("chain name not allowed to start with `-'".into());
    }
    if name.starts_with('!') {
        return Err("chain name not allowed to start with `!'".into());
    }
    if is_target_name(name) {
        return Err("chain name may not clash with target name".into());
    }
    Ok(())
}

/// Applies one command to a table. Errors point at the offending token.
fn command_line(
    table: &mut Table,
    mut cmd: Command,
    toks: &[Token],
    n: usize,
    line: &str,
) -> Result<(), RulesError> {
    let at = |tok: usize, msg: String| locate(Problem::at(tok, msg), toks, n, line);
    let origin = (
        n,
        cmd.target_tok
            .and_then(|t| toks.get(t))
            .map_or(first_column(line), |t| t.column),
    );
    for r in &mut cmd.rules {
        r.origin = origin;
        if let Some((p, b)) = cmd.counters {
            (r.packets, r.bytes) = (p, b);
        }
    }
    let user_chain = |table: &Table, cmd: &Command| -> Result<usize, RulesError> {
        let i = existing(table, cmd).map_err(|m| at(cmd.chain_tok, m))?;
        if table.chains[i].policy.is_some() {
            return Err(at(
                cmd.chain_tok,
                format!("`{}' is a built-in chain", cmd.chain),
            ));
        }
        Ok(i)
    };
    match cmd.kind.clone() {
        Kind::NewChain => {
            check_chain_name(&cmd.chain).map_err(|m| at(cmd.chain_tok, m))?;
            if table.index_of(&cmd.chain).is_some() {
                return Err(at(
                    cmd.chain_tok,
                    format!("chain `{}' already exists", cmd.chain),
                ));
            }
            table.add_user_chain(&cmd.chain);
        }
        Kind::Policy(policy) => {
            let i = table
                .index_of(&cmd.chain)
                .filter(|&i| table.chains[i].policy.is_some())
                .ok_or_else(|| {
                    at(
                        cmd.chain_tok,
                        format!("Bad built-in chain name `{}'", cmd.chain),
                    )
                })?;
            let p = Policy::from_name(&policy)
                .ok_or_else(|| at(cmd.chain_tok + 1, format!("Bad policy name `{policy}'")))?;
            table.chains[i].policy = Some(p);
        }
        Kind::Append | Kind::Insert(_) | Kind::Replace(_) => add_rules(table, cmd, toks, n, line)?,
        Kind::Delete(number) => {
            let ci = existing(table, &cmd).map_err(|m| at(cmd.chain_tok, m))?;
            match number {
                Some(k) => {
                    let rules = &mut table.chains[ci].rules;
                    if k > rules.len() {
                        return Err(at(
                            cmd.arg_tok.unwrap_or(cmd.chain_tok),
                            "Index of deletion too big".into(),
                        ));
                    }
                    rules.remove(k - 1);
                }
                None => {
                    let name = table.chains[ci].name.clone();
                    for r in &cmd.rules {
                        let want = r.text(&name);
                        let rules = &mut table.chains[ci].rules;
                        let k = rules
                            .iter()
                            .position(|x| x.text(&name) == want)
                            .ok_or_else(|| {
                                at(
                                    cmd.cmd_tok,
                                    format!("Bad rule (no rule `{want}' in chain {name})"),
                                )
                            })?;
                        rules.remove(k);
                    }
                }
            }
        }
        Kind::Flush => match cmd.chain.is_empty() {
            true => table.chains.iter_mut().for_each(|c| c.rules.clear()),
            false => {
                let ci = existing(table, &cmd).map_err(|m| at(cmd.chain_tok, m))?;
                table.chains[ci].rules.clear();
            }
        },
        Kind::Zero(number) => {
            let zero_chain = |c: &mut super::table::Chain| {
                (c.packets, c.bytes) = (0, 0);
                for r in &mut c.rules {
                    (r.packets, r.bytes) = (0, 0);
                }
            };
            if cmd.chain.is_empty() {
                table.chains.iter_mut().for_each(zero_chain);
            } else {
                let ci = existing(table, &cmd).map_err(|m| at(cmd.chain_tok, m))?;
                match number {
                    None => zero_chain(&mut table.chains[ci]),
                    Some(k) => {
                        let r = table.chains[ci].rules.get_mut(k - 1).ok_or_else(|| {
                            at(
                                cmd.arg_tok.unwrap_or(cmd.chain_tok),
                                "Index of rule too big".into(),
                            )
                        })?;
                        (r.packets, r.bytes) = (0, 0);
                    }
                }
            }
        }
        Kind::DeleteChain => {
            let victims: Vec<usize> = if cmd.chain.is_empty() {
                (0..table.chains.len())
                    .filter(|&i| table.chains[i].policy.is_none())
                    .collect()
            } else {
                vec![user_chain(table, &cmd)?]
            };
            for &i in &victims {
                let c = &table.chains[i];
                if let Some((from, _)) = referrer(table, i) {
                    return Err(at(
                        cmd.chain_tok,
                        format!(
                            "chain `{}' is still jumped to from chain {from}; the kernel refuses to delete it (Device or resource busy)",
                            c.name
                        ),
                    ));
                }
                if !c.rules.is_empty() {
                    return Err(at(
                        cmd.chain_tok,
                        format!(
                            "chain `{}' is not empty: flush it first (-F); the kernel refuses to delete it (Device or resource busy)",
                            c.name
                        ),
                    ));
                }
            }
            let mut k = 0;
            table.chains.retain(|_| {
                k += 1;
                !victims.contains(&(k - 1))
            });
        }
        Kind::Rename(new) => {
            let ci = user_chain(table, &cmd)?;
            let new_tok = cmd.arg_tok.unwrap_or(cmd.chain_tok);
            check_chain_name(&new).map_err(|m| at(new_tok, m))?;
            if table.index_of(&new).is_some() {
                return Err(at(new_tok, format!("chain `{new}' already exists")));
            }
            let old = std::mem::replace(&mut table.chains[ci].name, new.as_str().into());
            for r in table.chains.iter_mut().flat_map(|c| &mut c.rules) {
                if let Target::Jump(t) | Target::Goto(t) = &mut r.target {
                    if *t.name == *old {
                        t.name = new.clone();
                    }
                }
            }
        }
    }
    Ok(())
}

/// The chain a command names, or why it cannot be used.
fn existing(table: &Table, cmd: &Command) -> Result<usize, String> {
    table
        .index_of(&cmd.chain)
        .ok_or_else(|| format!("chain `{}' does not exist", cmd.chain))
}

/// The first chain with a rule that jumps or goes to chain `ci`.
fn referrer(table: &Table, ci: usize) -> Option<(String, usize)> {
    let name = &table.chains[ci].name;
    table.chains.iter().find_map(|c| {
        c.rules
            .iter()
            .position(
                |r| matches!(&r.target, Target::Jump(t) | Target::Goto(t) if *t.name == **name),
            )
            .map(|k| (c.name.to_string(), k + 1))
    })
}

fn add_rules(
    table: &mut Table,
    cmd: Command,
    toks: &[Token],
    n: usize,
    line: &str,
) -> Result<(), RulesError> {
    let at = |tok: usize, msg: String| locate(Problem::at(tok, msg), toks, n, line);
    let ci = table.index_of(&cmd.chain).ok_or_else(|| {
        at(
            cmd.chain_tok,
            format!("chain `{}' does not exist", cmd.chain),
        )
    })?;
    check_hook_and_table(table, ci, &cmd).map_err(|(tok, m)| at(tok, m))?;
    let num_tok = cmd.arg_tok.unwrap_or(cmd.chain_tok);
    let rules = &mut table.chains[ci].rules;
    match cmd.kind {
        Kind::Insert(index) => {
            if index > rules.len() + 1 {
                return Err(at(num_tok, "Index of insertion too big".into()));
            }
            rules.splice(index - 1..index - 1, cmd.rules);
        }
        Kind::Replace(index) => {
            if index > rules.len() {
                return Err(at(num_tok, "Index of replacement too big".into()));
            }
            if cmd.rules.len() != 1 {
                return Err(at(
                    cmd.cmd_tok,
                    "-R needs one source and one destination address (the rule would expand to several)".into(),
                ));
            }
            rules.splice(index - 1..index, cmd.rules);
        }
        _ => rules.extend(cmd.rules),
    }
    Ok(())
}

/// `-i` is meaningless where packets have no input device (OUTPUT, POSTROUTING), `-o`
/// where they have no output device yet (PREROUTING, INPUT); REJECT belongs to the
/// filter table, CT and NOTRACK to the raw table.
fn check_hook_and_table(table: &Table, ci: usize, cmd: &Command) -> Result<(), (usize, String)> {
    let chain = &table.chains[ci];
    if chain.policy.is_some() {
        if let (Some(tok), "OUTPUT" | "POSTROUTING") = (cmd.in_tok, &*chain.name) {
            return Err((tok, format!("Can't use -i with {}", chain.name)));
        }
        if let (Some(tok), "INPUT" | "PREROUTING") = (cmd.out_tok, &*chain.name) {
            return Err((tok, format!("Can't use -o with {}", chain.name)));
        }
    }
    let tok = cmd.target_tok.unwrap_or(0);
    for r in &cmd.rules {
        match (&r.target, table.kind) {
            (Target::Reject(_), TableKind::Raw) => {
                return Err((tok, "REJECT is only valid in the filter table".into()))
            }
            (Target::Ct { .. }, TableKind::Filter) => {
                return Err((tok, "CT is only valid in the raw table".into()))
            }
            (Target::Notrack, TableKind::Filter) => {
                return Err((tok, "NOTRACK is only valid in the raw table".into()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// At COMMIT: resolve jumps, refuse loops and too deep nesting.
fn finish(table: &mut Table) -> Result<(), RulesError> {
    let err = |((line, column), msg): super::table::Located| RulesError::new(line, column, msg);
    table.resolve_jumps().map_err(err)?;
    table.check_depth().map_err(err)?;
    table.check_hooks().map_err(err)
}

/// Seed-style lines: `-P`/`-N` first, then the rest, into the filter table.
fn seed(text: &str) -> Result<Vec<Table>, RulesError> {
    let mut table = Table::new(TableKind::Filter);
    let mut body: Vec<(usize, Vec<Token>, &str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut toks = tokens(line, n)?;
        if toks
            .first()
            .is_some_and(|t| t.text == "iptables" && !t.quoted)
        {
            toks.remove(0);
            if toks.is_empty() {
                return Err(RulesError::new(
                    n,
                    first_column(line),
                    "no command after `iptables'",
                ));
            }
        }
        match toks[0].text.as_str() {
            "-P" if toks.len() == 3 => declare(&mut table, &toks[1], &toks[2], n)?,
            "-N" if toks.len() == 2 => {
                let dash = Token {
                    text: "-".into(),
                    column: toks[1].column,
                    quoted: false,
                };
                declare(&mut table, &toks[1], &dash, n)?;
            }
            "-P" | "-N" => {
                return Err(RulesError::new(
                    n,
                    toks[0].column,
                    format!(
                        "expected `{} CHAIN{}'",
                        toks[0].text,
                        if toks[0].text == "-P" { " POLICY" } else { "" }
                    ),
                ));
            }
            _ => body.push((n, toks, line)),
        }
    }
    for (n, toks, line) in body {
        let cmd = command::parse(&toks, false).map_err(|p| locate(p, &toks, n, line))?;
        command_line(&mut table, cmd, &toks, n, line)?;
    }
    finish(&mut table)?;
    Ok(vec![table])
}
