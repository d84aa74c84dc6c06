//! The `wasmwall` command line: its interface is relied on by scripts and CI.

use std::path::PathBuf;
use std::process::Command;

fn wasmwall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmwall"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kernel")
        .join(name)
}

#[test]
fn replay_prints_the_trace_shape() {
    let out = wasmwall()
        .arg("replay")
        .arg(fixture("tcp_close_client_fin.trace.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kernel: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("tcp_close_client_fin.trace.json")).unwrap())
            .unwrap();
    let steps = ours["steps"].as_array().unwrap();
    assert_eq!(steps.len(), kernel["steps"].as_array().unwrap().len());
    for (a, b) in steps.iter().zip(kernel["steps"].as_array().unwrap()) {
        assert_eq!(a["result"]["verdict"], b["result"]["verdict"]);
        assert_eq!(
            a["result"]["conntrack"].as_array().map(Vec::len),
            b["result"]["conntrack"].as_array().map(Vec::len)
        );
    }
    assert!(ours["counters"]["filter"]["rules"].is_array());
}

#[test]
fn errors_go_to_stderr_with_a_non_zero_exit() {
    let out = wasmwall()
        .args(["replay", "/nonexistent/trace.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/trace.json"));

    let dir = std::env::temp_dir().join(format!("wasmwall-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_json = dir.join("bad.json");
    std::fs::write(&bad_json, "{ not json").unwrap();
    let out = wasmwall().arg("replay").arg(&bad_json).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));

    let bad_rules = dir.join("rules.txt");
    std::fs::write(
        &bad_rules,
        "-P FORWARD DROP\n-A FORWARD --frobnicate -j ACCEPT\n",
    )
    .unwrap();
    let pcap = dir.join("empty.pcap");
    std::fs::write(&pcap, pcap_file(&[])).unwrap();
    let out = wasmwall()
        .arg("replay")
        .arg("--rules")
        .arg(&bad_rules)
        .arg("--pcap")
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pcap file (link type raw IPv4) with packets 100 ms apart.
fn pcap_file(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&228u32.to_le_bytes()); // LINKTYPE_IPV4
    for (i, p) in packets.iter().enumerate() {
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&((i as u32) * 100_000).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(p);
    }
    f
}

#[test]
fn replay_pcap_prints_verdicts_and_the_table() {
    let kernel: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("tcp_close_client_fin.trace.json")).unwrap())
            .unwrap();
    let packets: Vec<Vec<u8>> = kernel["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["packet_hex"].as_str())
        .map(|h| wasmwall::wire::decode_hex(h).unwrap())
        .take(3)
        .collect();
    let dir = std::env::temp_dir().join(format!("wasmwall-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("handshake.pcap");
    std::fs::write(&pcap, pcap_file(&packets)).unwrap();
    let rules = dir.join("rules.txt");
    std::fs::write(&rules, wasmwall::oracle::trace_rules(&kernel)).unwrap();
    let out = wasmwall()
        .arg("replay")
        .arg("--rules")
        .arg(&rules)
        .arg("--pcap")
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("forwarded") && lines[0].contains("NEW"),
        "{text}"
    );
    assert!(
        lines[1].contains("forwarded") && lines[1].contains("ESTABLISHED"),
        "{text}"
    );
    assert!(text.contains("ESTABLISHED src=192.168.1."), "{text}");
    assert!(text.contains("[ASSURED]"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
