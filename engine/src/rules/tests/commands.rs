//! Single `iptables` command lines on a loaded ruleset, and counters on load.
//! Messages and positions follow what iptables 1.8.9 (nf_tables) answered to the
//! same commands in a scratch namespace.

use super::rules;
use crate::rules::{Ruleset, TableKind};

const BASE: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                    :A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j RETURN\n\
                    -A A -s 1.2.3.4/32 -j ACCEPT\n-A B -j DROP\nCOMMIT\n";

fn rule_lines(r: &Ruleset) -> Vec<String> {
    r.save(false)
        .lines()
        .filter(|l| l.starts_with("-A"))
        .map(String::from)
        .collect()
}

fn run(r: &mut Ruleset, line: &str) {
    r.apply_command(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"));
}

/// Asserts the command fails at `column` with `needle` in the message and leaves
/// the rules as they were.
fn refused(r: &mut Ruleset, line: &str, column: usize, needle: &str) {
    let before = r.clone();
    let e = r.apply_command(line).expect_err(line);
    assert_eq!((e.line, e.column), (1, column), "{line}: {e}");
    assert!(e.message.contains(needle), "{line}: {e}");
    assert_eq!(*r, before, "{line} changed the rules");
}

#[test]
fn append_insert_replace_delete() {
    let mut r = rules(BASE);
    run(&mut r, "iptables -A FORWARD -p tcp --dport 22 -j ACCEPT");
    run(&mut r, "-I FORWARD -m state --state INVALID -j DROP");
    run(&mut r, "-I FORWARD 3 -s 10.0.0.0/8 -j DROP");
    run(&mut r, "-R A 1 -j DROP");
    assert_eq!(
        rule_lines(&r),
        [
            "-A FORWARD -m state --state INVALID -j DROP",
            "-A FORWARD -j A",
            "-A FORWARD -s 10.0.0.0/8 -j DROP",
            "-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A A -j DROP",
            "-A A -s 1.2.3.4/32 -j ACCEPT",
            "-A B -j DROP",
        ]
    );
    // By specification: the first rule iptables-save would print the same way.
    run(&mut r, "-D FORWARD -p tcp --dport 22 -j ACCEPT");
    run(&mut r, "-D A -s 1.2.3.4 -j ACCEPT");
    // By number.
    run(&mut r, "-D FORWARD 1");
    assert_eq!(
        rule_lines(&r),
        [
            "-A FORWARD -j A",
            "-A FORWARD -s 10.0.0.0/8 -j DROP",
            "-A A -j DROP",
            "-A B -j DROP",
        ]
    );
    // A comma list adds, and deletes, one rule per address.
    run(&mut r, "-A B -s 1.1.1.1,2.2.2.2 -j RETURN");
    assert_eq!(rule_lines(&r).len(), 6);
    run(&mut r, "-D B -s 2.2.2.2,1.1.1.1 -j RETURN");
    assert_eq!(rule_lines(&r).len(), 4);
}

#[test]
fn chains_policies_flush_and_rename() {
    let mut r = rules(BASE);
    run(&mut r, "-P FORWARD ACCEPT");
    run(&mut r, "-N C");
    run(&mut r, "-A C -j LOG --log-prefix c");
    run(&mut r, "-E A Renamed");
    assert!(r.save(false).contains("-A FORWARD -j Renamed\n"));
    run(&mut r, "-F C");
    run(&mut r, "-X C");
    run(&mut r, "-F");
    assert!(rule_lines(&r).is_empty());
    run(&mut r, "-X");
    assert_eq!(
        r.save(false),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    );
}

#[test]
fn the_raw_table_and_counters() {
    let mut r = rules(BASE);
    assert!(r.table(TableKind::Raw).is_none());
    run(
        &mut r,
        "iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp",
    );
    assert!(r
        .save(false)
        .starts_with("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 21 -j CT --helper ftp\nCOMMIT\n*filter\n"));
    run(&mut r, "-t raw -D PREROUTING 1");
    run(&mut r, "-A FORWARD -c 7 70 -j RETURN");
    run(&mut r, "-A FORWARD -c 5 50 -j DROP");
    assert!(r
        .save(true)
        .contains("[7:70] -A FORWARD -j RETURN\n[5:50] -A FORWARD -j DROP\n"));
    run(&mut r, "-Z FORWARD 2");
    assert!(r
        .save(true)
        .contains("[0:0] -A FORWARD -j RETURN\n[5:50] -A FORWARD -j DROP\n"));
    run(&mut r, "-Z");
    assert!(r.save(true).contains("[0:0] -A FORWARD -j DROP\n"));
}

#[test]
fn refused_commands_change_nothing() {
    let mut r = rules(BASE);
    refused(&mut r, "-X A", 4, "still jumped to from chain FORWARD");
    refused(&mut r, "-X B", 4, "not empty");
    refused(&mut r, "-X", 1, "still jumped to");
    refused(&mut r, "-X FORWARD", 4, "built-in chain");
    refused(&mut r, "-D FORWARD -j B", 1, "Bad rule");
    refused(&mut r, "-D A 5", 6, "Index of deletion too big");
    refused(&mut r, "-D A 0", 6, "Invalid rule number `0'");
    refused(
        &mut r,
        "-D A 1 -j ACCEPT",
        8,
        "Illegal option `-j' with this command",
    );
    refused(&mut r, "-R A 3 -j DROP", 6, "Index of replacement too big");
    refused(&mut r, "-I A 4 -j DROP", 6, "Index of insertion too big");
    refused(&mut r, "-E A FORWARD", 6, "already exists");
    refused(&mut r, "-E FORWARD X", 4, "built-in chain");
    refused(&mut r, "-P A ACCEPT", 4, "Bad built-in chain name");
    refused(&mut r, "-P FORWARD RETURN", 12, "Bad policy name");
    refused(&mut r, "-N FORWARD", 4, "already exists");
    refused(&mut r, "-F nosuch", 4, "does not exist");
    refused(&mut r, "-Z nosuch", 4, "does not exist");
    refused(
        &mut r,
        "-A FORWARD -j ACCEPT -D FORWARD",
        22,
        "only one command",
    );
    refused(
        &mut r,
        "-A FORWARD -j NOSUCH",
        15,
        "Chain 'NOSUCH' does not exist",
    );
    refused(&mut r, "-A FORWARD -m foo", 15, "Couldn't load match");
    refused(&mut r, "-t nat -A PREROUTING -j ACCEPT", 4, "not supported");
    refused(&mut r, "ip6tables -A FORWARD -j ACCEPT", 1, "IPv4 only");
    refused(&mut r, "iptables", 1, "no command");
    refused(&mut r, "-A A -j A", 9, "makes a loop");
}

#[test]
fn a_script_applies_all_or_nothing() {
    let mut r = rules(BASE);
    let before = r.clone();
    let e = r
        .apply_commands("-A FORWARD -j ACCEPT\n# comment\n\n-A FORWARD -j NOPE\n")
        .unwrap_err();
    assert_eq!((e.line, e.column), (4, 15));
    assert_eq!(r, before);
    r.apply_commands("-N C\n-A FORWARD -j C\n-A C -j RETURN\n")
        .unwrap();
    assert!(r.save(false).contains("-A FORWARD -j C\n-A A -j RETURN"));
}

#[test]
fn counters_load_only_when_asked() {
    let text = "*filter\n:INPUT ACCEPT [7:8]\n:FORWARD DROP [9:10]\n:OUTPUT ACCEPT [0:0]\n:U - [3:4]\n\
                [1:2] -A FORWARD -c 5 300 -j ACCEPT\n[1:2] -A FORWARD -j ACCEPT\n-A FORWARD -j DROP\nCOMMIT\n";
    // As iptables-restore without -c: the explicit -c is honoured, the rest not.
    let plain = rules(text);
    assert_eq!(
        plain.save(true),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:U - [0:0]\n\
         [5:300] -A FORWARD -j ACCEPT\n[0:0] -A FORWARD -j ACCEPT\n[0:0] -A FORWARD -j DROP\nCOMMIT\n"
    );
    // As iptables-restore -c: both counters on one rule are an error.
    let e = Ruleset::parse_with_counters(text).unwrap_err();
    assert_eq!((e.line, e.column), (6, 18));
    assert!(e.message.contains("multiple -c"), "{e}");
    let text = text.replace(" -c 5 300", "");
    let r = Ruleset::parse_with_counters(&text).unwrap();
    assert_eq!(
        r.save(true),
        "*filter\n:INPUT ACCEPT [7:8]\n:FORWARD DROP [9:10]\n:OUTPUT ACCEPT [0:0]\n:U - [0:0]\n\
         [1:2] -A FORWARD -j ACCEPT\n[1:2] -A FORWARD -j ACCEPT\n[0:0] -A FORWARD -j DROP\nCOMMIT\n"
    );
    let e = Ruleset::parse_with_counters("*filter\n:INPUT ACCEPT [x:1]\nCOMMIT\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 15));
}
