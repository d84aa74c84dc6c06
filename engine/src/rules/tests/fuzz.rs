//! No input makes the rule engine panic: arbitrary text, near-miss rule lines, and
//! arbitrary packets through a ruleset and REJECT.

use super::Pkt;
use crate::conntrack::ctinfo::CtState;
use crate::rules::{reject_response, Hook, RejectWith, Ruleset};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "-A",
    "-I",
    "-N",
    "-P",
    "FORWARD",
    "INPUT",
    "OUTPUT",
    "PREROUTING",
    "X",
    "!",
    "-s",
    "-d",
    "-i",
    "-o",
    "-p",
    "tcp",
    "udp",
    "icmp",
    "all",
    "-m",
    "state",
    "conntrack",
    "multiport",
    "comment",
    "--comment",
    "\"a b\"",
    "--state",
    "NEW,EST",
    "--ctstate",
    "--ctdir",
    "REPLY",
    "--dport",
    "--sport",
    "80:90",
    "--dports",
    "1,2:3",
    "--syn",
    "--tcp-flags",
    "SYN,ACK",
    "SYN",
    "--icmp-type",
    "echo-request",
    "3/3",
    "-j",
    "-g",
    "ACCEPT",
    "DROP",
    "RETURN",
    "REJECT",
    "--reject-with",
    "tcp-reset",
    "CT",
    "--notrack",
    "--helper",
    "ftp",
    "NOTRACK",
    "10.0.0.0/8",
    "1.2.3.4,5.6.7.8",
    "lan+",
    "-f",
    "[1:2]",
    "*filter",
    "*raw",
    "COMMIT",
    ":X",
    "-",
    "\n",
    "\n",
    "\n",
    "--tcp-option",
    "2",
    "--dp=80",
    "-c",
    "0",
    "-D",
    "-R",
    "-F",
    "-X",
    "-Z",
    "-E",
    "1",
    "-t",
    "raw",
    "limit",
    "--limit",
    "3/s",
    "--limit-burst",
    "mark",
    "--mark",
    "0x5/0xff",
    "MARK",
    "--set-mark",
    "--and-mark",
    "LOG",
    "--log-prefix",
    "--log-level",
    "length",
    "--length",
    "ttl",
    "--ttl-eq",
    "--ttl-lt",
    "iprange",
    "--src-range",
    "addrtype",
    "--src-type",
    "--dst-type",
    "LOCAL,BROADCAST",
    "--limit-iface-in",
    "--limit-iface-out",
    "tos",
    "--tos",
    "Minimize-Delay",
    "0x10/0x3f",
    "dscp",
    "--dscp",
    "--dscp-class",
    "helper",
    "--helper",
    "connmark",
    "CONNMARK",
    "--save-mark",
    "--restore-mark",
    "--ctmask",
    "--nfmask",
    "1.2.3.4-1.2.3.9",
    "mac",
    "--mac-source",
    "00:11:22:33:44:55",
    "--ctorigsrc",
    "--ctrepldstport",
    "1024:",
];

fn sentence() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(WORDS), 0..40).prop_map(|w| w.join(" "))
}

fn run_all(r: &mut Ruleset, bytes: Vec<u8>) {
    let Ok(packet) = crate::wire::parse(&bytes) else {
        return;
    };
    let p = Pkt { bytes, packet };
    for state in [
        CtState::New,
        CtState::Established,
        CtState::Related,
        CtState::Invalid,
        CtState::Untracked,
    ] {
        let ctx = p.ctx(state);
        r.raw_prerouting(&ctx);
        for hook in [
            Hook::Prerouting,
            Hook::Input,
            Hook::Forward,
            Hook::Output,
            Hook::Postrouting,
        ] {
            r.filter(hook, &ctx);
        }
    }
    for with in [
        RejectWith::TcpReset,
        RejectWith::IcmpPortUnreachable,
        RejectWith::IcmpAdminProhibited,
    ] {
        reject_response(&p.bytes, &p.packet, with, "192.168.1.1".parse().unwrap());
    }
}

/// An IPv4 header with a valid checksum in front of arbitrary transport bytes.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        0u16..4,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(proto, frag, mf, l4)| {
            let proto = [1, 6, 17, 47, proto][usize::from(proto % 5)];
            let frag = frag | if mf { 0x2000 } else { 0 };
            let mut b = vec![
                0x45,
                0,
                0,
                0,
                0,
                1,
                (frag >> 8) as u8,
                frag as u8,
                64,
                proto,
                0,
                0,
                192,
                168,
                1,
                10,
                203,
                0,
                113,
                5,
            ];
            b.extend_from_slice(&l4);
            let len = b.len() as u16;
            b[2..4].copy_from_slice(&len.to_be_bytes());
            let c = crate::wire::ipv4_header_checksum(&b[..20]);
            b[10..12].copy_from_slice(&c.to_be_bytes());
            b
        })
}

const RULES: &str = "*raw\n-A PREROUTING -p udp -m multiport --dports 1:100 -j CT --notrack\n\
    -A PREROUTING -p tcp --dport 21 -j CT --helper ftp\nCOMMIT\n*filter\n:X - [0:0]\n\
    -A FORWARD -f -j DROP\n-A FORWARD -p tcp --tcp-option 2 -j X\n-A FORWARD -p tcp ! --syn --sport 1:1000 -j X\n\
    -A FORWARD -p icmp --icmp-type 3/3 -j ACCEPT\n-A FORWARD -p udp -m multiport ! --ports 53 -j REJECT\n\
    -A FORWARD -m conntrack --ctstate NEW --ctstatus ASSURED --ctdir ORIGINAL -j DROP\n\
    -A FORWARD -p tcp -j REJECT --reject-with tcp-reset\n-A X -m state --state INVALID -j RETURN\n\
    -A X -m limit --limit 5/s -j LOG --log-prefix x --log-tcp-sequence --log-tcp-options --log-ip-options\n\
    -A X -m length --length 40:80 -m ttl --ttl-lt 65 -m iprange --src-range 192.168.1.0-192.168.1.255 -j MARK --or-mark 4\n\
    -A X -m mark --mark 4/4 -m conntrack --ctorigsrc 10.0.0.0/8 --ctreplsrcport 1:1024 -j RETURN\n-A X -j DROP\nCOMMIT\n";

proptest! {
    #[test]
    fn any_text_parses_or_errs(text in "\\PC*") {
        let _ = Ruleset::parse(&text);
    }

    #[test]
    fn near_miss_lines_parse_or_err(lines in proptest::collection::vec(sentence(), 0..6)) {
        if let Ok(r) = Ruleset::parse(&lines.join("\n")) {
            let again = Ruleset::parse(&r.save(false)).expect("saved text loads");
            prop_assert_eq!(again.save(false), r.save(false));
        }
    }

    /// Command lines on a loaded ruleset: applied, or refused without a change.
    #[test]
    fn command_lines_apply_or_change_nothing(lines in proptest::collection::vec(sentence(), 1..6)) {
        let mut r = Ruleset::parse(RULES).unwrap();
        for line in &lines {
            let before = r.clone();
            if r.apply_command(line).is_err() {
                prop_assert_eq!(&r, &before);
            } else {
                let again = Ruleset::parse(&r.save(false)).expect("saved text loads");
                prop_assert_eq!(again.save(false), r.save(false));
            }
        }
    }

    #[test]
    fn any_packet_is_evaluated(bytes in packet()) {
        let mut r = Ruleset::parse(RULES).unwrap();
        run_all(&mut r, bytes);
    }
}

#[test]
fn long_jump_chains_are_refused_without_deep_recursion() {
    let n = 5_000;
    let mut t = String::from("*filter\n");
    for i in 0..n {
        t += &format!(":C{i} - [0:0]\n");
    }
    t += "-A FORWARD -j C0\n";
    for i in 1..n {
        t += &format!("-A C{} -j C{i}\n", i - 1);
    }
    t += "COMMIT\n";
    let e = Ruleset::parse(&t).unwrap_err();
    assert!(e.message.contains("nested"), "{e}");
}
