//! Tests that run in node: `wasm-pack test --node wasm-tests`.
//!
//! The engine compiled to wasm32 replays every committed kernel-oracle trace and must
//! agree with what Linux recorded on every step, as the native engine does
//! (`engine/tests/kernel_traces.rs`, the same comparison); the app's presets, built from
//! those traces, must show what the kernel did; the app's file and link formats must
//! round-trip. (`--chrome` skips this file; `browser.rs` has
//! the DOM tests.)
#![cfg(target_arch = "wasm32")]

use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;
use wasm_tests::{agreement, compare_entries, FIXTURES};
use wasmwall_web::presets::PRESETS;
use wasmwall_web::session::{EventKind, Session, StepOutcome};

fn parse(name: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"))
}

#[wasm_bindgen_test]
fn every_kernel_trace_is_embedded() {
    assert!(
        FIXTURES.len() >= 79,
        "only {} kernel traces embedded",
        FIXTURES.len()
    );
    for (i, f) in FIXTURES.iter().enumerate() {
        assert!(
            FIXTURES[..i].iter().all(|g| g.name != f.name),
            "{} twice",
            f.name
        );
        let trace = parse(f.name, f.kernel);
        assert_eq!(trace["format"], "kernel-oracle-trace/1", "{}", f.name);
    }
}

#[wasm_bindgen_test]
fn wasm_replays_agree_with_the_kernel() {
    let (mut agree, mut diffs) = (0, Vec::new());
    for f in FIXTURES {
        let kernel = parse(f.name, f.kernel);
        let ours = wasmwall::oracle::replay(&kernel).expect("replays");
        let a = agreement(f.name, &kernel, &ours);
        agree += a.steps_agree;
        diffs.extend(a.diffs);
    }
    assert!(
        diffs.is_empty(),
        "{} steps agree, {} differences:\n{}",
        agree,
        diffs.len(),
        diffs.join("\n")
    );
    assert!(agree > 600, "only {agree} steps compared");
}

/// The presets made from kernel traces, stepped through as the page steps them, show
/// the verdicts and tables Linux recorded.
#[wasm_bindgen_test]
fn recorded_presets_show_what_the_kernel_did() {
    let mut checked = 0;
    for preset in PRESETS {
        let Some(trace_name) = preset.kernel_trace() else {
            continue;
        };
        let fixture = FIXTURES
            .iter()
            .find(|f| f.name == trace_name)
            .unwrap_or_else(|| panic!("{trace_name} is not a committed trace"));
        let kernel = parse(fixture.name, fixture.kernel);
        let steps = kernel["steps"].as_array().expect("steps");
        let mut session = Session::new(preset.scenario()).expect("the preset loads");
        assert_eq!(session.len(), steps.len(), "{}", preset.id);
        for (i, step) in steps.iter().enumerate() {
            session.step();
            let record = session.last_record().expect("a record");
            let verdict = match &record.outcome {
                StepOutcome::Packet(d) => Value::from(wasmwall::oracle::verdict_word(d)),
                StepOutcome::BadPacket(_) => Value::from("dropped"),
                StepOutcome::Wait => Value::Null,
            };
            assert_eq!(
                step["result"]["verdict"], verdict,
                "{} step {i}: verdict",
                preset.id
            );
            let fw = session.firewall();
            let ours: Vec<Value> = fw
                .conntrack()
                .sorted_entries()
                .iter()
                .map(|e| wasmwall::oracle::entry_json(e, session.clock_ms()))
                .collect();
            let theirs = step["result"]["conntrack"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let diffs = compare_entries(&theirs, &ours);
            assert!(
                diffs.is_empty(),
                "{} step {i}: {}",
                preset.id,
                diffs.join("; ")
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} preset steps checked");
}

#[wasm_bindgen_test]
fn captures_and_links_round_trip_in_wasm() {
    for preset in PRESETS {
        let scenario = preset.scenario();
        let packets: Vec<(u64, &[u8])> = scenario
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Packet { bytes, .. } => Some((e.at_ms * 1000, bytes.as_slice())),
                EventKind::Wait => None,
            })
            .collect();
        let capture = wasmwall_web::pcap::read(&wasmwall_web::pcap::write(&packets)).unwrap();
        assert_eq!(capture.packets.len(), packets.len(), "{}", preset.id);
        for (read, (t, bytes)) in capture.packets.iter().zip(&packets) {
            assert_eq!(read.bytes.as_slice(), *bytes);
            assert_eq!(read.time_us, t - packets[0].0);
        }
        let hash = wasmwall_web::share::encode(&scenario, 3);
        let (back, cursor) = wasmwall_web::share::decode(&hash).unwrap();
        assert_eq!((back, cursor), (scenario, 3), "{}", preset.id);
    }
}

#[wasm_bindgen_test]
fn runs_in_node_not_a_browser() {
    // If this file were ever run in the browser by mistake, the counts `cargo xtask test`
    // checks would be off; make the environment explicit.
    let global = js_sys::global();
    let process =
        js_sys::Reflect::get(&global, &"process".into()).expect("read globalThis.process");
    assert!(
        process.is_object(),
        "globalThis.process is missing: not running in node"
    );
    let document =
        js_sys::Reflect::get(&global, &"document".into()).expect("read globalThis.document");
    assert!(document.is_undefined(), "a DOM exists: not running in node");
}
