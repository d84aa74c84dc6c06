//! `wasmwall rules check|list FILE`: validate a ruleset the way `iptables-restore`
//! would load it, and print it the way `iptables -L` would.
//!
//! Files are iptables-save text (`*filter` ... `COMMIT`, with or without
//! `[packets:bytes]` counters, which are restored) or guide-style command lines
//! (`iptables -A FORWARD ...`).

use crate::read;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use wasmwall::rules::{ListFormat, RulesError, Ruleset, TableKind};

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Validate a ruleset file: print a summary, or the first error with its line
    /// and column (and exit non-zero).
    Check {
        /// The ruleset file.
        file: PathBuf,
    },
    /// Print a ruleset as `iptables -L` does (counters from the file's
    /// `[packets:bytes]`).
    List {
        /// The ruleset file.
        file: PathBuf,
        /// The table: filter or raw.
        #[arg(short, long, default_value = "filter")]
        table: String,
        /// Only this chain.
        #[arg(long)]
        chain: Option<String>,
        /// Counters and interfaces (`iptables -L -v`).
        #[arg(short, long)]
        verbose: bool,
        /// Numeric addresses, ports and protocols (`-n`).
        #[arg(short, long)]
        numeric: bool,
        /// Exact counters instead of K/M/G (`-x`).
        #[arg(short = 'x', long)]
        exact: bool,
        /// Rule numbers (`--line-numbers`).
        #[arg(long)]
        line_numbers: bool,
    },
}

pub fn run(cmd: RulesCommand) -> Result<String, String> {
    match cmd {
        RulesCommand::Check { file } => check(&file),
        RulesCommand::List {
            file,
            table,
            chain,
            verbose,
            numeric,
            exact,
            line_numbers,
        } => {
            let kind = TableKind::from_name(&table)
                .ok_or_else(|| format!("unknown table `{table}' (filter or raw)"))?;
            let f = ListFormat {
                verbose,
                numeric,
                exact,
                line_numbers,
            };
            let rules = load(&file)?;
            let missing = || format!("{}: no {table} table in the file", file.display());
            match chain {
                None => rules.list_table(kind, &f).ok_or_else(missing),
                Some(c) => rules
                    .list_chain(kind, &c, &f)
                    .ok_or_else(|| format!("{}: no chain `{c}' in table {table}", file.display())),
            }
        }
    }
}

/// Loads a file, with counters; an error names `FILE:LINE:COLUMN` and shows the line.
fn load(path: &Path) -> Result<Ruleset, String> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{}: not UTF-8 text (byte {} is not valid)",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ruleset::parse_with_counters(&text).map_err(|e| describe(path, &text, &e))
}

/// `FILE:LINE:COLUMN: error: MESSAGE`, then the line and a caret under the column.
fn describe(path: &Path, text: &str, e: &RulesError) -> String {
    let mut out = format!(
        "{}:{}:{}: error: {}",
        path.display(),
        e.line,
        e.column,
        e.message
    );
    if let Some(line) = text.lines().nth(e.line.saturating_sub(1)) {
        let pad: String = line
            .chars()
            .take(e.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("\n    {line}\n    {pad}^"));
    }
    out
}

fn check(path: &Path) -> Result<String, String> {
    let rules = load(path)?;
    let mut out = format!("{}: OK\n", path.display());
    for kind in [TableKind::Raw, TableKind::Filter] {
        let Some(t) = rules.table(kind) else { continue };
        let n: usize = t.chains.iter().map(|c| c.rules.len()).sum();
        let policies: Vec<String> = t
            .chains
            .iter()
            .filter_map(|c| c.policy.map(|p| format!("{} {}", c.name, p.name())))
            .collect();
        let user = t.chains.iter().filter(|c| c.policy.is_none()).count();
        out.push_str(&format!(
            "  {}: {n} rule{}, {user} user chain{}; policies {}\n",
            kind.name(),
            if n == 1 { "" } else { "s" },
            if user == 1 { "" } else { "s" },
            policies.join(", ")
        ));
    }
    if rules.uses_conntrack() {
        out.push_str("  connection tracking: on (a rule uses it)\n");
    } else {
        out.push_str("  connection tracking: off (no rule uses it)\n");
    }
    Ok(out)
}
