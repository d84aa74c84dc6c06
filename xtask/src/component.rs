//! The WASI component: build it, check it against `wit/`, and run the wasmtime host tests.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::count_passed;
use crate::run::{probe, run, run_captured};

/// Where `cargo build -p wasmwall --lib --target wasm32-wasip2 --release` puts the
/// component, inside the target directory.
const COMPONENT: &str = "wasm32-wasip2/release/wasmwall.wasm";
/// The WIT package the component must export, as `wasm-tools component wit` names it.
const PACKAGE: &str = "wasmwall:firewall@0.1.0";
/// The interfaces the component's world exports, and nothing else.
const EXPORTS: &[&str] = &[
    "wasmwall:firewall/types@0.1.0",
    "wasmwall:firewall/engine@0.1.0",
];
/// The only packages it may import from: what Rust's standard library links in.
const IMPORT_PACKAGES: &[&str] = &["wasi:io/", "wasi:cli/"];
/// The size goal is 250 KB, which the engine has outgrown (see the step's output); this
/// ceiling catches a component that suddenly grows much larger.
const MAX_BYTES: u64 = 512 * 1024;

/// Builds the component, validates it, compares its WIT with `wit/`, checks its imports
/// and exports, and reports its size.
pub fn build_and_check() -> Result<(), String> {
    let component = component_path()?;
    let component = component.to_string_lossy();
    let component = component.as_ref();
    // `--lib`: the engine's command-line tool is a binary of the same name, which would
    // otherwise overwrite the component's file.
    run(
        Command::new("cargo").args([
            "build",
            "-p",
            "wasmwall",
            "--lib",
            "--target",
            "wasm32-wasip2",
            "--release",
        ]),
        None,
    )?;
    run(
        Command::new("wasm-tools").args(["validate", component]),
        None,
    )?;
    let of_component = probe(Command::new("wasm-tools").args(["component", "wit", component]))
        .ok_or_else(|| format!("`wasm-tools component wit {component}` failed"))?;
    let of_dir = probe(Command::new("wasm-tools").args(["component", "wit", "wit/"]))
        .ok_or("`wasm-tools component wit wit/` failed")?;
    let world = check_world(&of_component)?;
    compare_wit(&of_dir, &of_component)?;
    println!(
        "component exports {} and imports {} interfaces of {}",
        world.exports.join(", "),
        world.imports.len(),
        IMPORT_PACKAGES.join(" and ")
    );
    println!("the component's package {PACKAGE} is exactly the one in wit/");
    let size = fs::metadata(component)
        .map_err(|e| format!("cannot read {component}: {e}"))?
        .len();
    println!(
        "component: {component}, {size} bytes ({} KB; goal 250 KB)",
        size.div_ceil(1024)
    );
    if size > MAX_BYTES {
        return Err(format!(
            "the component is {size} bytes, over the {MAX_BYTES}-byte ceiling"
        ));
    }
    Ok(())
}

/// Runs the wasmtime host tests against the component just built.
pub fn host_tests() -> Result<(), String> {
    let path = component_path()?;
    let mut cmd = Command::new("cargo");
    cmd.args(["test", "-p", "wasmwall-host"])
        .env("WASMWALL_COMPONENT", &path);
    let output = run_captured(&mut cmd, Some(Duration::from_secs(40 * 60)))?;
    let passed = count_passed(&output)?;
    if passed == 0 {
        return Err("`cargo test -p wasmwall-host` ran no test".into());
    }
    println!("component host tests: {passed} passed");
    Ok(())
}

/// The component's absolute path: in `$CARGO_TARGET_DIR` when that is set, else in `target/`.
fn component_path() -> Result<PathBuf, String> {
    let cwd = env::current_dir().map_err(|e| e.to_string())?;
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| cwd.join("target"), PathBuf::from);
    Ok(cwd.join(target).join(COMPONENT))
}

/// The imports and exports of the component's world.
#[derive(Debug, PartialEq)]
struct World {
    imports: Vec<String>,
    exports: Vec<String>,
}

/// Reads the root world that `wasm-tools component wit` prints for a component, and
/// checks that it exports exactly [`EXPORTS`] and imports only from [`IMPORT_PACKAGES`].
fn check_world(text: &str) -> Result<World, String> {
    let body = block(text, "world root {").ok_or("no `world root` in the component's WIT")?;
    let mut world = World {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    for line in body.lines().map(str::trim) {
        let item = |kw: &str| {
            line.strip_prefix(kw)
                .map(|r| r.trim_end_matches(';').trim().to_string())
        };
        if let Some(name) = item("import ") {
            world.imports.push(name);
        } else if let Some(name) = item("export ") {
            world.exports.push(name);
        }
    }
    if world.exports != EXPORTS {
        return Err(format!(
            "the component exports {:?}, not {EXPORTS:?}",
            world.exports
        ));
    }
    if let Some(bad) = world
        .imports
        .iter()
        .find(|i| !IMPORT_PACKAGES.iter().any(|p| i.starts_with(p)))
    {
        return Err(format!(
            "the component imports {bad}, which the engine does not need"
        ));
    }
    Ok(world)
}

/// Compares the package in `wit/` (as `wasm-tools component wit wit/` prints it) with the
/// same package inside the component: the same interfaces, types and functions, in the
/// same order. Doc comments are not embedded in the component and the world is the
/// component's own, so both are left out of the comparison.
fn compare_wit(of_dir: &str, of_component: &str) -> Result<(), String> {
    let header = format!("package {PACKAGE} {{");
    let nested = block(of_component, &header)
        .ok_or_else(|| format!("the component's WIT has no `{header}`"))?;
    let ours = normalize(&dedent(&nested, 2));
    let wanted = normalize(&without_worlds(of_dir));
    if ours == wanted {
        return Ok(());
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (wanted.lines().collect(), ours.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Err(format!(
        "the component's {PACKAGE} differs from wit/ at line {}: wit/ has `{}`, the component `{}`",
        at + 1,
        a.get(at).map_or("(end)", |l| l.trim()),
        b.get(at).map_or("(end)", |l| l.trim())
    ))
}

/// The lines between `header` (a line of its own, trimmed) and its closing brace.
fn block(text: &str, header: &str) -> Option<String> {
    let mut lines = text.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    let mut depth = 1usize;
    let mut out = String::new();
    for line in lines {
        depth += line.matches('{').count();
        depth = depth.checked_sub(line.matches('}').count())?;
        if depth == 0 {
            return Some(out);
        }
        out.push_str(line);
        out.push('\n');
    }
    None
}

fn dedent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| {
            let spaces = l.len() - l.trim_start_matches(' ').len();
            &l[spaces.min(n)..]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A single-package WIT text without its `package` line and its worlds.
fn without_worlds(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_world = false;
    for line in text.lines() {
        let t = line.trim();
        if depth == 0 && t.starts_with("package ") && t.ends_with(';') {
            continue;
        }
        if depth == 0 && t.starts_with("world ") {
            in_world = true;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        if !in_world {
            out.push_str(line);
            out.push('\n');
        }
        depth = (depth + opens).saturating_sub(closes);
        if depth == 0 {
            in_world = false;
        }
    }
    out
}

/// Drops doc comments and blank lines, and trailing spaces.
fn normalize(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("///"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "\
/// Docs.
package wasmwall:firewall@0.1.0;

/// The types.
interface types {
  /// A state.
  enum ct-state {
    new,
  }
}

/// The world.
world firewall {
  export types;
}
";

    const COMPONENT_WIT: &str = "\
package root:component;

world root {
  import wasi:io/error@0.2.6;
  import wasi:cli/stderr@0.2.6;

  export wasmwall:firewall/types@0.1.0;
  export wasmwall:firewall/engine@0.1.0;
}
package wasi:io@0.2.6 {
  interface error {
    resource error;
  }
}
package wasmwall:firewall@0.1.0 {
  interface types {
    enum ct-state {
      new,
    }
  }
}
";

    #[test]
    fn the_same_package_compares_equal_without_docs_and_worlds() {
        assert_eq!(compare_wit(DIR, COMPONENT_WIT), Ok(()));
    }

    #[test]
    fn a_different_case_is_reported_with_its_line() {
        let changed = COMPONENT_WIT.replace("      new,", "      old,");
        let err = compare_wit(DIR, &changed).unwrap_err();
        assert!(err.contains("`new,`") && err.contains("`old,`"), "{err}");
    }

    #[test]
    fn world_exports_and_imports_are_checked() {
        let w = check_world(COMPONENT_WIT).unwrap();
        assert_eq!(w.imports, ["wasi:io/error@0.2.6", "wasi:cli/stderr@0.2.6"]);
        let extra = COMPONENT_WIT.replace(
            "  import wasi:cli/stderr@0.2.6;",
            "  import wasi:sockets/tcp@0.2.6;",
        );
        assert!(check_world(&extra)
            .unwrap_err()
            .contains("wasi:sockets/tcp"));
        let missing = COMPONENT_WIT.replace("  export wasmwall:firewall/engine@0.1.0;\n", "");
        assert!(check_world(&missing).is_err());
    }
}
