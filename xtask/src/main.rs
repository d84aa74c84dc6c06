//! The project's build and test commands, run as `cargo xtask <command>`.
//!
//! - `cargo xtask demo [--port N]`: build the browser app and serve the repository on
//!   127.0.0.1 (port 8080 by default) until Ctrl-C.
//! - `cargo xtask test [--quick]`: run every check and test, then print `N passed, M failed`
//!   for the steps. `--quick` skips the wasm and browser steps.
//! - `cargo xtask serve [--port N]`: serve the repository without building first.
//! - `cargo xtask bench-web`: build the browser app and measure it in Chromium (see
//!   `bench.rs`).
//! - `cargo xtask bench-captures [--captures DIR] [--max-entries N] [--batch N] [--runs N]`:
//!   the four benchmark captures natively, through the WASI component and in Chromium
//!   (see `captures.rs`).
//! - `cargo xtask fuzz [--seconds N | --reproducible] [TARGET...]`, `cargo xtask flood`,
//!   `cargo xtask invariants [--packets N]`, `cargo xtask miri`: the reliability checks
//!   (see `reliability.rs`); `cargo xtask test` runs a bounded version of each.
//!
//! Each command first installs what it needs, only when missing (see `tools.rs`).

mod bench;
mod captures;
mod component;
mod reliability;
mod run;
mod serve;
mod tools;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use run::{run, run_captured, strip_ansi};
use serve::Server;
use tools::Needs;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo [--port N]   build the browser app and serve it on http://127.0.0.1:N/ (default 8080)
  test [--quick]    run every check and test; --quick skips the wasm and browser steps
  serve [--port N]  serve the repository as it is, without building
  bench-web         build the browser app and measure it in Chromium: replaying 10 000
                    packets, a 4096-entry table, the .wasm size
  bench-captures [--captures DIR] [--max-entries N] [--batch N] [--runs N]
                    the gen_workload.py captures natively, through the WASI component in
                    wasmtime and in Chromium, with the same rules: Mpps and ratios
  fuzz [--seconds N | --reproducible] [TARGET...]
                    run the cargo-fuzz targets (wire, rules, engine, snapshot) N s each (60),
                    or the fixed-seed, fixed-count run of `cargo xtask test`
  flood             the full SYN flood workload through the engine, in release
  invariants [--packets N]
                    the randomised replay with invariant checks (10 000 000 packets), release
  miri              the engine's unit tests under Miri
";

fn main() -> ExitCode {
    let root = repo_root();
    if let Err(e) = env::set_current_dir(&root) {
        eprintln!("xtask: cannot enter {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    tools::setup_path(&root);

    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => port_arg(&args[1..]).and_then(|port| demo(&root, port)),
        Some("serve") => port_arg(&args[1..]).and_then(|port| serve_forever(&root, port)),
        Some("bench-web") if args.len() == 1 => bench::bench_web(&root),
        Some("bench-captures") => {
            captures::parse(&args[1..]).and_then(|o| captures::bench_captures(&root, &o))
        }
        Some("test") => match &args[1..] {
            [] => return test(&root, false),
            [q] if q == "--quick" => return test(&root, true),
            other => Err(format!("unknown arguments to test: {}", other.join(" "))),
        },
        Some("fuzz") => reliability::fuzz_args(&args[1..])
            .and_then(|(budget, targets)| reliability::fuzz(budget, &targets)),
        Some("flood") if args.len() == 1 => reliability::flood(),
        Some("invariants") => {
            reliability::packets_arg(&args[1..]).and_then(reliability::invariants)
        }
        Some("miri") if args.len() == 1 => reliability::miri(&[]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command `{other}`")),
        None => Err("no command given".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            if e.starts_with("unknown") || e.starts_with("no command") {
                eprint!("\n{USAGE}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Parses `[--port N]`, defaulting to 8080.
fn port_arg(args: &[String]) -> Result<u16, String> {
    match args {
        [] => Ok(8080),
        [flag, n] if flag == "--port" => n
            .parse()
            .map_err(|_| format!("--port needs a number from 0 to 65535, not `{n}`")),
        [arg] if arg.starts_with("--port=") => {
            let n = &arg["--port=".len()..];
            n.parse()
                .map_err(|_| format!("--port needs a number from 0 to 65535, not `{n}`"))
        }
        other => Err(format!("unknown arguments: {}", other.join(" "))),
    }
}

const WEB_NEEDS: Needs = Needs {
    web: true,
    wasm_tools: false,
    browser: false,
};

/// `wasm-pack build web-ui --target web --release --out-dir ../pkg`, optimised for size:
/// `opt-level = "z"` for this build only (the workspace's release profile stays at 3 for
/// the native tools), which takes the gzipped `.wasm` from about 360 KB to about 300 KB.
fn build_web() -> Result<(), String> {
    run(
        Command::new("wasm-pack")
            .args([
                "build",
                "web-ui",
                "--target",
                "web",
                "--release",
                "--out-dir",
                "../pkg",
            ])
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z"),
        None,
    )?;
    let wasm = Path::new("pkg/wasmwall_web_bg.wasm");
    let size = fs::metadata(wasm)
        .map_err(|e| format!("wasm-pack finished but {} is missing: {e}", wasm.display()))?
        .len();
    println!(
        "web app built: {} ({} KB)",
        wasm.display(),
        size.div_ceil(1024)
    );
    Ok(())
}

fn demo(root: &Path, port: u16) -> Result<(), String> {
    println!("==> installing what the demo needs (only what is missing)");
    tools::ensure(root, WEB_NEEDS).map_err(|e| format!("installing tools: {e}"))?;
    println!("==> building the browser app");
    build_web().map_err(|e| format!("building the web app: {e}"))?;
    serve_forever(root, port)
}

fn serve_forever(root: &Path, port: u16) -> Result<(), String> {
    let server = Server::bind(root, port, true).map_err(|e| {
        format!("cannot listen on 127.0.0.1:{port}: {e} (choose another port with --port N)")
    })?;
    println!();
    println!("wasmwall demo: {}", server.url());
    println!(
        "serving {} on 127.0.0.1 only; press Ctrl-C to stop",
        root.display()
    );
    server.run();
    Ok(())
}

/// One step of `cargo xtask test`.
struct Step {
    name: &'static str,
    /// Steps that must have passed for this one to run.
    requires: &'static [&'static str],
    action: Box<dyn FnOnce() -> Result<(), String>>,
}

fn step(
    name: &'static str,
    requires: &'static [&'static str],
    action: impl FnOnce() -> Result<(), String> + 'static,
) -> Step {
    Step {
        name,
        requires,
        action: Box::new(action),
    }
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(args);
    cmd
}

fn test(root: &Path, quick: bool) -> ExitCode {
    let root = root.to_path_buf();
    let needs = Needs {
        web: !quick,
        wasm_tools: true,
        browser: !quick,
    };
    let mut steps = vec![
        step("install tools", &[], move || tools::ensure(&root, needs)),
        step("cargo fmt", &[], || {
            run(&mut cargo(&["fmt", "--all", "--", "--check"]), None)
        }),
        step("cargo clippy", &[], || {
            run(
                &mut cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
                None,
            )
        }),
    ];
    if !quick {
        steps.push(step("cargo clippy (wasm32)", &["install tools"], || {
            run(
                &mut cargo(&[
                    "clippy",
                    "-p",
                    "wasmwall-web",
                    "-p",
                    "wasm-tests",
                    "--target",
                    "wasm32-unknown-unknown",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
                None,
            )
        }));
    }
    steps.push(step("WIT package", &["install tools"], check_wit));
    if !quick {
        steps.push(step("cargo clippy (wasip2)", &["install tools"], || {
            run(
                &mut cargo(&[
                    "clippy",
                    "-p",
                    "wasmwall",
                    "--lib",
                    "--target",
                    "wasm32-wasip2",
                    "--",
                    "-D",
                    "warnings",
                ]),
                None,
            )
        }));
        steps.push(step(
            "WASI component",
            &["install tools", "WIT package"],
            component::build_and_check,
        ));
    }
    // The host tests need the component: they run in their own step, after it is built.
    steps.push(step("cargo test", &[], || {
        run(
            &mut cargo(&["test", "--workspace", "--exclude", "wasmwall-host"]),
            None,
        )
    }));
    if !quick {
        steps.push(step(
            "component host tests",
            &["WASI component"],
            component::host_tests,
        ));
        steps.push(step("engine for wasm32", &["install tools"], || {
            run(
                &mut cargo(&[
                    "build",
                    "-p",
                    "wasmwall",
                    "--target",
                    "wasm32-unknown-unknown",
                    "--no-default-features",
                ]),
                None,
            )
        }));
        steps.push(step("web app build", &["install tools"], build_web));
        steps.push(step("wasm tests (node)", &["install tools"], || {
            wasm_pack_test(&["--node"], "node", WASM_TESTS_NODE)
        }));
        steps.push(step("wasm tests (chrome)", &["install tools"], || {
            wasm_pack_test(
                &[
                    "--headless",
                    "--chrome",
                    "--chromedriver",
                    tools::CHROMEDRIVER,
                ],
                "chrome",
                WASM_TESTS_BROWSER,
            )
        }));
        steps.push(step(
            "end-to-end (browser)",
            &["install tools", "web app build"],
            end_to_end,
        ));
    }
    if !quick {
        steps.extend(reliability::test_steps());
    }
    run_steps(steps)
}

fn run_steps(steps: Vec<Step>) -> ExitCode {
    let total = steps.len();
    let mut results: Vec<(&'static str, Outcome, Duration)> = Vec::new();
    for (i, step) in steps.into_iter().enumerate() {
        println!();
        println!("==> [{}/{total}] {}", i + 1, step.name);
        let missing: Vec<&str> = step
            .requires
            .iter()
            .copied()
            .filter(|r| {
                !results
                    .iter()
                    .any(|(name, o, _)| name == r && matches!(o, Outcome::Passed))
            })
            .collect();
        if !missing.is_empty() {
            let why = format!(
                "skipped: needs `{}`, which did not pass",
                missing.join("`, `")
            );
            println!("{why}");
            results.push((step.name, Outcome::Skipped(why), Duration::ZERO));
            continue;
        }
        let start = Instant::now();
        let outcome = match (step.action)() {
            Ok(()) => Outcome::Passed,
            Err(e) => {
                eprintln!("xtask: step `{}` FAILED: {e}", step.name);
                Outcome::Failed(e)
            }
        };
        results.push((step.name, outcome, start.elapsed()));
    }

    println!();
    println!("==> summary");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, outcome, took) in &results {
        let secs = took.as_secs_f64();
        match outcome {
            Outcome::Passed => {
                passed += 1;
                println!("  ok       {name:<24} {secs:>6.1}s");
            }
            Outcome::Failed(e) => {
                failed += 1;
                println!("  FAILED   {name:<24} {secs:>6.1}s  {e}");
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                println!("  skipped  {name:<24}          {why}");
            }
        }
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed == 0 && skipped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `wasm-tools component wit wit/`: the WIT package parses.
fn check_wit() -> Result<(), String> {
    let out = run::probe(Command::new("wasm-tools").args(["component", "wit", "wit/"]));
    match out {
        Some(text) if text.contains("package wasmwall:firewall@") => {
            println!("$ wasm-tools component wit wit/");
            let package = text
                .lines()
                .find(|l| l.starts_with("package "))
                .unwrap_or_default();
            println!("wit/ parses: {package}");
            Ok(())
        }
        Some(_) => {
            Err("`wasm-tools component wit wit/` printed no package wasmwall:firewall".into())
        }
        // Run it again in the open so that its error message is shown.
        None => run(
            Command::new("wasm-tools").args(["component", "wit", "wit/"]),
            None,
        )
        .and(Err("`wasm-tools component wit wit/` failed".into())),
    }
}

/// The `#[wasm_bindgen_test]`s in `wasm-tests/tests/node.rs` and `browser.rs`: each run
/// must pass at least that many.
const WASM_TESTS_NODE: u64 = 5;
const WASM_TESTS_BROWSER: u64 = 8;

/// Runs `wasm-pack test <flags> wasm-tests` and checks that its tests ran and passed: each
/// runner silently skips the other's test files, so exit status 0 alone proves nothing.
fn wasm_pack_test(flags: &[&str], label: &str, expected: u64) -> Result<(), String> {
    let mut cmd = Command::new("wasm-pack");
    cmd.arg("test").args(flags).arg("wasm-tests");
    let output = run_captured(&mut cmd, Some(Duration::from_secs(40 * 60)))?;
    let passed = count_passed(&output)?;
    if passed < expected {
        return Err(format!(
            "`wasm-pack test {}` passed {passed} tests, fewer than the {expected} of its file \
             (a skipped file or a missing runner)",
            flags.join(" ")
        ));
    }
    println!("wasm tests ({label}): {passed} passed");
    Ok(())
}

/// Adds up the `test result: ok. N passed` lines of a test run; fails on a FAILED result.
pub(crate) fn count_passed(output: &str) -> Result<u64, String> {
    let mut passed = 0;
    for line in strip_ansi(output).lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test result: ") {
            if !rest.starts_with("ok.") {
                return Err(format!("tests failed: {line}"));
            }
            let n = rest["ok.".len()..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("cannot read the count in `{line}`"))?;
            passed += n;
        }
    }
    Ok(passed)
}

/// Serves the repository from this process and drives Chromium through `tools/e2e.mjs`.
fn end_to_end() -> Result<(), String> {
    let root = env::current_dir().map_err(|e| e.to_string())?;
    let server = Server::bind(&root, 0, false)
        .map_err(|e| format!("cannot start the static server: {e}"))?;
    let url = server.url();
    server.spawn();
    println!("serving {} at {url}", root.display());
    let shots = root.join("target/screenshots");
    fs::create_dir_all(&shots).map_err(|e| format!("cannot create {}: {e}", shots.display()))?;
    let mut node = Command::new("node");
    node.arg("tools/e2e.mjs")
        .arg(&url)
        .arg("target/screenshots");
    run(&mut node, Some(Duration::from_secs(5 * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_passed_tests_across_result_lines() {
        let out = "running 2 tests\n\
                   test a ... ok\n\
                   \u{1b}[32mtest result: ok.\u{1b}[0m 2 passed; 0 failed; 0 ignored\n\
                   test result: ok. 0 passed; 0 failed\n\
                   test result: ok. 3 passed; 0 failed; finished in 0.1s\n";
        assert_eq!(count_passed(out), Ok(5));
        assert_eq!(count_passed("no tests to run!\n"), Ok(0));
        assert!(count_passed("test result: FAILED. 1 passed; 1 failed\n").is_err());
    }

    #[test]
    fn port_argument() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(port_arg(&s(&[])), Ok(8080));
        assert_eq!(port_arg(&s(&["--port", "9000"])), Ok(9000));
        assert_eq!(port_arg(&s(&["--port=0"])), Ok(0));
        assert!(port_arg(&s(&["--port", "99999"])).is_err());
        assert!(port_arg(&s(&["--bogus"])).is_err());
    }
}
