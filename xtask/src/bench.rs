//! `cargo xtask bench-web`: how the browser app copes with big inputs, measured in
//! headless Chromium by `tools/bench-web.mjs` (a benchmark, not a test: it reports
//! figures and fails only when the page breaks).
//!
//! It builds the app as `demo` does, serves the repository on a free port and runs the
//! script, which imports generated captures through the page's own file input and
//! reports: the release `.wasm` size (raw and gzipped), replaying 10 000 packets at full
//! speed (frame times while it plays), and a 4096-entry conntrack table (the time from
//! a click to the next painted frame for step, back and +10 s).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::run::run;
use crate::serve::Server;
use crate::tools::{self, Needs};

pub fn bench_web(root: &Path) -> Result<(), String> {
    let needs = Needs {
        web: true,
        wasm_tools: false,
        browser: true,
    };
    tools::ensure(root, needs).map_err(|e| format!("installing tools: {e}"))?;
    crate::build_web().map_err(|e| format!("building the web app: {e}"))?;
    let server =
        Server::bind(root, 0, false).map_err(|e| format!("cannot start the static server: {e}"))?;
    let url = server.url();
    server.spawn();
    println!("serving {} at {url}", root.display());
    run(
        Command::new("node").arg("tools/bench-web.mjs").arg(&url),
        Some(Duration::from_secs(15 * 60)),
    )
}
