//! `wasmwall`: replay kernel-oracle traces and packet captures through the engine,
//! and check or list rulesets.

mod bench;
mod replay;
mod rules;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "wasmwall",
    version,
    about = "A stateful firewall with Linux netfilter semantics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a kernel-oracle trace (JSON in, the same trace shape out), or a pcap
    /// capture through a ruleset (`--rules FILE --pcap FILE`).
    Replay {
        /// A kernel-oracle trace (`*.trace.json`).
        trace: Option<PathBuf>,
        /// Ruleset file (iptables-save or `-A ...` lines), for --pcap.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// A pcap capture of IPv4 packets (raw IP, Ethernet or Linux cooked).
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// Conntrack setting, e.g. `--set tcp_loose=0` (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Write the output here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Also print each packet's path through the rules and conntrack: on
        /// stderr for a trace (stdout stays the trace JSON), under each packet's
        /// line for --pcap.
        #[arg(long = "trace")]
        explain: bool,
    },
    /// Check or list a ruleset file (iptables-save text or `-A ...` lines).
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Measure packets per second of parse + conntrack (+ the filter with --rules)
    /// over a capture in memory, and bytes per tracked connection; prints JSON last.
    Bench {
        /// A pcap capture of IPv4 packets (raw IP, Ethernet or Linux cooked).
        #[arg(long)]
        pcap: PathBuf,
        /// Ruleset file: send packets through the whole firewall pipeline.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// The conntrack table maximum (`nf_conntrack_max`).
        #[arg(long, default_value_t = 4096)]
        max_entries: u32,
        /// Packets per call.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Timed runs, each from an empty table; the fastest is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay {
            trace,
            rules,
            pcap,
            set,
            output,
            explain,
        } => match (trace, pcap) {
            (Some(t), None) => replay::trace(&t).map(|(json, lines)| {
                if explain {
                    eprint!("{lines}");
                }
                json
            }),
            (None, Some(p)) => replay::pcap(rules.as_deref(), &p, &set, explain),
            (Some(_), Some(_)) => Err("give either a trace or --pcap, not both".into()),
            (None, None) => {
                Err("nothing to replay: give a trace file, or --rules FILE --pcap FILE".into())
            }
        }
        .and_then(|text| match output {
            Some(path) => std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
            None => {
                print!("{text}");
                Ok(())
            }
        }),
        Command::Rules { command } => rules::run(command).map(|text| print!("{text}")),
        Command::Bench {
            pcap,
            rules,
            max_entries,
            batch,
            runs,
        } => bench::bench(&bench::Options {
            pcap: &pcap,
            rules: rules.as_deref(),
            max_entries,
            batch,
            runs,
        })
        .map(|text| print!("{text}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("wasmwall: {msg}");
            ExitCode::FAILURE
        }
    }
}
