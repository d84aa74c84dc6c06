//! `wasmwall rules check|list` and `wasmwall replay --trace`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn wasmwall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmwall"))
        .args(args)
        .output()
        .unwrap()
}

fn manifest(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

fn scratch(name: &str, text: &str) -> (PathBuf, String) {
    // One directory per file name: tests run in parallel and each removes its own.
    let dir =
        std::env::temp_dir().join(format!("wasmwall-rules-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    let s = p.display().to_string();
    (dir, s)
}

#[test]
fn check_reports_a_summary_or_the_first_error_with_its_position() {
    let ok = wasmwall(&[
        "rules",
        "check",
        &manifest("src/rules/tests/data/list_ruleset.rules"),
    ]);
    assert!(ok.status.success());
    let text = String::from_utf8(ok.stdout).unwrap();
    assert!(
        text.contains(
            "filter: 40 rules, 2 user chains; policies INPUT ACCEPT, FORWARD DROP, OUTPUT ACCEPT"
        ),
        "{text}"
    );
    assert!(text.contains("raw: 5 rules"), "{text}");

    let (dir, bad) = scratch(
        "bad.rules",
        "-P FORWARD DROP\n-A FORWARD -m state --state INVALID -j DROP\n-A FORWARD -p tcp --dport 99999 -j ACCEPT\n",
    );
    let out = wasmwall(&["rules", "check", &bad]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "{bad}:3:27: error: invalid port/service `99999' specified"
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "\n    -A FORWARD -p tcp --dport 99999 -j ACCEPT\n                              ^"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn list_prints_like_iptables_l() {
    let file = manifest("src/rules/tests/data/list_ruleset.rules");
    let out = wasmwall(&["rules", "list", "-v", "-n", "-x", &file]);
    assert!(out.status.success());
    let want =
        std::fs::read_to_string(manifest("src/rules/tests/data/list_filter_v_n_x.txt")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    let out = wasmwall(&["rules", "list", "-t", "raw", "--line-numbers", &file]);
    let want =
        std::fs::read_to_string(manifest("src/rules/tests/data/list_raw_n_line_numbers.txt"))
            .unwrap();
    assert_ne!(
        String::from_utf8(out.stdout.clone()).unwrap(),
        want,
        "-n was not given"
    );
    let out = wasmwall(&["rules", "list", "-t", "raw", "-n", "--line-numbers", &file]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    let out = wasmwall(&["rules", "list", "--chain", "mychain", "-n", &file]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Chain mychain (2 references)\ntarget     prot opt source               destination         \nRETURN     0    --  0.0.0.0/0            0.0.0.0/0           \n"
    );
    let out = wasmwall(&["rules", "list", "-t", "nat", &file]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown table `nat'"));
}

#[test]
fn replay_trace_explains_on_stderr_and_keeps_stdout_json() {
    let fixture = manifest("tests/kernel/reject_icmp_types.trace.json");
    let out = wasmwall(&["replay", "--trace", &fixture]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["steps"][0]["result"]["verdict"], "rejected");
    assert_eq!(
        json["steps"][0]["result"]["wasmwall"]["trace"][2],
        "filter:FORWARD:rule:3:REJECT"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("step 0 t=0.000 from lan: udp 192.168.1.97:40700 > 203.0.113.78:161 ttl=64 -> rejected\n    conntrack: NEW original, entry #1 created"), "{err}");
    assert!(err.contains("\n    filter:FORWARD:rule:3:REJECT\n    sent: icmp_error 192.168.1.1 > 192.168.1.97 out of lan\n    filter:OUTPUT:policy:ACCEPT\n"), "{err}");
    // Without --trace nothing goes to stderr.
    let out = wasmwall(&["replay", &fixture]);
    assert!(out.stderr.is_empty());
}

#[test]
fn pcap_replay_trace_lines_follow_each_packet() {
    let kernel: serde_json::Value = serde_json::from_slice(
        &std::fs::read(manifest("tests/kernel/reject_icmp_types.trace.json")).unwrap(),
    )
    .unwrap();
    let hex = kernel["steps"][0]["packet_hex"].as_str().unwrap();
    let packet = wasmwall::wire::decode_hex(hex).unwrap();
    // A pcap file, link type raw IPv4 (228), one packet.
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    for v in [
        0u32,
        0,
        65535,
        228,
        0,
        0,
        packet.len() as u32,
        packet.len() as u32,
    ] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(&packet);
    let (dir, rules) = scratch("rules.txt", &wasmwall::oracle::trace_rules(&kernel));
    let pcap = dir.join("one.pcap");
    std::fs::write(&pcap, f).unwrap();
    let out = wasmwall(&[
        "replay",
        "--rules",
        &rules,
        "--pcap",
        &pcap.display().to_string(),
        "--trace",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("rejected"), "{text}");
    assert_eq!(lines[3], "         filter:FORWARD:rule:3:REJECT", "{text}");
    assert!(text.contains("\n# iptables-save -c\n*filter\n"), "{text}");
    assert!(
        text.contains("[1:32] -A FORWARD -p udp -m udp --dport 161 -j REJECT --reject-with icmp-port-unreachable\n"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
