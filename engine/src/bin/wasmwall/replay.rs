//! `wasmwall replay`: kernel-oracle traces and pcap captures.

use crate::read;
use std::path::Path;
use wasmwall::capture::Capture;
use wasmwall::firewall::Firewall;
use wasmwall::{oracle, wire, Settings};

/// Replays a kernel-oracle trace and returns the engine's trace as JSON text, and
/// each packet's path as readable lines (from `result.wasmwall.trace`).
pub fn trace(path: &Path) -> Result<(String, String), String> {
    let text = read(path)?;
    let trace: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
    let out = oracle::replay(&trace).map_err(|e| format!("{}: {e}", path.display()))?;
    let json = serde_json::to_string_pretty(&out)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())?;
    Ok((json, explain(&trace, &out)))
}

/// `step N t=T from IFACE: SUMMARY -> VERDICT` and the step's trace lines, indented.
fn explain(kernel: &serde_json::Value, ours: &serde_json::Value) -> String {
    let mut out = String::new();
    let steps = ours["steps"].as_array().map_or(&[][..], Vec::as_slice);
    for (i, step) in steps.iter().enumerate() {
        let action = step["action"].as_str().unwrap_or("packet");
        let t = step["t"].as_f64().unwrap_or(0.0);
        if action != "packet" {
            out.push_str(&format!("step {i} t={t:.3}: {action}\n"));
            continue;
        }
        let summary = kernel["steps"][i]["packet_summary"]
            .as_str()
            .map(String::from)
            .or_else(|| {
                step["packet_hex"]
                    .as_str()
                    .and_then(|h| wire::decode_hex(h).ok())
                    .map(|b| summary(&b))
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "step {i} t={t:.3} from {}: {summary} -> {}\n",
            step["from"].as_str().unwrap_or("?"),
            step["result"]["verdict"].as_str().unwrap_or("?")
        ));
        let r = &step["result"]["wasmwall"];
        if let Some(e) = r["error"].as_str() {
            out.push_str(&format!("    error: {e}\n"));
        }
        for line in r["trace"].as_array().into_iter().flatten() {
            out.push_str(&format!("    {}\n", line.as_str().unwrap_or_default()));
        }
    }
    out
}

/// Replays a capture through a ruleset: one line per packet, then the table.
/// With `explain`, each packet's trace lines follow its line, indented.
pub fn pcap(
    rules: Option<&Path>,
    pcap: &Path,
    set: &[String],
    explain: bool,
) -> Result<String, String> {
    let rules_text = match rules {
        Some(p) => {
            String::from_utf8(read(p)?).map_err(|_| format!("{}: not UTF-8 text", p.display()))?
        }
        None => String::new(),
    };
    let mut settings = Settings::default();
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set {kv}: expected NAME=VALUE"))?;
        settings.set(k, v).map_err(|e| e.to_string())?;
    }
    let mut fw = Firewall::with_rules(settings, &rules_text).map_err(|e| {
        format!(
            "{}: {e}",
            rules.map_or("rules".into(), |p| p.display().to_string())
        )
    })?;
    let capture = Capture::from_pcap(&read(pcap)?, &fw.topology)
        .map_err(|e| format!("{}: {e}", pcap.display()))?;
    let mut out = String::new();
    let mut last = 0;
    for (i, (t_ms, from, bytes)) in capture.iter().enumerate() {
        last = t_ms;
        let line = match fw.process(t_ms, from, bytes) {
            Ok(d) => {
                let mut line = format!(
                    "{i:>6} {:>10.3} {:<3} {:<9} {:<11} {}{}",
                    t_ms as f64 / 1000.0,
                    from,
                    d.outcome.name(),
                    d.ctstate.name(),
                    summary(bytes),
                    d.reason
                        .as_ref()
                        .map(|r| format!("  ({r})"))
                        .unwrap_or_default()
                );
                if explain {
                    for t in d.explain() {
                        line.push_str("\n         ");
                        line.push_str(&t);
                    }
                }
                line
            }
            Err(e) => format!(
                "{i:>6} {:>10.3} {:<3} error     -           {e}",
                t_ms as f64 / 1000.0,
                from
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\n# /proc/net/nf_conntrack\n");
    out.push_str(&fw.conntrack_mut().render_proc(last));
    out.push_str("\n# iptables-save -c\n");
    out.push_str(&fw.rules().save(true));
    Ok(out)
}

/// A one-line description of a packet, like the kernel-oracle's summaries.
fn summary(bytes: &[u8]) -> String {
    let Ok(p) = wire::parse(bytes) else {
        return "unparsable".into();
    };
    let ip = p.ip;
    match p.l4 {
        wire::L4::Tcp(t) => format!(
            "tcp {}:{} > {}:{} [{}] seq={} ack={} win={} len={}",
            ip.src,
            t.sport,
            ip.dst,
            t.dport,
            wire::tcp_flags::to_letters(t.flags),
            t.seq,
            t.ack,
            t.window,
            t.payload_len
        ),
        wire::L4::Udp(u) => format!(
            "udp {}:{} > {}:{} len={}",
            ip.src, u.sport, ip.dst, u.dport, u.payload_len
        ),
        wire::L4::Icmp(c) => format!(
            "icmp {} > {} type={} code={}",
            ip.src, ip.dst, c.icmp_type, c.code
        ),
        _ => format!("proto {} {} > {}", ip.protocol, ip.src, ip.dst),
    }
}
