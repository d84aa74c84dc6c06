//! Every committed kernel-oracle fixture, replayed through the component in wasmtime
//! and through the native engine side by side: each decision, the table after each
//! step (entries and the exact `/proc` text), expectations, events, tracker counters
//! and the final rule counters must be equal. The steps follow `oracle::replay`: the
//! same times, the same table snapshots `collect_ms` after each step.

mod common;

use common::*;
use serde_json::Value;
use wasmwall::conntrack::{Conntrack, Settings};
use wasmwall::firewall as nat;
use wasmwall::oracle::{trace_rules, trace_settings};
use wasmwall_host::{Firewall, Packet};

/// How the packets go into the component.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// One `process` call per packet.
    Single,
    /// Runs of consecutive packet steps in one `process-batch` call each; the table is
    /// compared after each run.
    Batch,
    /// Like `Single`, but halfway through, both sides move their state into a new
    /// firewall (`export-state`/`import-state` for the component).
    Migrate,
}

const BATCH: usize = 8;

struct Replay<'a> {
    name: &'a str,
    rules: String,
    settings: Settings,
    native: nat::Firewall,
    comp: Firewall,
    clock_ms: u64,
    checked: usize,
}

/// One step's time, as `oracle::replay` computes it.
fn times(trace: &Value, i: usize, clock_ms: u64) -> (u64, u64) {
    let step = &trace["steps"][i];
    let spec = &trace["spec"];
    let t = step["t"].as_f64().unwrap_or(0.0);
    let now = ((t * 1000.0).round() as u64).max(clock_ms);
    let collect = step
        .get("collect_ms")
        .or_else(|| spec["steps"].get(i).and_then(|s| s.get("collect_ms")))
        .and_then(Value::as_f64)
        .or_else(|| spec["collect_ms"].as_f64())
        .unwrap_or(50.0);
    (now, now + collect.round() as u64)
}

fn packet(step: &Value) -> (nat::Iface, Vec<u8>) {
    let from = nat::Iface::from_name(step["from"].as_str().unwrap_or("lan")).unwrap();
    let bytes = wasmwall::wire::decode_hex(step["packet_hex"].as_str().unwrap()).unwrap();
    (from, bytes)
}

impl<'a> Replay<'a> {
    fn new(name: &'a str, trace: &Value) -> Replay<'a> {
        let rules = trace_rules(trace);
        let settings = trace_settings(trace);
        let native = nat::Firewall::with_rules(settings.clone(), &rules).unwrap();
        let comp = Replay::component(&settings, &rules);
        Replay {
            name,
            rules,
            settings,
            native,
            comp,
            clock_ms: 0,
            checked: 0,
        }
    }

    fn component(settings: &Settings, rules: &str) -> Firewall {
        let mut comp = runtime().firewall(&config_for(settings)).unwrap();
        let info = comp
            .load_rules(rules)
            .unwrap()
            .expect("the fixture's rules load");
        let native_rules = wasmwall::rules::Ruleset::parse(rules).unwrap();
        assert_eq!(info.tracking, native_rules.uses_conntrack());
        comp
    }

    fn at(&self, i: usize, what: &str) -> String {
        format!("{}: step {i}: {what}", self.name)
    }

    fn check_packet(&mut self, i: usize, now: u64, step: &Value) {
        let (from, bytes) = packet(step);
        let want = result(&self.native.process(now, from, &bytes), true);
        let got = self.comp.process(now, iface(from), &bytes).unwrap();
        assert_eq!(got, want, "{}", self.at(i, "decision"));
        self.checked += 1;
    }

    fn apply_sysctl(&mut self, step: &Value) {
        let Some(Value::Object(m)) = step.get("sysctl") else {
            return;
        };
        for (k, v) in m {
            let value = match v.get("value").unwrap_or(v) {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !Settings::knows(k) {
                continue;
            }
            let mut s = self.native.conntrack().settings().clone();
            let native_ok = s.set(k, &value).is_ok();
            if native_ok {
                *self.native.conntrack_mut().settings_mut() = s;
            }
            let comp_ok = self.comp.set_setting(k, &value).unwrap().is_ok();
            assert_eq!(comp_ok, native_ok, "{}: set {k}={value}", self.name);
        }
    }

    /// Both sides at `snap`: the table, expectations, events and counters agree.
    fn check_table(&mut self, i: usize, snap: u64) {
        self.native.advance(snap);
        self.comp.advance(snap).unwrap();
        self.clock_ms = snap;
        let native_ct = self.native.conntrack_mut();
        let want_table = native_ct.render_proc(snap);
        let want_entries: Vec<_> = native_ct
            .sorted_entries()
            .into_iter()
            .map(|e| entry(e, snap))
            .collect();
        let want_expect = expectations(native_ct, snap);
        let want_events: Vec<_> = native_ct.drain_events().iter().map(event).collect();
        let want_stats = stats(native_ct.stats());
        assert_eq!(
            self.comp.render_table().unwrap(),
            want_table,
            "{}",
            self.at(i, "table")
        );
        assert_eq!(
            self.comp.entries().unwrap(),
            want_entries,
            "{}",
            self.at(i, "entries")
        );
        assert_eq!(
            self.comp.render_expectations().unwrap(),
            want_expect,
            "{}",
            self.at(i, "expectations")
        );
        assert_eq!(
            self.comp.drain_events().unwrap(),
            want_events,
            "{}",
            self.at(i, "events")
        );
        assert_eq!(
            self.comp.stats().unwrap(),
            want_stats,
            "{}",
            self.at(i, "stats")
        );
    }

    /// Moves both sides' state into new firewalls with the same rules.
    fn migrate(&mut self, i: usize) {
        let bytes = self.comp.export_state().unwrap();
        let native_snapshot = self.native.conntrack().export();
        assert_eq!(
            decode_state(&bytes),
            native_snapshot,
            "{}",
            self.at(i, "exported state")
        );
        let mut fresh = Replay::component(&self.settings, &self.rules);
        fresh
            .import_state(&bytes)
            .unwrap()
            .expect("own state imports");
        fresh.advance(self.clock_ms).unwrap();
        assert_eq!(
            fresh.export_state().unwrap(),
            bytes,
            "{}",
            self.at(i, "state after a round trip")
        );
        self.comp = fresh;
        let mut native = nat::Firewall::with_rules(self.settings.clone(), &self.rules).unwrap();
        *native.conntrack_mut() = Conntrack::import(native_snapshot).unwrap();
        self.native = native;
        self.check_table(i, self.clock_ms);
    }

    fn finish(&mut self) {
        assert_eq!(
            self.comp.counters().unwrap(),
            counters(&self.native.rules().counters()),
            "{}: rule counters",
            self.name
        );
        assert_eq!(
            self.comp.save_rules(true).unwrap(),
            self.native.rules().save(true),
            "{}: iptables-save -c",
            self.name
        );
    }
}

fn replay(name: &str, trace: &Value, mode: Mode) -> usize {
    let steps = trace["steps"].as_array().expect("steps");
    let mut r = Replay::new(name, trace);
    let mut i = 0;
    while i < steps.len() {
        if mode == Mode::Migrate && i == steps.len() / 2 && i > 0 {
            r.migrate(i);
        }
        let action = steps[i]["action"].as_str().unwrap_or("packet");
        if mode == Mode::Batch && action == "packet" {
            // A run of packet steps: the native side one by one, the component in one call.
            let mut want = Vec::new();
            let mut batch = Vec::new();
            let mut last_snap = r.clock_ms;
            let start = i;
            while i < steps.len()
                && batch.len() < BATCH
                && steps[i]["action"].as_str().unwrap_or("packet") == "packet"
            {
                let (now, snap) = times(trace, i, r.clock_ms);
                let (from, bytes) = packet(&steps[i]);
                want.push(result(&r.native.process(now, from, &bytes), true));
                batch.push(Packet {
                    now_ms: now,
                    ingress: iface(from),
                    bytes,
                });
                last_snap = snap;
                i += 1;
            }
            let got = r.comp.process_batch(&batch).unwrap();
            assert_eq!(got, want, "{}", r.at(start, "batch decisions"));
            r.checked += batch.len();
            r.check_table(i - 1, last_snap);
            continue;
        }
        let (now, snap) = times(trace, i, r.clock_ms);
        match action {
            "packet" => r.check_packet(i, now, &steps[i]),
            "sysctl" => r.apply_sysctl(&steps[i]),
            "flush" => {
                r.native.conntrack_mut().flush(now);
                r.comp.flush(now).unwrap();
            }
            _ => {}
        }
        r.check_table(i, snap);
        i += 1;
    }
    r.finish();
    r.checked
}

fn replay_all(mode: Mode) {
    let all = fixtures();
    assert!(all.len() >= 80, "only {} fixtures found", all.len());
    let mut packets = 0;
    for (name, trace) in &all {
        packets += replay(name, trace, mode);
    }
    println!(
        "{mode:?}: {} fixtures, {packets} packets: the component agrees with the native engine",
        all.len()
    );
    assert!(packets > 600);
}

#[test]
fn every_fixture_agrees_packet_by_packet() {
    replay_all(Mode::Single);
}

#[test]
fn every_fixture_agrees_in_batches() {
    replay_all(Mode::Batch);
}

#[test]
fn every_fixture_agrees_after_moving_its_state_to_a_new_instance() {
    replay_all(Mode::Migrate);
}
