//! Every committed kernel-oracle trace, replayed through the engine: verdicts, emitted
//! packets, conntrack entries (state, flags, tuples, timeouts within 2 s) and the final
//! rule counters must agree with what Linux recorded. The comparison
//! (`wasmwall::oracle::compare`) is the one `compare.py --bytes --counters` makes.

use serde_json::Value;
use std::path::PathBuf;
use wasmwall::oracle::compare::agreement;

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kernel");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/kernel exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".trace.json"))
        .collect();
    v.sort();
    v
}

#[test]
fn engine_agrees_with_every_kernel_trace() {
    agrees_with_every_kernel_trace(wasmwall::oracle::replay);
}

/// Tracing off and buffers handed over (as the component and the benchmarks run):
/// the same verdicts, packets, entries and counters.
#[test]
fn lean_engine_agrees_with_every_kernel_trace() {
    agrees_with_every_kernel_trace(wasmwall::oracle::replay_lean);
}

fn agrees_with_every_kernel_trace(
    replay: fn(&Value) -> Result<Value, wasmwall::oracle::ReplayError>,
) {
    let files = fixtures();
    assert!(!files.is_empty(), "no kernel traces found in tests/kernel");
    let (mut passed, mut diffs) = (0, Vec::new());
    for path in &files {
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".trace.json", "");
        let kernel: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        match replay(&kernel) {
            Ok(ours) => {
                let a = agreement(&name, &kernel, &ours);
                passed += a.steps_agree;
                diffs.extend(a.diffs);
            }
            Err(e) => diffs.push(format!("{name}: replay failed: {e}")),
        }
    }
    println!(
        "{} traces: {passed} steps agree, {} differences",
        files.len(),
        diffs.len()
    );
    assert!(
        diffs.is_empty(),
        "engine and kernel disagree:\n{}",
        diffs.join("\n")
    );
}
