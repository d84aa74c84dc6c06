//! `cargo xtask bench-captures`: the four captures of `gen_workload.py` through the
//! native engine, the WASI component in wasmtime and the engine in headless Chromium,
//! with the same rules (`engine/benches/stateful.rules`), table maximum and batches.
//!
//! - native and component: `wasmwall-bench --pcap` (`wasm-tests/host`), which times
//!   `Firewall::process_batch` and the component's `process-batch` on the same packets;
//! - browser: `wasm-tests/bench` built for wasm32-unknown-unknown, driven by
//!   `tools/bench-captures.mjs`, which times the same `process_batch` loop in the page.
//!
//! The captures are taken from `--captures DIR` (linked into `target/bench-captures/`,
//! which is what the page is served from), or generated there by
//! `../shared/workloads/gen_workload.py all` when that exists. A benchmark, not a test:
//! it fails only when something breaks. It ends with a table of Mpps and ratios.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::run::{run, run_captured};
use crate::serve::Server;
use crate::tools::{self, Needs};

/// The captures, as `gen_workload.py all` names them.
const WORKLOADS: [&str; 4] = ["established", "churn", "synflood", "udp"];
/// The rules both sides run.
const RULES: &str = "engine/benches/stateful.rules";
/// Where the page, its wasm and the captures are served from.
const SITE: &str = "target/bench-captures";
const GENERATOR: &str = "../shared/workloads/gen_workload.py";

/// What to run.
pub struct Options {
    captures: Option<PathBuf>,
    max_entries: u32,
    batch: u32,
    runs: u32,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        captures: None,
        max_entries: 2_000_000,
        batch: 32,
        runs: 3,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--captures" => o.captures = Some(PathBuf::from(v)),
            "--max-entries" => o.max_entries = num(v)?,
            "--batch" => o.batch = num(v)?.max(1),
            "--runs" => o.runs = num(v)?.max(1),
            other => return Err(format!("unknown argument to bench-captures: {other}")),
        }
    }
    Ok(o)
}

/// One workload's figures, in Mpps.
#[derive(Default)]
struct Row {
    packets: u64,
    native: f64,
    component: f64,
    browser: f64,
}

pub fn bench_captures(root: &Path, o: &Options) -> Result<(), String> {
    let needs = Needs {
        web: true,
        wasm_tools: true,
        browser: true,
    };
    tools::ensure(root, needs).map_err(|e| format!("installing tools: {e}"))?;
    let site = root.join(SITE);
    let captures = site.join("captures");
    gather_captures(o.captures.as_deref(), &captures)?;

    println!("==> native engine and component (wasmtime)");
    crate::component::build_and_check()?;
    run(
        Command::new("cargo").args([
            "build",
            "--release",
            "-p",
            "wasmwall-host",
            "--bin",
            "wasmwall-bench",
        ]),
        None,
    )?;
    let mut rows: Vec<Row> = Vec::new();
    for name in WORKLOADS {
        let pcap = captures.join(format!("{name}.pcap"));
        let out = run_captured(
            Command::new("target/release/wasmwall-bench")
                .arg("--pcap")
                .arg(&pcap)
                .args(["--rules", RULES])
                .args(["--max-entries", &o.max_entries.to_string()])
                .args(["--batch", &o.batch.to_string()])
                .args(["--runs", &o.runs.to_string()]),
            Some(Duration::from_secs(30 * 60)),
        )?;
        let json = last_json(&out)?;
        rows.push(Row {
            packets: field(json, "packets")? as u64,
            native: field(json, "native_mpps")?,
            component: field(json, "component_mpps")?,
            browser: 0.0,
        });
    }

    println!("==> browser (wasm32-unknown-unknown in headless Chromium)");
    build_page(&site)?;
    let server = Server::bind(&site, 0, false)
        .map_err(|e| format!("cannot start the static server: {e}"))?;
    let url = server.url();
    server.spawn();
    let mut node = Command::new("node");
    node.arg("tools/bench-captures.mjs")
        .arg(&url)
        .arg(RULES)
        .args([o.max_entries, o.batch, o.runs].map(|n| n.to_string()))
        .args(WORKLOADS.map(|w| format!("{w}.pcap")));
    let out = run_captured(&mut node, Some(Duration::from_secs(30 * 60)))?;
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('{')).collect();
    for (row, line) in rows.iter_mut().zip(&lines) {
        row.browser = field(line, "mpps")?;
    }
    if lines.len() != WORKLOADS.len() {
        return Err(format!(
            "the browser reported {} of {} captures",
            lines.len(),
            WORKLOADS.len()
        ));
    }
    print_table(&rows, o);
    Ok(())
}

/// Puts the four captures in `dest`: hard links (or copies) from `from`, or generated.
fn gather_captures(from: Option<&Path>, dest: &Path) -> Result<(), String> {
    fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let missing = |dir: &Path| {
        WORKLOADS
            .iter()
            .any(|w| !dir.join(format!("{w}.pcap")).is_file())
    };
    if let Some(from) = from {
        for w in WORKLOADS {
            let (src, dst) = (
                from.join(format!("{w}.pcap")),
                dest.join(format!("{w}.pcap")),
            );
            let _ = fs::remove_file(&dst);
            if fs::hard_link(&src, &dst).is_err() {
                fs::copy(&src, &dst).map_err(|e| format!("cannot copy {}: {e}", src.display()))?;
            }
        }
    } else if missing(dest) {
        if !Path::new(GENERATOR).is_file() {
            return Err(format!(
                "no captures in {} and no {GENERATOR}: pass --captures DIR",
                dest.display()
            ));
        }
        run(
            Command::new("python3")
                .arg(GENERATOR)
                .args(["all", "--outdir"])
                .arg(dest),
            Some(Duration::from_secs(10 * 60)),
        )?;
    }
    if missing(dest) {
        return Err(format!("{} lacks some of the captures", dest.display()));
    }
    Ok(())
}

/// Builds the browser benchmark into `site/pkg` and writes the page that loads it.
fn build_page(site: &Path) -> Result<(), String> {
    run(
        Command::new("cargo").args([
            "build",
            "-p",
            "wasmwall-bench-web",
            "--target",
            "wasm32-unknown-unknown",
            "--release",
        ]),
        None,
    )?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    run(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--out-dir"])
            .arg(site.join("pkg"))
            .arg(target.join("wasm32-unknown-unknown/release/wasmwall_bench_web.wasm")),
        None,
    )?;
    fs::write(
        site.join("index.html"),
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>wasmwall capture benchmark</title>\n\
         <p>Driven by tools/bench-captures.mjs.</p>\n",
    )
    .map_err(|e| format!("cannot write the page: {e}"))
}

/// The last line of `out` that is a JSON object.
fn last_json(out: &str) -> Result<&str, String> {
    out.lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| "no JSON line in the output".into())
}

/// A number field of a flat JSON object.
fn field(json: &str, name: &str) -> Result<f64, String> {
    let key = format!("\"{name}\":");
    let at = json
        .find(&key)
        .ok_or_else(|| format!("no {name} in {json}"))?;
    let rest = &json[at + key.len()..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end]
        .trim()
        .parse()
        .map_err(|_| format!("{name} is not a number in {json}"))
}

fn print_table(rows: &[Row], o: &Options) {
    println!();
    println!(
        "best of {} runs, batches of {}, max entries {}, rules {RULES}",
        o.runs, o.batch, o.max_entries
    );
    println!("| workload | packets | native (Mpps) | component (Mpps) | component / native | browser (Mpps) | browser / native |");
    println!("|---|---|---|---|---|---|---|");
    for (name, r) in WORKLOADS.iter().zip(rows) {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.0} % | {:.2} | {:.0} % |",
            r.packets,
            r.native,
            r.component,
            100.0 * r.component / r.native,
            r.browser,
            100.0 * r.browser / r.native
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_of_the_json_lines() {
        let out = "run 1\n{\"packets\":10,\"native_mpps\":2.5,\"ratio\":0.4}\nend\n";
        let json = last_json(out).unwrap();
        assert_eq!(field(json, "packets").unwrap(), 10.0);
        assert_eq!(field(json, "ratio").unwrap(), 0.4);
        assert!(field(json, "mpps").is_err());
    }
}
