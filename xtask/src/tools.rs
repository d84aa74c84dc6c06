//! Installing what the builds and tests need, once: each tool is checked first (its
//! `--version`, or the file it provides) and installed only when missing or at another version.
//!
//! Nothing here downloads a prebuilt binary: Rust tools come from crates.io through
//! `cargo install`, Chromium from Debian through `apt-get`, binaryen and playwright-core from
//! npm into `tools/`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::{probe, run};

/// The wasm targets of the workspace.
pub const TARGETS: &[&str] = &["wasm32-unknown-unknown", "wasm32-wasip2"];
/// wasm-pack, installed with `cargo install --locked`.
pub const WASM_PACK: &str = "0.15.1";
/// wasm-bindgen-cli; web-ui and wasm-tests pin the `wasm-bindgen` crate to exactly this.
pub const WASM_BINDGEN: &str = "0.2.130";
/// wasm-tools, installed with `cargo install --locked`.
pub const WASM_TOOLS: &str = "1.263.0";
/// binaryen's major version, from `tools/package.json`.
pub const BINARYEN: &str = "132";
/// playwright-core's version prefix, from `tools/package.json`.
pub const PLAYWRIGHT: &str = "1.65.";
/// Debian's Chromium and its WebDriver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Which groups of tools a command needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// Building the web app: wasm targets, wasm-pack, wasm-bindgen-cli, binaryen.
    pub web: bool,
    /// wasm-tools and the wasm targets, for the WIT check and the WASI component.
    pub wasm_tools: bool,
    /// Chromium, chromedriver and playwright-core, for the browser tests.
    pub browser: bool,
}

/// Puts the project's npm tools and cargo's install directory first on PATH, for this process
/// and every command it runs: wasm-pack then finds binaryen 132's `wasm-opt` and the
/// `wasm-bindgen` that `cargo install` put there.
pub fn setup_path(root: &Path) {
    let mut dirs = vec![root.join("tools/node_modules/.bin"), cargo_bin_dir()];
    if let Some(path) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&path));
    }
    let mut seen = Vec::new();
    dirs.retain(|d| {
        let new = !seen.contains(d);
        seen.push(d.clone());
        new
    });
    let joined = env::join_paths(dirs).expect("PATH entries contain no separator");
    // Called once at start-up, before any thread is spawned.
    env::set_var("PATH", joined);
}

fn cargo_bin_dir() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// Makes sure every tool in `needs` is installed, installing what is missing.
pub fn ensure(root: &Path, needs: Needs) -> Result<(), String> {
    if needs.web || needs.wasm_tools {
        ensure_targets()?;
    }
    if needs.web {
        check_wasm_bindgen_pins(root)?;
        ensure_cargo_tool("wasm-pack", WASM_PACK, &["wasm-pack"], true)?;
        ensure_cargo_tool(
            "wasm-bindgen-cli",
            WASM_BINDGEN,
            &["wasm-bindgen", "wasm-bindgen-test-runner"],
            // Not --locked: its lockfile pins a crate version that crates.io no longer has.
            false,
        )?;
    }
    if needs.wasm_tools {
        ensure_cargo_tool("wasm-tools", WASM_TOOLS, &["wasm-tools"], true)?;
    }
    if needs.browser {
        ensure_chromium()?;
    }
    if needs.web || needs.browser {
        ensure_npm_tools(root)?;
    }
    Ok(())
}

/// web-ui, wasm-tests and wasm-tests/bench must pin `wasm-bindgen = "=WASM_BINDGEN"`: wasm-pack
/// only uses the installed wasm-bindgen-cli when the versions are equal, and would otherwise
/// download one.
fn check_wasm_bindgen_pins(root: &Path) -> Result<(), String> {
    for manifest in [
        "web-ui/Cargo.toml",
        "wasm-tests/Cargo.toml",
        "wasm-tests/bench/Cargo.toml",
    ] {
        let text = fs::read_to_string(root.join(manifest))
            .map_err(|e| format!("cannot read {manifest}: {e}"))?;
        let pin = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("wasm-bindgen ") || l.starts_with("wasm-bindgen="))
            .ok_or_else(|| format!("{manifest} does not depend on wasm-bindgen"))?;
        if !pin.contains(&format!("\"={WASM_BINDGEN}\"")) {
            return Err(format!(
                "{manifest} has `{pin}`, but the xtask installs wasm-bindgen-cli {WASM_BINDGEN}: \
                 pin `wasm-bindgen = \"={WASM_BINDGEN}\"` (or change WASM_BINDGEN in \
                 xtask/src/tools.rs too)"
            ));
        }
    }
    Ok(())
}

fn ensure_targets() -> Result<(), String> {
    let installed = probe(Command::new("rustup").args(["target", "list", "--installed"]))
        .ok_or("`rustup target list --installed` failed: is rustup installed and on PATH?")?;
    let missing: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        println!("tools: rust targets {} present", TARGETS.join(", "));
        return Ok(());
    }
    println!("tools: adding rust targets {}", missing.join(", "));
    run(
        Command::new("rustup").args(["target", "add"]).args(TARGETS),
        None,
    )
}

/// Installs crate `krate` at `version` unless every binary in `bins` reports that version.
fn ensure_cargo_tool(
    krate: &str,
    version: &str,
    bins: &[&str],
    locked: bool,
) -> Result<(), String> {
    let wrong: Vec<String> = bins
        .iter()
        .filter_map(|bin| match probe(Command::new(bin).arg("--version")) {
            Some(v) if reports_version(&v, version) => None,
            Some(v) => Some(format!("{bin} is {}", v.trim())),
            None => Some(format!("{bin} not found")),
        })
        .collect();
    if wrong.is_empty() {
        println!("tools: {krate} {version} present");
        return Ok(());
    }
    println!(
        "tools: installing {krate} {version} ({}); this takes a few minutes",
        wrong.join(", ")
    );
    let mut cmd = Command::new("cargo");
    cmd.arg("install");
    if locked {
        cmd.arg("--locked");
    }
    // --force: replace a different version of the same tool.
    cmd.arg("--force").arg(format!("{krate}@{version}"));
    run(&mut cmd, None)?;
    for bin in bins {
        match probe(Command::new(bin).arg("--version")) {
            Some(v) if reports_version(&v, version) => {}
            other => {
                return Err(format!(
                    "installed {krate} {version}, but `{bin} --version` says {:?}: is {} first on PATH?",
                    other.unwrap_or_default().trim(),
                    cargo_bin_dir().display()
                ))
            }
        }
    }
    Ok(())
}

/// True if a `--version` output names exactly `version` (not 1.2.30 for 1.2.3).
fn reports_version(output: &str, version: &str) -> bool {
    output
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .any(|word| word.strip_prefix('v').unwrap_or(word) == version)
}

fn ensure_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        println!("tools: {CHROMIUM} and {CHROMEDRIVER} present");
        return Ok(());
    }
    println!("tools: installing Debian's chromium and chromium-driver");
    apt_install(&["chromium", "chromium-driver"])?;
    for bin in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(bin).exists() {
            return Err(format!(
                "apt-get installed chromium and chromium-driver, but {bin} is missing"
            ));
        }
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    let hint = "(installing Debian packages needs root; install them by hand otherwise)";
    run(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
        None,
    )
    .map_err(|e| format!("{e} {hint}"))?;
    run(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        None,
    )
    .map_err(|e| format!("{e} {hint}"))
}

/// binaryen (wasm-opt) and playwright-core, from npm into `tools/node_modules`.
fn ensure_npm_tools(root: &Path) -> Result<(), String> {
    let tools = root.join("tools");
    let wasm_opt = tools.join("node_modules/.bin/wasm-opt");
    let binaryen_ok = probe(Command::new(&wasm_opt).arg("--version")).is_some_and(|v| {
        v.contains(&format!("version {BINARYEN} ")) || v.contains(&format!("version_{BINARYEN}"))
    });
    let playwright_ok = fs::read_to_string(tools.join("node_modules/playwright-core/package.json"))
        .is_ok_and(|p| p.contains(&format!("\"version\": \"{PLAYWRIGHT}")));
    if binaryen_ok && playwright_ok {
        println!("tools: binaryen {BINARYEN} (wasm-opt) and playwright-core {PLAYWRIGHT}x present in tools/");
        return Ok(());
    }
    if probe(Command::new("npm").arg("--version")).is_none() {
        println!("tools: npm not found; installing Debian's nodejs and npm");
        apt_install(&["nodejs", "npm"])?;
    }
    println!("tools: installing binaryen {BINARYEN} and playwright-core {PLAYWRIGHT}x into tools/");
    let mut npm = Command::new("npm");
    if tools.join("package-lock.json").exists() {
        npm.arg("ci");
    } else {
        npm.arg("install");
    }
    npm.args(["--no-audit", "--no-fund"]).current_dir(&tools);
    run(&mut npm, None)?;
    if probe(Command::new(&wasm_opt).arg("--version")).is_none() {
        return Err(format!(
            "npm installed tools/, but `{} --version` fails",
            wasm_opt.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_words_match_exactly() {
        assert!(reports_version("wasm-pack 0.15.1\n", "0.15.1"));
        assert!(reports_version("wasm-bindgen 0.2.130\n", "0.2.130"));
        assert!(reports_version(
            "wasm-tools 1.263.0 (abc 2025-01-01)\n",
            "1.263.0"
        ));
        assert!(!reports_version("wasm-bindgen 0.2.1300\n", "0.2.130"));
        assert!(!reports_version("wasm-pack 0.13.1\n", "0.15.1"));
    }

    #[test]
    fn the_manifests_pin_the_installed_wasm_bindgen() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check_wasm_bindgen_pins(root).unwrap();
    }
}
