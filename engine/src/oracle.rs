//! Replaying kernel-oracle traces.
//!
//! A trace (`kernel-oracle-trace/1`, see `../shared/kernel-oracle/README.md`) records
//! what Linux did with a sequence of packets. [`replay`] feeds the same bytes, at the
//! same times, from the same interfaces, with the same ruleset and sysctls, through a
//! [`Firewall`], and writes the result in the same shape, so `compare.py` can diff the
//! two step by step. Each snapshot of the table is taken `collect_ms` after the step,
//! as the recorder does.

pub mod compare;

use crate::conntrack::{proc, status, Entry, Settings};
use crate::firewall::{Decision, Firewall, Iface, Outcome};
use crate::wire::{self, proto};
use core::fmt;
use serde_json::{json, Map, Value};

/// Why a trace cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// A field is missing or has the wrong type.
    Format(String),
    /// The ruleset does not parse.
    Rules(String),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Format(m) => write!(f, "bad trace: {m}"),
            ReplayError::Rules(m) => write!(f, "bad ruleset: {m}"),
        }
    }
}

impl std::error::Error for ReplayError {}

fn bad(m: impl Into<String>) -> ReplayError {
    ReplayError::Format(m.into())
}

/// The ruleset a trace restored: `rules_restored`, else the spec's `rules`.
pub fn trace_rules(trace: &Value) -> String {
    if let Some(r) = trace.get("rules_restored").and_then(Value::as_str) {
        return r.to_string();
    }
    match trace.get("spec").and_then(|s| s.get("rules")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Applies recorded sysctl results (`{"key": {"value": "..."}}`) or plain values.
fn apply_sysctls(settings: &mut Settings, map: Option<&Value>) {
    let Some(Value::Object(m)) = map else { return };
    for (k, v) in m {
        let value = match v {
            Value::Object(o) => o.get("value").cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => u8::from(b).to_string(),
            _ => continue,
        };
        if Settings::knows(k) {
            // A value the kernel reported but we cannot hold is left at our default.
            let _ = settings.set(k, &text);
        }
    }
}

/// The settings a trace ran with.
pub fn trace_settings(trace: &Value) -> Settings {
    let mut s = Settings::default();
    apply_sysctls(&mut s, trace.get("sysctl_base"));
    match trace.get("sysctl") {
        Some(Value::Object(m)) if !m.is_empty() => apply_sysctls(&mut s, trace.get("sysctl")),
        _ => apply_sysctls(&mut s, trace.get("spec").and_then(|sp| sp.get("sysctl"))),
    }
    s
}

/// A tuple as the recorder parses it.
fn tuple_json(t: &crate::conntrack::Tuple, counters: Option<(u64, u64)>) -> Value {
    let mut m = Map::new();
    m.insert("src".into(), json!(t.src.to_string()));
    m.insert("dst".into(), json!(t.dst.to_string()));
    match t.protocol {
        proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP => {
            m.insert("sport".into(), json!(t.sport));
            m.insert("dport".into(), json!(t.dport));
        }
        proto::ICMP => {
            m.insert("type".into(), json!(t.icmp_type()));
            m.insert("code".into(), json!(t.icmp_code()));
            m.insert("id".into(), json!(t.icmp_id()));
        }
        _ => {}
    }
    if let Some((p, b)) = counters {
        m.insert("packets".into(), json!(p));
        m.insert("bytes".into(), json!(b));
    }
    Value::Object(m)
}

/// One entry in the recorder's `CT_ENTRY` shape.
pub fn entry_json(e: &Entry, now_ms: u64) -> Value {
    let mut flags = Vec::new();
    if !e.seen_reply() {
        flags.push("UNREPLIED");
    }
    if e.has(status::ASSURED) {
        flags.push("ASSURED");
    }
    let p = e.original().protocol;
    let mut v = json!({
        "l3": "ipv4", "l3num": 2,
        "proto": proc::l4_name(p), "protonum": p,
        "timeout": e.timeout_secs(now_ms),
        "state": e.state_name(),
        "orig": tuple_json(e.original(), e.counters().map(|c| c[0])),
        "reply": tuple_json(&e.reply(), e.counters().map(|c| c[1])),
        "flags": flags,
        "mark": e.mark, "zone": 0, "use": 2,
    });
    if let Some(start) = e.start_ms() {
        // The recorder keeps the token's text.
        v["delta-time"] = json!((now_ms.saturating_sub(start) / 1000).to_string());
    }
    if p == proto::GRE {
        // The recorder parses the line's `timeout=30,` token over the numeric timeout.
        if let crate::conntrack::ProtoState::Gre {
            timeout_secs,
            stream_timeout_secs,
        } = e.proto
        {
            v["timeout"] = json!(format!("{timeout_secs},"));
            v["stream_timeout"] = json!(stream_timeout_secs.to_string());
        }
        v["srckey"] = json!(format!("0x{:x}", e.original().sport));
        v["dstkey"] = json!(format!("0x{:x}", e.original().dport));
    }
    v
}

/// A decision's verdict in the recorder's words: `forwarded`, `rejected` (an ICMP error
/// or a reset answered), `other` (the router's own stack answered, say with an echo
/// reply) or `dropped`.
pub fn verdict_word(d: &Decision) -> &'static str {
    match d.outcome {
        Outcome::Forwarded => "forwarded",
        Outcome::Rejected => "rejected",
        Outcome::Local if !d.emitted.is_empty() => "other",
        Outcome::Dropped | Outcome::Local => "dropped",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Classifies what came out the way the recorder does: `forwarded` when the other
/// interface emitted the same packet (same addresses, protocol and IP id, identical
/// bytes after the IP header), `rejected` for ICMP errors and TCP resets, `other` for
/// anything else, `dropped` when nothing came out.
fn classify(input: &[u8], from: Iface, d: &Decision) -> (Value, Value, Value) {
    let mut verdict = "dropped";
    let mut forwarded = Value::Null;
    let mut emitted = Vec::new();
    let same = |b: &[u8]| {
        b.len() >= 20
            && input.len() >= 20
            && b[12..20] == input[12..20]
            && b[9] == input[9]
            && b[4..6] == input[4..6]
            && b[20..] == input[20..]
    };
    for e in &d.emitted {
        let b = &e.bytes;
        let kind = if e.iface == from.other() && same(b) {
            "forwarded"
        } else if b.len() > 20 && b[9] == proto::ICMP && icmp_error_type(b) {
            "icmp_error"
        } else if b.len() > 33
            && b[9] == proto::TCP
            && b[(b[0] & 0x0f) as usize * 4 + 13] & 0x04 != 0
        {
            "tcp_rst"
        } else {
            "other"
        };
        if kind == "forwarded" {
            forwarded = json!(hex(b));
        }
        emitted.push(json!({"iface": e.iface.name(), "hex": hex(b), "kind": kind}));
    }
    let kinds: Vec<&str> = emitted.iter().filter_map(|e| e["kind"].as_str()).collect();
    if kinds.contains(&"forwarded") {
        verdict = "forwarded";
    } else if kinds.iter().any(|k| *k == "icmp_error" || *k == "tcp_rst") {
        verdict = "rejected";
    } else if !kinds.is_empty() {
        verdict = "other";
    }
    (json!(verdict), Value::Array(emitted), forwarded)
}

fn icmp_error_type(b: &[u8]) -> bool {
    let hl = (b[0] & 0x0f) as usize * 4;
    b.get(hl).is_some_and(|t| wire::icmp_type::is_error(*t))
}

fn explain(d: &Decision) -> Value {
    json!({
        "ctstate": d.ctstate.name(),
        "reason": d.reason,
        "transition": d.transition.map(|(a, b)| format!("{} -> {}", a.name(), b.name())),
        "created": d.created,
        "entry_id": d.entry_id,
        "trace": d.explain(),
    })
}

/// Replays a kernel-oracle trace; returns a trace of the same shape.
pub fn replay(trace: &Value) -> Result<Value, ReplayError> {
    replay_as(trace, Path::Traced)
}

/// Like [`replay`], the way fast hosts run the engine: tracing off
/// ([`Firewall::set_tracing`]) and every packet's buffer handed over
/// ([`Firewall::process_owned`]). The decisions carry no trace; everything the
/// kernel recorded must come out the same.
pub fn replay_lean(trace: &Value) -> Result<Value, ReplayError> {
    replay_as(trace, Path::Lean)
}

/// How [`replay_as`] drives the firewall.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Traced,
    Lean,
}

fn replay_as(trace: &Value, path: Path) -> Result<Value, ReplayError> {
    let steps = trace
        .get("steps")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"steps\" array"))?;
    let spec = trace.get("spec").cloned().unwrap_or(Value::Null);
    let default_collect = spec
        .get("collect_ms")
        .and_then(Value::as_f64)
        .unwrap_or(50.0);
    let rules = trace_rules(trace);
    let settings = trace_settings(trace);
    let mut fw =
        Firewall::with_rules(settings, &rules).map_err(|e| ReplayError::Rules(e.to_string()))?;
    fw.set_tracing(path == Path::Traced);
    let mut out_steps = Vec::with_capacity(steps.len());
    let mut clock_ms: u64 = 0;
    for (i, step) in steps.iter().enumerate() {
        let t = step.get("t").and_then(Value::as_f64).unwrap_or(0.0);
        // The moment the recorder wrote the packet (or read the table), when the
        // trace has it: it may lag the scheduled `t`, and the kernel saw that moment.
        let at = step.get("t_actual").and_then(Value::as_f64).unwrap_or(t);
        let now = ((at * 1000.0).round() as u64).max(clock_ms);
        let spec_step = spec.get("steps").and_then(|s| s.get(i));
        let collect = step
            .get("collect_ms")
            .or_else(|| spec_step.and_then(|s| s.get("collect_ms")))
            .and_then(Value::as_f64)
            .unwrap_or(default_collect);
        let action = step
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("packet");
        let mut rec = json!({"index": i, "t": t, "action": action});
        let mut result = Map::new();
        match action {
            "packet" => {
                let hexstr = step
                    .get("packet_hex")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("step {i}: no packet_hex")))?;
                let bytes = wire::decode_hex(hexstr).map_err(|e| bad(format!("step {i}: {e}")))?;
                let from_name = step.get("from").and_then(Value::as_str).unwrap_or("lan");
                let from = Iface::from_name(from_name)
                    .ok_or_else(|| bad(format!("step {i}: unknown interface {from_name:?}")))?;
                rec["from"] = json!(from_name);
                rec["packet_hex"] = json!(hexstr);
                let decision = match path {
                    Path::Traced => fw.process(now, from, &bytes),
                    Path::Lean => fw.process_owned(now, from, bytes.clone()),
                };
                match decision {
                    Ok(d) => {
                        let (verdict, emitted, forwarded) = classify(&bytes, from, &d);
                        result.insert("verdict".into(), verdict);
                        result.insert("emitted".into(), emitted);
                        result.insert("forwarded_hex".into(), forwarded);
                        result.insert("wasmwall".into(), explain(&d));
                    }
                    Err(e) => {
                        result.insert("verdict".into(), json!("dropped"));
                        result.insert("emitted".into(), json!([]));
                        result.insert("forwarded_hex".into(), Value::Null);
                        result.insert("wasmwall".into(), json!({"error": e.to_string()}));
                    }
                }
            }
            "sysctl" => {
                let mut s = fw.conntrack().settings().clone();
                apply_sysctls(&mut s, step.get("sysctl"));
                *fw.conntrack_mut().settings_mut() = s;
                result.insert("verdict".into(), Value::Null);
                result.insert("emitted".into(), json!([]));
            }
            "flush" => {
                fw.conntrack_mut().flush(now);
                result.insert("verdict".into(), Value::Null);
                result.insert("emitted".into(), json!([]));
            }
            _ => {
                result.insert("verdict".into(), Value::Null);
                result.insert("emitted".into(), json!([]));
            }
        }
        let snap = now + collect.round() as u64;
        fw.advance(snap);
        clock_ms = snap;
        let entries = fw.conntrack().sorted_entries();
        result.insert(
            "conntrack".into(),
            Value::Array(entries.iter().map(|e| entry_json(e, snap)).collect()),
        );
        result.insert(
            "conntrack_raw".into(),
            Value::Array(
                entries
                    .iter()
                    .map(|e| json!(proc::proc_line(e, snap)))
                    .collect(),
            ),
        );
        result.insert("ct_count".into(), json!(entries.len()));
        let mut expect: Vec<String> = fw
            .conntrack()
            .expectations()
            .iter()
            .map(|x| x.proc_line(snap))
            .collect();
        if !expect.is_empty() {
            expect.sort();
            result.insert("expect_raw".into(), json!(expect));
        }
        rec["result"] = Value::Object(result);
        out_steps.push(rec);
    }
    Ok(json!({
        "format": "kernel-oracle-trace/1",
        "engine": {"name": "wasmwall", "version": crate::VERSION},
        "spec": spec,
        "rules_restored": rules,
        "steps": out_steps,
        "counters_raw": fw.rules().save(true),
        "counters": serde_json::to_value(fw.rules().counters()).unwrap_or(Value::Null),
    }))
}
