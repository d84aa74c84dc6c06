//! Every recorded kernel trace (engine/tests/kernel and kernel-oracle's examples):
//! the rules it restored load, save back exactly as iptables-save printed them, and
//! every REJECT answer is rebuilt byte for byte (IP id and checksum masked).

use super::reject::{decrease_ttl, masked};
use super::Pkt;
use crate::rules::{reject_response, RejectWith, Ruleset, TableKind};
use crate::wire::decode_hex;
use serde_json::Value;
use std::path::PathBuf;

fn trace_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        root.join("tests/kernel"),
        root.join("../../shared/kernel-oracle/examples"),
    ];
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".trace.json"))
        .collect();
    files.sort();
    files
}

fn load(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// iptables-save -c text with the rule counters removed and the policy counters
/// zeroed: what a freshly loaded ruleset saves.
fn without_counters(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map_or(line, |(_, r)| r).to_string(),
            None if line.starts_with(':') => match line.rfind(" [") {
                Some(i) => format!("{} [0:0]", &line[..i]),
                None => line.to_string(),
            },
            None => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn spec_rules(trace: &Value) -> Option<String> {
    match &trace["spec"]["rules"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

#[test]
fn kernel_rules_load_and_save_canonically() {
    let files = trace_files();
    assert!(!files.is_empty(), "no kernel traces found");
    for path in &files {
        let trace = load(path);
        let name = path.file_name().unwrap().to_string_lossy();
        let restored = trace["rules_restored"].as_str().unwrap();
        let r = Ruleset::parse(restored).unwrap_or_else(|e| panic!("{name}: {e}\n{restored}"));
        let want = without_counters(trace["counters_raw"].as_str().unwrap());
        assert_eq!(
            r.save_table(TableKind::Filter, false).unwrap(),
            want,
            "{name}"
        );
        if let Some(others) = trace["counters_other_raw"].as_object() {
            for (table, text) in others {
                let kind =
                    TableKind::from_name(table).unwrap_or_else(|| panic!("{name}: table {table}"));
                let want = without_counters(text.as_str().unwrap());
                assert_eq!(r.save_table(kind, false).unwrap(), want, "{name}: {table}");
            }
        }
        if let Some(seed) = spec_rules(&trace) {
            let s = Ruleset::parse(&seed).unwrap_or_else(|e| panic!("{name} spec rules: {e}"));
            assert_eq!(
                s.save(false),
                r.save(false),
                "{name}: spec rules vs rules_restored"
            );
        }
    }
}

/// The REJECT type that produces an emitted packet, or None (not a REJECT answer:
/// e.g. time exceeded or fragmentation needed, sent by the router itself).
fn kind_of(emitted: &[u8]) -> Option<RejectWith> {
    if emitted.get(9) == Some(&6) {
        return Some(RejectWith::TcpReset);
    }
    let ihl = usize::from(emitted.first()? & 0x0f) * 4;
    let (t, code) = (*emitted.get(ihl)?, *emitted.get(ihl + 1)?);
    if t != 3 {
        return None;
    }
    Some(match code {
        0 => RejectWith::IcmpNetUnreachable,
        1 => RejectWith::IcmpHostUnreachable,
        2 => RejectWith::IcmpProtoUnreachable,
        3 => RejectWith::IcmpPortUnreachable,
        9 => RejectWith::IcmpNetProhibited,
        10 => RejectWith::IcmpHostProhibited,
        13 => RejectWith::IcmpAdminProhibited,
        _ => return None,
    })
}

fn router_addr(trace: &Value, iface: &str) -> std::net::Ipv4Addr {
    let key = if iface == "wan" {
        "wan_addr"
    } else {
        "lan_addr"
    };
    let cidr = trace["topology"][key].as_str().unwrap();
    cidr.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn kernel_reject_answers_are_rebuilt() {
    let mut checked = 0;
    for path in trace_files() {
        let trace = load(&path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        // In the `local_*` scenarios the router's own stack answers, not REJECT
        // (its resets keep the TOS): `kernel_traces.rs` checks those.
        if name.starts_with("local_") {
            continue;
        }
        for step in trace["steps"].as_array().into_iter().flatten() {
            let Some(sent) = step["packet_hex"].as_str() else {
                continue;
            };
            let from = step["from"].as_str().unwrap_or("lan");
            for e in step["result"]["emitted"].as_array().into_iter().flatten() {
                if !matches!(e["kind"].as_str(), Some("tcp_rst" | "icmp_error")) {
                    continue;
                }
                let want = decode_hex(e["hex"].as_str().unwrap()).unwrap();
                let Some(with) = kind_of(&want) else { continue };
                let mut bytes = decode_hex(sent).unwrap();
                // A packet for one of the router's addresses goes to INPUT: its TTL
                // is not decremented and the answer comes from the address asked.
                let dst = std::net::Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
                let local = dst == router_addr(&trace, "lan") || dst == router_addr(&trace, "wan");
                if !local {
                    decrease_ttl(&mut bytes);
                }
                let src = if local {
                    dst
                } else {
                    router_addr(&trace, from)
                };
                let p = Pkt::from_bytes(bytes);
                let got = reject_response(&p.bytes, &p.packet, with, src);
                let index = &step["index"];
                assert_eq!(
                    got.as_deref().map(masked),
                    Some(masked(&want)),
                    "{name} step {index}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no REJECT answers in the traces");
}

/// `{"policies": {chain: {..}}, "rules": [..]}` as comparable lines.
fn counter_lines(c: &Value) -> Vec<String> {
    let mut out: Vec<String> = c["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} [{}:{}]", r["rule"], r["packets"], r["bytes"]))
        .collect();
    for (chain, p) in c["policies"].as_object().into_iter().flatten() {
        out.push(format!("policy {chain} [{}:{}]", p["packets"], p["bytes"]));
    }
    out
}

/// The kernel traces record the counters of every table the rules use; the filter
/// table's are compared by `tests/kernel_traces.rs`, the others (raw) here.
#[test]
#[cfg(feature = "oracle")]
fn other_tables_counters_agree_with_the_kernel() {
    let mut checked = 0;
    for path in trace_files() {
        let trace = load(&path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(tables) = trace["counters"].as_object() else {
            continue;
        };
        let mut ours: Option<Value> = None;
        for (table, kernel) in tables.iter().filter(|(t, _)| *t != "filter") {
            let replayed = ours.get_or_insert_with(|| {
                crate::oracle::replay(&trace).unwrap_or_else(|e| panic!("{name}: {e}"))
            });
            assert_eq!(
                counter_lines(&replayed["counters"][table]),
                counter_lines(kernel),
                "{name}: {table} counters"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no trace records a raw table's counters");
}
