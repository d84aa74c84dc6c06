//! Reliability commands: fuzzing, the full SYN flood, the long invariant replay
//! and Miri.
//!
//! - `cargo xtask fuzz [--seconds N] [TARGET...]`: build the cargo-fuzz targets of
//!   `engine/fuzz/` and run each for N seconds (default 60), starting from the committed
//!   corpus; new inputs go to `target/fuzz-corpus/TARGET/`, crashes to
//!   `engine/fuzz/artifacts/TARGET/`. Prints the executions per target. `cargo xtask
//!   test` runs them reproducibly instead: a fixed seed and number of executions.
//! - `cargo xtask flood`: the full `synflood` workload (1 000 000 SYNs, 1000 connections)
//!   through the engine, in release.
//! - `cargo xtask invariants [--packets N]`: the randomised replay with invariants checked
//!   after every packet, 10 000 000 packets by default, in release.
//! - `cargo xtask miri`: the engine's unit tests under Miri (`cargo xtask test` runs
//!   those of `wire` and `conntrack`).
//!
//! cargo-fuzz and Miri need the nightly toolchain; what is missing (the toolchain, the
//! `miri` and `rust-src` components, cargo-fuzz from crates.io) is installed first.

use std::process::Command;
use std::time::Duration;

use crate::run::{probe, run, run_captured};
use crate::{cargo, step, Step};

/// The fuzz targets of `engine/fuzz/`.
pub const FUZZ_TARGETS: [&str; 4] = ["wire", "rules", "engine", "snapshot"];
/// cargo-fuzz, installed with `cargo install --locked`.
pub const CARGO_FUZZ: &str = "0.13.2";
/// Executions per fuzz target inside `cargo xtask test` (about 30 s each here), from a
/// fixed seed and the committed corpus alone.
pub const TEST_FUZZ_RUNS: [(&str, u64); 4] = [
    ("wire", 300_000),
    ("rules", 150_000),
    ("engine", 6_000),
    ("snapshot", 300_000),
];
/// libFuzzer's seed for the runs of `cargo xtask test`.
pub const TEST_FUZZ_SEED: u64 = 20261126;

/// How much each fuzz target runs.
#[derive(Clone, Copy)]
pub enum FuzzBudget {
    /// Explore for this many seconds from the committed corpus and what earlier
    /// explorations kept in `target/fuzz-corpus/` (`cargo xtask fuzz`).
    Seconds(u64),
    /// The reproducible run of `cargo xtask test`: a fixed seed and number of
    /// executions from the committed corpus alone, so every machine tries the same
    /// inputs and the step fails on a regression, not on a lucky find. Finding new
    /// bugs is what `cargo xtask fuzz` is for.
    Reproducible,
}
/// Packets of the invariant replay inside `cargo xtask test`.
pub const TEST_INVARIANT_PACKETS: u64 = 2_000_000;

/// The steps `cargo xtask test` runs (not with `--quick`).
pub fn test_steps() -> Vec<Step> {
    vec![
        step("fuzz (reproducible)", &[], || {
            fuzz(FuzzBudget::Reproducible, &FUZZ_TARGETS)
        }),
        step("SYN flood (release)", &[], flood),
        step("invariants (release)", &[], || {
            invariants(TEST_INVARIANT_PACKETS)
        }),
        step("miri (wire, conntrack)", &[], || miri(MIRI_TEST_FILTERS)),
    ]
}

/// Parses `[--seconds N | --reproducible] [TARGET...]`.
pub fn fuzz_args(args: &[String]) -> Result<(FuzzBudget, Vec<&'static str>), String> {
    let mut seconds = 60;
    let mut reproducible = false;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--reproducible" {
            reproducible = true;
        } else if a == "--seconds" || a.starts_with("--seconds=") {
            let n = match a.strip_prefix("--seconds=") {
                Some(n) => n.to_string(),
                None => it.next().cloned().unwrap_or_default(),
            };
            seconds = n
                .parse()
                .map_err(|_| format!("--seconds needs a number, not `{n}`"))?;
        } else if let Some(t) = FUZZ_TARGETS.iter().find(|t| **t == a) {
            targets.push(*t);
        } else {
            return Err(format!(
                "unknown fuzz target or option `{a}` (targets: {})",
                FUZZ_TARGETS.join(", ")
            ));
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.to_vec();
    }
    let budget = if reproducible {
        FuzzBudget::Reproducible
    } else {
        FuzzBudget::Seconds(seconds)
    };
    Ok((budget, targets))
}

/// Parses `[--packets N]`.
pub fn packets_arg(args: &[String]) -> Result<u64, String> {
    match args {
        [] => Ok(10_000_000),
        [flag, n] if flag == "--packets" => n
            .parse()
            .map_err(|_| format!("--packets needs a number, not `{n}`")),
        other => Err(format!("unknown arguments: {}", other.join(" "))),
    }
}

fn ensure_nightly(components: &[&str]) -> Result<(), String> {
    let have = probe(Command::new("rustup").args(["toolchain", "list"])).unwrap_or_default();
    if !have.lines().any(|l| l.starts_with("nightly")) {
        println!("tools: installing the nightly toolchain");
        run(
            Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
            ]),
            None,
        )?;
    }
    let installed = probe(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))
    .unwrap_or_default();
    let missing: Vec<&str> = components
        .iter()
        .copied()
        .filter(|c| !installed.lines().any(|l| l.starts_with(c)))
        .collect();
    if !missing.is_empty() {
        println!("tools: adding {} to nightly", missing.join(", "));
        let mut cmd = Command::new("rustup");
        cmd.args(["component", "add", "--toolchain", "nightly"])
            .args(&missing);
        run(&mut cmd, None)?;
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    ensure_nightly(&[])?;
    match probe(Command::new("cargo-fuzz").arg("--version")) {
        Some(v) if v.split_whitespace().any(|w| w == CARGO_FUZZ) => {
            println!("tools: cargo-fuzz {CARGO_FUZZ} present");
            Ok(())
        }
        _ => {
            println!("tools: installing cargo-fuzz {CARGO_FUZZ}");
            run(
                Command::new("cargo").args([
                    "install",
                    "--locked",
                    "--force",
                    &format!("cargo-fuzz@{CARGO_FUZZ}"),
                ]),
                None,
            )
        }
    }
}

fn cargo_fuzz(args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .arg("fuzz")
        .args(args)
        .current_dir("engine");
    cmd
}

/// Builds the fuzz targets (debug assertions on) and runs each within `budget`.
pub fn fuzz(budget: FuzzBudget, targets: &[&str]) -> Result<(), String> {
    ensure_cargo_fuzz()?;
    run(&mut cargo_fuzz(&["build", "--debug-assertions"]), None)?;
    let mut lines = Vec::new();
    for t in targets {
        let (scratch, limits) = match budget {
            FuzzBudget::Seconds(s) => (
                format!("fuzz-corpus/{t}"),
                vec![format!("-max_total_time={s}")],
            ),
            FuzzBudget::Reproducible => {
                let runs = TEST_FUZZ_RUNS
                    .iter()
                    .find(|(name, _)| name == t)
                    .map_or(100_000, |(_, n)| *n);
                let dir = format!("fuzz-reproducible/{t}");
                let _ = std::fs::remove_dir_all(format!("target/{dir}"));
                (
                    dir,
                    vec![format!("-runs={runs}"), format!("-seed={TEST_FUZZ_SEED}")],
                )
            }
        };
        std::fs::create_dir_all(format!("target/{scratch}"))
            .map_err(|e| format!("cannot create target/{scratch}: {e}"))?;
        let scratch = format!("../target/{scratch}");
        let seeds = format!("fuzz/corpus/{t}");
        let mut args = vec!["run", "--debug-assertions", t, &scratch, &seeds, "--"];
        args.extend(limits.iter().map(String::as_str));
        args.extend([
            "-rss_limit_mb=2048",
            "-max_len=8192",
            "-print_final_stats=1",
        ]);
        let started = std::time::Instant::now();
        let out =
            run_captured(&mut cargo_fuzz(&args), Some(Duration::from_secs(1800))).map_err(|e| {
                format!(
                    "fuzz target `{t}` failed (see engine/fuzz/artifacts/{t}/ for the input): {e}"
                )
            })?;
        let runs = out
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map(str::trim)
            .unwrap_or("?")
            .to_string();
        let secs = started.elapsed().as_secs();
        println!("fuzz {t}: {runs} executions in {secs} s, no crash");
        lines.push(format!("  {t:<9} {runs:>12} executions {secs:>6} s"));
    }
    println!("fuzzing:\n{}", lines.join("\n"));
    Ok(())
}

/// The full SYN flood in release.
pub fn flood() -> Result<(), String> {
    let mut cmd = cargo(&[
        "test",
        "--release",
        "-p",
        "wasmwall",
        "--test",
        "flood",
        "--",
        "--nocapture",
    ]);
    cmd.env("WASMWALL_FLOOD_SYNS", "1000000")
        .env("WASMWALL_FLOOD_LEGIT", "1000");
    run(&mut cmd, None)
}

/// The invariant replay in release, `packets` packets long.
pub fn invariants(packets: u64) -> Result<(), String> {
    let mut cmd = cargo(&[
        "test",
        "--release",
        "-p",
        "wasmwall",
        "--test",
        "invariants",
        "--",
        "--nocapture",
    ]);
    cmd.env("WASMWALL_INVARIANT_PACKETS", packets.to_string());
    run(&mut cmd, None)
}

/// Unit tests too slow for Miri's interpreter.
pub const MIRI_SKIP: &[&str] = &[
    // 2000 entries in 4 buckets: quadratic chain walks.
    "both_tuples_find_the_entry_until_it_is_removed",
    // Thousands of chained jumps.
    "long_jump_chains_are_refused_without_deep_recursion",
    // Every kernel trace's REJECT answers and rulesets (replayed natively by cargo test).
    "kernel_reject_answers_are_rebuilt",
    "kernel_rules_load_and_save_canonically",
];

/// The unit tests `cargo xtask test` runs under Miri (all of them take most of an hour
/// on a 2-core machine): packet parsing and building, and connection tracking.
pub const MIRI_TEST_FILTERS: &[&str] = &["wire::", "conntrack::"];

/// The engine's unit tests under Miri (the library alone, without the CLI), all of them
/// or those matching `filters`. Isolation is off because proptest reads the working
/// directory; each property runs 4 cases.
pub fn miri(filters: &[&str]) -> Result<(), String> {
    ensure_nightly(&["miri", "rust-src"])?;
    let mut cmd = Command::new("cargo");
    cmd.args([
        "+nightly",
        "miri",
        "test",
        "-p",
        "wasmwall",
        "--lib",
        "--no-default-features",
        "--",
    ]);
    cmd.args(filters);
    for t in MIRI_SKIP {
        cmd.args(["--skip", t]);
    }
    cmd.env("MIRIFLAGS", "-Zmiri-disable-isolation")
        .env("PROPTEST_CASES", "4");
    run(&mut cmd, Some(Duration::from_secs(40 * 60)))
}
