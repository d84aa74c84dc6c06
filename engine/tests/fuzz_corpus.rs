//! The fuzz corpus as regression tests: every committed input of every cargo-fuzz target
//! (`engine/fuzz/corpus/TARGET/`) and every crash the fuzzers ever found
//! (`tests/fuzz_crashes/TARGET/`) goes through the same harness the fuzzer runs.
//!
//! `WASMWALL_WRITE_SEEDS=1 cargo test -p wasmwall --test fuzz_corpus` (re)writes the seed
//! inputs made from the kernel fixtures (their packets, rulesets, sequences and the
//! snapshots the engine exports after replaying them) into `engine/fuzz/corpus/`.

#[path = "support/harness.rs"]
mod harness;

use serde_json::Value;
use std::path::{Path, PathBuf};
use wasmwall::wire;
use wasmwall::{Firewall, Iface, Settings};

/// A fuzz target's name and harness.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 4] = [
    ("wire", harness::wire),
    ("rules", harness::rules),
    ("engine", harness::engine),
    ("snapshot", harness::snapshot),
];

fn engine_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn replay(dir: &str) -> usize {
    let mut n = 0;
    for (target, run) in TARGETS {
        for f in files(&engine_dir().join(dir).join(target)) {
            let data = std::fs::read(&f).expect("readable corpus file");
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn committed_corpus_replays_without_a_failure() {
    if std::env::var_os("WASMWALL_WRITE_SEEDS").is_some() {
        write_seeds();
    }
    let n = replay("fuzz/corpus");
    for (target, _) in TARGETS {
        let dir = engine_dir().join("fuzz/corpus").join(target);
        assert!(!files(&dir).is_empty(), "{} has no inputs", dir.display());
    }
    assert!(n > 0);
}

#[test]
fn every_crash_found_by_fuzzing_stays_fixed() {
    replay("tests/fuzz_crashes");
}

// ---------------------------------------------------------------------------------
// seeds from the kernel fixtures

fn fixtures() -> Vec<Value> {
    let mut v = Vec::new();
    for f in files(&engine_dir().join("tests/kernel")) {
        if f.to_string_lossy().ends_with(".trace.json") {
            let text = std::fs::read_to_string(&f).expect("fixture");
            v.push(serde_json::from_str(&text).expect("fixture JSON"));
        }
    }
    v
}

fn rules_text(t: &Value) -> String {
    match &t["rules_restored"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|l| format!("{l}\n"))
            .collect(),
        _ => String::new(),
    }
}

fn settings_of(t: &Value) -> Settings {
    let mut s = Settings::default();
    if let Some(m) = t["sysctl"].as_object() {
        for (k, v) in m {
            if let Some(val) = v["value"].as_str() {
                let _ = s.set(k, val);
            }
        }
    }
    s
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = engine_dir().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), data).expect("write seed");
}

fn write_seeds() {
    let mut packets = std::collections::BTreeSet::new();
    let mut rulesets = std::collections::BTreeSet::new();
    for r in harness::RULESETS {
        rulesets.insert(r.to_string());
    }
    for (i, t) in fixtures().iter().enumerate() {
        let name = t["spec_file"]
            .as_str()
            .or(t["spec"]["name"].as_str())
            .map(|s| {
                Path::new(s)
                    .file_stem()
                    .map_or(format!("fixture{i}"), |x| x.to_string_lossy().into_owned())
            })
            .unwrap_or(format!("fixture{i}"));
        let text = rules_text(t);
        rulesets.insert(text.clone());
        // The engine harness: header, then one raw-packet op per step.
        let mut seq = vec![0u8, 0, 8, 8, 0, 0, 0, 0];
        let mut fw = Firewall::with_rules(settings_of(t), &text).expect("fixture rules");
        let mut last_ms = 0u64;
        let steps = t["steps"].as_array().cloned().unwrap_or_default();
        for s in &steps {
            let ms = (s["t"].as_f64().unwrap_or(0.0) * 1000.0).round() as u64;
            let delta = ms.saturating_sub(last_ms);
            last_ms = last_ms.max(ms);
            match s["action"].as_str() {
                Some("packet") => {
                    let Ok(bytes) = wire::decode_hex(s["packet_hex"].as_str().unwrap_or("")) else {
                        continue;
                    };
                    packets.insert(bytes.clone());
                    seq.push(6 << 5 | 8);
                    seq.extend_from_slice(&((delta / 10) as u32).to_be_bytes());
                    seq.extend_from_slice(&[0, 0]);
                    seq.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                    seq.extend_from_slice(&bytes);
                    let from =
                        Iface::from_name(s["from"].as_str().unwrap_or("lan")).unwrap_or(Iface::Lan);
                    let _ = fw.process(ms, from, &bytes);
                }
                Some("flush") => {
                    seq.push(12);
                    fw.conntrack_mut().flush(ms);
                }
                _ => seq.push(13),
            }
        }
        write("engine", &name, &seq);
        let snap = fw.conntrack().export();
        if !snap.entries.is_empty() {
            let json = serde_json::to_vec_pretty(&snap).expect("snapshot JSON");
            write("snapshot", &name, &json);
        }
    }
    for (i, p) in packets.iter().enumerate() {
        write("wire", &format!("fixture-packet-{i:03}"), p);
    }
    for (i, r) in rulesets.iter().enumerate() {
        write("rules", &format!("ruleset-{i:02}"), r.as_bytes());
    }
}
