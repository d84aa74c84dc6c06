//! Exports for the kernel-oracle (`/work/shared/kernel-oracle`, see its README):
//!
//! * [`oracle_spec`]: the scenario as a *spec* that `record.py` can play on a real
//!   Linux router, each packet as its IP header fields plus `raw_l4_hex`;
//! * [`oracle_trace`]: the scenario replayed by the engine (`wasmwall::oracle::replay`)
//!   in the *trace* shape (`kernel-oracle-trace/1`), which `compare.py` diffs against
//!   the kernel's recording of the same spec.
//!
//! The trace reads the table when the page does: 50 ms after a packet ([`SETTLE_MS`],
//! the recorder's `collect_ms`) or at the next event when that comes sooner, and at
//! once after a wait. The spec keeps the recorder's 50 ms window, which a real kernel
//! needs to answer; the recorder then falls behind steps closer than that, as the page
//! does.

use serde_json::{json, Map, Value};
use wasmwall::wire;

use crate::dissect::{self, hex};
use crate::session::{settle_ms, EventKind, Scenario, SETTLE_MS};

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn sysctl_map(scenario: &Scenario) -> Value {
    let mut m = Map::new();
    for (k, v) in &scenario.sysctl {
        m.insert(k.clone(), json!(v));
    }
    Value::Object(m)
}

/// A spec step for a packet: the IP header's fields and the bytes after it.
fn packet_step(bytes: &[u8]) -> Map<String, Value> {
    let mut step = Map::new();
    match wire::parse(bytes) {
        Ok(pkt) => {
            let ip = &pkt.ip;
            let frag = u16::from_be_bytes([bytes[6], bytes[7]]);
            step.insert(
                "ip".into(),
                json!({
                    "src": ip.src.to_string(), "dst": ip.dst.to_string(),
                    "ttl": ip.ttl, "id": ip.id, "tos": ip.tos, "frag": frag,
                    "proto": ip.protocol,
                }),
            );
            let l4 = &bytes[usize::from(ip.header_len)..usize::from(ip.total_len)];
            step.insert("raw_l4_hex".into(), json!(hex(l4)));
        }
        Err(e) => {
            step.insert("note_error".into(), json!(format!("not recordable: {e}")));
        }
    }
    step
}

/// The scenario as a kernel-oracle spec.
pub fn oracle_spec(scenario: &Scenario, name: &str) -> Value {
    let steps: Vec<Value> = scenario
        .events
        .iter()
        .map(|e| {
            let mut step = match &e.kind {
                EventKind::Packet { from, bytes } => {
                    let mut s = packet_step(bytes);
                    s.insert("from".into(), json!(from.name()));
                    s
                }
                EventKind::Wait => {
                    let mut s = Map::new();
                    s.insert("action".into(), json!("snapshot"));
                    s.insert("collect_ms".into(), json!(0));
                    s
                }
            };
            step.insert("t".into(), json!(seconds(e.at_ms)));
            if !e.note.is_empty() {
                step.insert("note".into(), json!(e.note));
            }
            Value::Object(step)
        })
        .collect();
    json!({
        "name": name,
        "description": scenario.description,
        "rules": scenario.rules,
        "sysctl": sysctl_map(scenario),
        "collect_ms": SETTLE_MS,
        "steps": steps,
    })
}

/// The scenario replayed by the engine, as a kernel-oracle trace.
pub fn oracle_trace(scenario: &Scenario, name: &str) -> Result<Value, String> {
    let spec = oracle_spec(scenario, name);
    // When each event is applied, as the page applies it: at its time, or when the
    // previous one is done.
    let mut clock = 0;
    let mut steps = Vec::with_capacity(scenario.events.len());
    for (i, e) in scenario.events.iter().enumerate() {
        let at = e.at_ms.max(clock);
        steps.push(match &e.kind {
            EventKind::Packet { from, bytes } => {
                let collect = settle_ms(&scenario.events, i, at);
                clock = at + collect;
                json!({
                    "t": seconds(e.at_ms), "action": "packet", "from": from.name(),
                    "packet_hex": hex(bytes), "collect_ms": collect,
                })
            }
            EventKind::Wait => {
                clock = at;
                json!({"t": seconds(e.at_ms), "action": "snapshot", "collect_ms": 0})
            }
        });
    }
    let mut trace = wasmwall::oracle::replay(&json!({"spec": spec, "steps": steps}))
        .map_err(|e| e.to_string())?;
    if let Some(out) = trace["steps"].as_array_mut() {
        for (step, event) in out.iter_mut().zip(&scenario.events) {
            if !event.note.is_empty() {
                step["note"] = json!(event.note);
            }
            if let EventKind::Packet { bytes, .. } = &event.kind {
                step["packet_summary"] = json!(dissect::summary(bytes));
            }
        }
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::PRESETS;
    use crate::session::{Session, StepOutcome};
    use wasmwall::conntrack::proc;

    /// The page and the exported trace are the same replay: every step's table and
    /// verdict agree.
    fn assert_trace_matches_the_page(scenario: Scenario, name: &str) {
        let trace = oracle_trace(&scenario, name).unwrap();
        assert_eq!(trace["format"], "kernel-oracle-trace/1");
        let steps = trace["steps"].as_array().unwrap();
        assert_eq!(steps.len(), scenario.events.len(), "{name}");
        let mut s = Session::new(scenario).unwrap();
        for (i, step) in steps.iter().enumerate() {
            s.step();
            let fw = s.firewall();
            let lines: Vec<String> = fw
                .conntrack()
                .sorted_entries()
                .iter()
                .map(|e| proc::proc_line(e, s.clock_ms()))
                .collect();
            let want: Vec<String> = step["result"]["conntrack_raw"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            assert_eq!(lines, want, "{name} step {i}");
            let verdict = match &s.last_record().unwrap().outcome {
                StepOutcome::Packet(d) => json!(wasmwall::oracle::verdict_word(d)),
                StepOutcome::BadPacket(_) => json!("dropped"),
                StepOutcome::Wait => Value::Null,
            };
            assert_eq!(step["result"]["verdict"], verdict, "{name} step {i}");
        }
        assert_eq!(
            trace["counters_raw"].as_str().unwrap(),
            s.firewall().rules().save(true),
            "{name}"
        );
    }

    #[test]
    fn exported_traces_match_what_the_page_shows() {
        for p in PRESETS {
            assert_trace_matches_the_page(p.scenario(), p.id);
        }
        // A capture whose packets are a millisecond apart.
        let mut fast = PRESETS[0].scenario();
        for (i, e) in fast.events.iter_mut().enumerate() {
            e.at_ms = i as u64;
        }
        assert_trace_matches_the_page(fast, "fast");
    }

    #[test]
    fn specs_describe_packets_the_recorder_can_build() {
        let scenario = PRESETS[0].scenario();
        let spec = oracle_spec(&scenario, "tcp-handshake");
        let step = &spec["steps"][0];
        assert_eq!(step["from"], "lan");
        assert_eq!(step["ip"]["src"], "192.168.1.10");
        assert_eq!(step["ip"]["proto"], 6);
        assert_eq!(step["t"], 0.0);
        let EventKind::Packet { bytes, .. } = &scenario.events[0].kind else {
            panic!("a packet")
        };
        assert_eq!(step["raw_l4_hex"].as_str().unwrap(), hex(&bytes[20..]));
        assert_eq!(spec["rules"].as_str().unwrap(), scenario.rules);
    }
}
