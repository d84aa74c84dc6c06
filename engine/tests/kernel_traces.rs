//! Every committed kernel-oracle trace, replayed through the engine: verdicts, emitted
//! packets, conntrack entries (state, flags, tuples, timeouts within 2 s) and the final
//! rule counters must agree with what Linux recorded. The comparison is the one
//! `compare.py --bytes --counters` makes.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

const TUPLE_KEYS: [&str; 7] = ["src", "dst", "sport", "dport", "type", "code", "id"];
const TOLERANCE_SECS: i64 = 2;

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

fn tuple(v: &Value) -> Vec<(String, String)> {
    TUPLE_KEYS
        .iter()
        .filter_map(|k| {
            v.get(*k)
                .filter(|x| !x.is_null())
                .map(|x| (k.to_string(), x.to_string()))
        })
        .collect()
}

fn key(e: &Value) -> String {
    format!("{} {:?}", e["protonum"], tuple(&e["orig"]))
}

fn compare_entries(kernel: &[Value], ours: &[Value]) -> Vec<String> {
    let ka: BTreeMap<String, &Value> = kernel.iter().map(|e| (key(e), e)).collect();
    let kb: BTreeMap<String, &Value> = ours.iter().map(|e| (key(e), e)).collect();
    let mut diffs = Vec::new();
    for (k, x) in &ka {
        let Some(y) = kb.get(k) else {
            diffs.push(format!("entry missing in engine: {k} ({})", x["state"]));
            continue;
        };
        if x["state"] != y["state"] {
            diffs.push(format!(
                "{k}: state kernel={} engine={}",
                x["state"], y["state"]
            ));
        }
        let flags = |v: &Value| {
            let mut f: Vec<String> = v["flags"]
                .as_array()
                .map(|a| a.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            f.sort();
            f
        };
        if flags(x) != flags(y) {
            diffs.push(format!(
                "{k}: flags kernel={:?} engine={:?}",
                flags(x),
                flags(y)
            ));
        }
        if tuple(&x["reply"]) != tuple(&y["reply"]) {
            diffs.push(format!(
                "{k}: reply kernel={} engine={}",
                x["reply"], y["reply"]
            ));
        }
        let (tx, ty) = (x["timeout"].as_i64(), y["timeout"].as_i64());
        if let (Some(a), Some(b)) = (tx, ty) {
            if (a - b).abs() > TOLERANCE_SECS {
                diffs.push(format!("{k}: timeout kernel={a} engine={b}"));
            }
        }
        for f in ["mark", "zone"] {
            if y.get(f).is_some() && x.get(f) != y.get(f) {
                diffs.push(format!("{k}: {f} kernel={} engine={}", x[f], y[f]));
            }
        }
    }
    for (k, y) in &kb {
        if !ka.contains_key(k) {
            diffs.push(format!("extra entry in engine: {k} ({})", y["state"]));
        }
    }
    diffs
}

/// Kernel-generated packets carry a random IP id: mask it and the header checksum.
fn masked(e: &Value) -> (String, String) {
    let h = e["hex"].as_str().unwrap_or_default().to_string();
    let h = if e["kind"] == "forwarded" || h.len() < 40 {
        h
    } else {
        format!("{}xxxx{}xxxx{}", &h[..8], &h[12..20], &h[24..])
    };
    (e["iface"].as_str().unwrap_or_default().to_string(), h)
}

fn emitted(r: &Value) -> Vec<(String, String)> {
    let mut v: Vec<_> = r["emitted"]
        .as_array()
        .map(|a| a.iter().map(masked).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn counters(t: &Value) -> Vec<String> {
    let c = &t["counters"]["filter"];
    let mut out: Vec<String> = c["rules"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| format!("{} [{}:{}]", r["rule"], r["packets"], r["bytes"]))
                .collect()
        })
        .unwrap_or_default();
    if let Some(p) = c["policies"].as_object() {
        for (chain, v) in p {
            out.push(format!("policy {chain} [{}:{}]", v["packets"], v["bytes"]));
        }
    }
    out
}

#[test]
fn engine_agrees_with_every_kernel_trace() {
    let files = fixtures();
    assert!(!files.is_empty(), "no kernel traces found in tests/kernel");
    let (mut passed, mut failed) = (0, 0);
    let mut report = String::new();
    for path in &files {
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".trace.json", "");
        let kernel: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let ours = match wasmwall::oracle::replay(&kernel) {
            Ok(o) => o,
            Err(e) => {
                failed += kernel["steps"].as_array().map_or(1, Vec::len);
                report.push_str(&format!("{name}: replay failed: {e}\n"));
                continue;
            }
        };
        let (ka, kb) = (
            kernel["steps"].as_array().unwrap(),
            ours["steps"].as_array().unwrap(),
        );
        assert_eq!(ka.len(), kb.len(), "{name}: step count");
        for (i, (x, y)) in ka.iter().zip(kb).enumerate() {
            let (rx, ry) = (&x["result"], &y["result"]);
            let mut diffs = Vec::new();
            if rx["verdict"] != ry["verdict"] {
                diffs.push(format!(
                    "verdict kernel={} engine={}",
                    rx["verdict"], ry["verdict"]
                ));
            }
            if emitted(rx) != emitted(ry) {
                diffs.push(format!(
                    "emitted kernel={:?} engine={:?}",
                    emitted(rx),
                    emitted(ry)
                ));
            }
            let empty = vec![];
            diffs.extend(compare_entries(
                rx["conntrack"].as_array().unwrap_or(&empty),
                ry["conntrack"].as_array().unwrap_or(&empty),
            ));
            if diffs.is_empty() {
                passed += 1;
            } else {
                failed += 1;
                let what = x["packet_summary"]
                    .as_str()
                    .or(x["action"].as_str())
                    .unwrap_or("");
                report.push_str(&format!("{name} step {i}: {what}\n"));
                report.push_str(&format!("    engine said: {}\n", ry["wasmwall"]));
                for d in diffs {
                    report.push_str(&format!("    - {d}\n"));
                }
            }
        }
        if counters(&kernel) != counters(&ours) {
            failed += 1;
            report.push_str(&format!(
                "{name}: counters differ\n    kernel={:?}\n    engine={:?}\n",
                counters(&kernel),
                counters(&ours)
            ));
        }
    }
    println!(
        "{} traces: {passed} steps agree, {failed} differ",
        files.len()
    );
    assert!(failed == 0, "engine and kernel disagree:\n{report}");
}
