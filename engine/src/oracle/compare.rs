//! How a replay compares with the kernel's recording, as `compare.py --bytes
//! --counters` compares them: per step the verdict, the emitted packets (the random IP
//! id of kernel-generated packets masked), the table (state, flags, reply tuple,
//! timeout within [`TOLERANCE_SECS`]; beyond compare.py, the entries' accounting
//! counters and `delta-time`), and the final filter counters. The engine's
//! fixture tests use it natively and in wasm.

use serde_json::Value;
use std::collections::BTreeMap;

const TUPLE_KEYS: [&str; 7] = ["src", "dst", "sport", "dport", "type", "code", "id"];
/// Timeouts may differ by this much: the recorder reads the table some milliseconds late.
pub const TOLERANCE_SECS: i64 = 2;

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

fn flags(v: &Value) -> Vec<String> {
    let mut f: Vec<String> = v["flags"]
        .as_array()
        .map(|a| a.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    f.sort();
    f
}

/// Differences between two conntrack tables in the trace's parsed form.
pub fn compare_entries(kernel: &[Value], ours: &[Value]) -> Vec<String> {
    let ka: BTreeMap<String, &Value> = kernel.iter().map(|e| (key(e), e)).collect();
    let kb: BTreeMap<String, &Value> = ours.iter().map(|e| (key(e), e)).collect();
    let mut diffs = Vec::new();
    for (k, x) in &ka {
        let Some(y) = kb.get(k) else {
            diffs.push(format!("entry missing: {k} ({})", x["state"]));
            continue;
        };
        if x["state"] != y["state"] {
            diffs.push(format!(
                "{k}: state kernel={} engine={}",
                x["state"], y["state"]
            ));
        }
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
        if let (Some(a), Some(b)) = (x["timeout"].as_i64(), y["timeout"].as_i64()) {
            if (a - b).abs() > TOLERANCE_SECS {
                diffs.push(format!("{k}: timeout kernel={a} engine={b}"));
            }
        }
        // Beyond compare.py: the accounting counters (`nf_conntrack_acct`), present on
        // entries created while accounting was on.
        for dir in ["orig", "reply"] {
            let count = |v: &Value| (v[dir].get("packets").cloned(), v[dir].get("bytes").cloned());
            if count(x) != count(y) {
                diffs.push(format!(
                    "{k}: {dir} counters kernel={:?} engine={:?}",
                    count(x),
                    count(y)
                ));
            }
        }
        let delta = |v: &Value| v["delta-time"].as_str().and_then(|d| d.parse::<i64>().ok());
        match (delta(x), delta(y)) {
            (Some(a), Some(b)) if (a - b).abs() <= TOLERANCE_SECS => {}
            (None, None) => {}
            (a, b) => diffs.push(format!("{k}: delta-time kernel={a:?} engine={b:?}")),
        }
        for f in ["mark", "zone"] {
            if y.get(f).is_some() && x.get(f) != y.get(f) {
                diffs.push(format!("{k}: {f} kernel={} engine={}", x[f], y[f]));
            }
        }
    }
    for (k, y) in &kb {
        if !ka.contains_key(k) {
            diffs.push(format!("extra entry: {k} ({})", y["state"]));
        }
    }
    diffs
}

/// Packets the kernel generated carry a random IP id: mask it and the header checksum.
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

/// How a replay compares with the kernel's trace.
#[derive(Debug, Default)]
pub struct Agreement {
    pub steps_agree: usize,
    /// One line per difference, naming the step.
    pub diffs: Vec<String>,
}

/// Compares a replay with the kernel's recording step by step: verdict, emitted
/// packets (IP id masked), the table (state, flags, reply tuple, timeout within
/// [`TOLERANCE_SECS`]) and the final filter counters.
pub fn agreement(name: &str, kernel: &Value, ours: &Value) -> Agreement {
    let mut out = Agreement::default();
    let empty = Vec::new();
    let ka = kernel["steps"].as_array().unwrap_or(&empty);
    let kb = ours["steps"].as_array().unwrap_or(&empty);
    if ka.len() != kb.len() {
        out.diffs.push(format!(
            "{name}: {} steps recorded, {} replayed",
            ka.len(),
            kb.len()
        ));
        return out;
    }
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
        diffs.extend(compare_entries(
            rx["conntrack"].as_array().unwrap_or(&empty),
            ry["conntrack"].as_array().unwrap_or(&empty),
        ));
        if diffs.is_empty() {
            out.steps_agree += 1;
        } else {
            out.diffs
                .extend(diffs.into_iter().map(|d| format!("{name} step {i}: {d}")));
        }
    }
    if counters(kernel) != counters(ours) {
        out.diffs.push(format!("{name}: final counters differ"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(state: &str, timeout: i64, flags: &[&str]) -> Value {
        json!({"protonum": 6, "state": state, "timeout": timeout, "flags": flags,
               "orig": {"src": "a", "dst": "b", "sport": 1, "dport": 2},
               "reply": {"src": "b", "dst": "a", "sport": 2, "dport": 1},
               "mark": 0, "zone": 0})
    }

    #[test]
    fn entries_compare_with_a_timeout_tolerance() {
        let k = [entry("SYN_SENT", 119, &["UNREPLIED"])];
        assert!(compare_entries(&k, &[entry("SYN_SENT", 118, &["UNREPLIED"])]).is_empty());
        assert_eq!(
            compare_entries(&k, &[entry("SYN_SENT", 110, &["UNREPLIED"])]).len(),
            1
        );
        assert_eq!(compare_entries(&k, &[entry("SYN_RECV", 119, &[])]).len(), 2);
        assert_eq!(compare_entries(&k, &[]).len(), 1);
        assert_eq!(compare_entries(&[], &k).len(), 1);
    }

    #[test]
    fn agreement_counts_steps_and_names_differences() {
        let step = |verdict: &str, e: Value| json!({"result": {"verdict": verdict, "emitted": [], "conntrack": [e]}});
        let kernel = json!({"steps": [step("forwarded", entry("SYN_SENT", 119, &["UNREPLIED"])),
                                      step("dropped", entry("SYN_SENT", 119, &["UNREPLIED"]))]});
        let ours = json!({"steps": [step("forwarded", entry("SYN_SENT", 119, &["UNREPLIED"])),
                                    step("forwarded", entry("SYN_SENT", 119, &["UNREPLIED"]))]});
        let a = agreement("t", &kernel, &ours);
        assert_eq!(a.steps_agree, 1);
        assert_eq!(
            a.diffs,
            ["t step 1: verdict kernel=\"dropped\" engine=\"forwarded\""]
        );
    }
}
