//! Matching, traversal and counters.

use super::{icmp, rules, tcp, udp, Pkt};
use crate::conntrack::ctinfo::CtState;
use crate::conntrack::entry::{status, Entry, Helper, ProtoState};
use crate::conntrack::tuple::{Direction, Tuple};
use crate::rules::{Hook, RejectWith, Verdict};

const LAN: &str = "192.168.1.10";
const NET: &str = "203.0.113.5";

fn verdict(text: &str, p: &Pkt, state: CtState) -> (Verdict, Option<usize>) {
    let mut r = rules(text);
    let d = r.filter(Hook::Forward, &p.ctx(state));
    (d.verdict, d.rule)
}

#[test]
fn router_ruleset_counts_like_the_kernel() {
    let mut r = rules(
        "-P FORWARD DROP\n-A FORWARD -m state --state INVALID -j DROP\n\
         -A FORWARD -d 192.168.1.0/24 -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
         -A FORWARD -s 192.168.1.0/24 -j ACCEPT",
    );
    let syn = tcp(LAN, 40000, NET, 80, "S");
    let synack = tcp(NET, 80, LAN, 40000, "SA");
    let stray = tcp(NET, 80, LAN, 40001, "A");
    let d = r.filter(Hook::Forward, &syn.ctx(CtState::New));
    assert_eq!(
        (d.verdict, &*d.chain, d.rule),
        (Verdict::Accept, "FORWARD", Some(3))
    );
    assert_eq!(d.trace(), ["filter:FORWARD:rule:3:ACCEPT"]);
    let d = r.filter(Hook::Forward, &synack.ctx(CtState::Established));
    assert_eq!((d.verdict, d.rule), (Verdict::Accept, Some(2)));
    let d = r.filter(Hook::Forward, &stray.ctx(CtState::New));
    assert_eq!((d.verdict, d.rule), (Verdict::Drop, None));
    assert_eq!(d.trace(), ["filter:FORWARD:policy:DROP"]);
    let c = r.counters();
    let f = c.table("filter").unwrap();
    let counts: Vec<_> = f.rules.iter().map(|x| (x.packets, x.bytes)).collect();
    assert_eq!(counts, [(0, 0), (1, 40), (1, 40)]);
    let p = f.policy("FORWARD").unwrap();
    assert_eq!((p.policy.as_str(), p.packets, p.bytes), ("DROP", 1, 40));
    let saved = r.save(true);
    assert!(
        saved.contains(":FORWARD DROP [1:40]\n")
            && saved.contains("\n[1:40] -A FORWARD -s 192.168.1.0/24 -j ACCEPT\n")
    );
    r.zero_counters();
    assert!(r.save(true).contains(":FORWARD DROP [0:0]\n"));
}

#[test]
fn non_terminating_rules_count_and_continue() {
    let mut r = rules("-A FORWARD -p tcp\n-A FORWARD -m comment --comment x\n-A FORWARD -j DROP");
    let p = tcp(LAN, 1, NET, 2, "S");
    let d = r.filter(Hook::Forward, &p.ctx(CtState::New));
    assert_eq!(
        d.trace(),
        [
            "filter:FORWARD:rule:1:CONTINUE",
            "filter:FORWARD:rule:2:CONTINUE",
            "filter:FORWARD:rule:3:DROP"
        ]
    );
    assert!(r
        .counters()
        .table("filter")
        .unwrap()
        .rules
        .iter()
        .all(|x| x.packets == 1 && x.bytes == 40));
}

#[test]
fn user_chains_jump_return_and_goto() {
    let text = "-P FORWARD DROP\n-N A\n-N B\n-A FORWARD -j A\n-A FORWARD -p udp -j ACCEPT\n\
                -A A -p tcp -g B\n-A A -p icmp -j RETURN\n-A B -p tcp --dport 22 -j ACCEPT\n-A B -p tcp --dport 23 -j RETURN";
    let mut r = rules(text);
    let ssh = tcp(LAN, 1, NET, 22, "S");
    let d = r.filter(Hook::Forward, &ssh.ctx(CtState::New));
    assert_eq!(
        (d.verdict, &*d.chain, d.rule),
        (Verdict::Accept, "B", Some(1))
    );
    assert_eq!(
        d.trace(),
        [
            "filter:FORWARD:rule:1:JUMP:A",
            "filter:A:rule:1:GOTO:B",
            "filter:B:rule:1:ACCEPT"
        ]
    );
    // RETURN from B goes back past A (goto does not come back to A) to FORWARD rule 2.
    let telnet = tcp(LAN, 1, NET, 23, "S");
    let d = r.filter(Hook::Forward, &telnet.ctx(CtState::New));
    assert_eq!((d.verdict, d.rule), (Verdict::Drop, None));
    assert_eq!(
        d.trace(),
        [
            "filter:FORWARD:rule:1:JUMP:A",
            "filter:A:rule:1:GOTO:B",
            "filter:B:rule:2:RETURN",
            "filter:FORWARD:policy:DROP"
        ]
    );
    // Falling off the end of A returns to FORWARD rule 2.
    let dns = udp(LAN, 1, NET, 53);
    let d = r.filter(Hook::Forward, &dns.ctx(CtState::New));
    assert_eq!(
        (d.verdict, &*d.chain, d.rule),
        (Verdict::Accept, "FORWARD", Some(2))
    );
    assert_eq!(
        d.trace(),
        [
            "filter:FORWARD:rule:1:JUMP:A",
            "filter:A:return",
            "filter:FORWARD:rule:2:ACCEPT"
        ]
    );
    // RETURN in a built-in chain applies the policy.
    let mut r = rules("-P FORWARD DROP\n-A FORWARD -j RETURN\n-A FORWARD -j ACCEPT");
    let d = r.filter(Hook::Forward, &dns.ctx(CtState::New));
    assert_eq!((d.verdict, d.rule), (Verdict::Drop, None));
}

#[test]
fn a_walk_without_recording_decides_and_counts_the_same() {
    let text = "-P FORWARD DROP\n-N A\n-A FORWARD -j LOG --log-prefix x\n-A FORWARD -j A\n\
                -A A -p tcp -j MARK --set-mark 7\n-A A -p tcp --dport 22 -j ACCEPT";
    let (mut on, mut off) = (rules(text), rules(text));
    off.set_recording(false);
    for p in [tcp(LAN, 1, NET, 22, "S"), tcp(LAN, 1, NET, 23, "S")] {
        let a = on.filter(Hook::Forward, &p.ctx(CtState::New));
        let b = off.filter(Hook::Forward, &p.ctx(CtState::New));
        assert!(!a.steps.is_empty() && b.steps.is_empty());
        assert_eq!(
            (a.verdict, &a.chain, a.rule, a.mark),
            (b.verdict, &b.chain, b.rule, b.mark)
        );
    }
    assert_eq!(on.save(true), off.save(true));
}

#[test]
fn recent_lists_outlive_a_reload_while_a_rule_names_them() {
    let text = "-A FORWARD -m recent --set --name A\n-A FORWARD -m recent --set --name B";
    let mut old = rules(text);
    old.filter(Hook::Forward, &udp(LAN, 1, NET, 2).ctx(CtState::New));
    let listed =
        |r: &crate::rules::Ruleset, name: &str| r.recent_lists().get(name).map(|l| l.len());
    assert_eq!((listed(&old, "A"), listed(&old, "B")), (Some(1), Some(1)));
    let mut new = rules(
        "-A FORWARD -m recent --rcheck --name A -j DROP\n-A FORWARD -m recent --set --name C",
    );
    new.keep_recent_lists_of(&mut old);
    assert_eq!(
        (listed(&new, "A"), listed(&new, "B"), listed(&new, "C")),
        (Some(1), None, Some(0))
    );
    let d = new.filter(Hook::Forward, &udp(LAN, 1, NET, 2).ctx(CtState::New));
    assert_eq!(d.rule, Some(1), "A still lists the source");
    // A rule that needs more stamps than the list keeps empties it.
    let mut wider = rules("-A FORWARD -m recent --rcheck --hitcount 64 --name A");
    wider.keep_recent_lists_of(&mut new);
    assert_eq!(listed(&wider, "A"), Some(0));
}

#[test]
fn addresses_interfaces_protocols_fragments() {
    let p = tcp(LAN, 1000, NET, 80, "S");
    assert_eq!(
        verdict("-A FORWARD -s 192.168.1.0/24 -j DROP", &p, CtState::New).0,
        Verdict::Drop
    );
    assert_eq!(
        verdict("-A FORWARD ! -s 192.168.1.0/24 -j DROP", &p, CtState::New).0,
        Verdict::Accept
    );
    assert_eq!(
        verdict(
            "-A FORWARD -d 203.0.113.0/255.255.255.0 -j DROP",
            &p,
            CtState::New
        )
        .0,
        Verdict::Drop
    );
    assert_eq!(
        verdict("-A FORWARD -i lan -o wan -j DROP", &p, CtState::New).0,
        Verdict::Drop
    );
    assert_eq!(
        verdict("-A FORWARD -i wan -j DROP", &p, CtState::New).0,
        Verdict::Accept
    );
    assert_eq!(
        verdict("-A FORWARD -i la+ ! -o lan -j DROP", &p, CtState::New).0,
        Verdict::Drop
    );
    assert_eq!(
        verdict("-A FORWARD -p 6 -j DROP", &p, CtState::New).0,
        Verdict::Drop
    );
    assert_eq!(
        verdict("-A FORWARD ! -p tcp -j DROP", &p, CtState::New).0,
        Verdict::Accept
    );
    assert_eq!(
        verdict("-A FORWARD -f -j DROP", &p, CtState::New).0,
        Verdict::Accept
    );
    assert_eq!(
        verdict("-A FORWARD ! -f -j DROP", &p, CtState::New).0,
        Verdict::Drop
    );
    let mut frag = p.bytes.clone();
    frag[6..8].copy_from_slice(&[0, 3]);
    fix_ip_checksum(&mut frag);
    let frag = Pkt::from_bytes(frag);
    assert_eq!(
        verdict("-A FORWARD -f -j DROP", &frag, CtState::Invalid).0,
        Verdict::Drop
    );
    // Native port matches read a non-first fragment's data as if it were a
    // header (as nf_tables does); x_tables matches (multiport, icmp, --tcp-option)
    // skip such fragments.
    let drops = |r: &str| verdict(r, &frag, CtState::Invalid).0 == Verdict::Drop;
    assert!(drops("-A FORWARD -p tcp --dport 80 -j DROP"));
    assert!(!drops("-A FORWARD -p tcp ! --dport 80 -j DROP"));
    assert!(!drops("-A FORWARD -p tcp -m multiport --dports 80 -j DROP"));
    assert!(!drops(
        "-A FORWARD -p tcp -m multiport ! --dports 80 -j DROP"
    ));
}

fn fix_ip_checksum(b: &mut [u8]) {
    b[10..12].copy_from_slice(&[0, 0]);
    let c = crate::wire::ipv4_header_checksum(&b[..20]);
    b[10..12].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn tcp_udp_ports_and_flags() {
    let syn = tcp(LAN, 40000, NET, 80, "S");
    let ack = tcp(LAN, 40000, NET, 80, "A");
    let rule = |r: &str| format!("-A FORWARD {r} -j DROP");
    let drops = |r: &str, p: &Pkt| verdict(&rule(r), p, CtState::New).0 == Verdict::Drop;
    assert!(drops("-p tcp --dport 80", &syn));
    assert!(drops("-p tcp --dport 1:100 --sport 40000", &syn));
    assert!(!drops("-p tcp ! --dport 80", &syn));
    assert!(drops("-p tcp --syn", &syn));
    assert!(!drops("-p tcp --syn", &ack));
    assert!(drops("-p tcp ! --syn", &ack));
    assert!(drops("-p tcp --tcp-flags SYN,ACK ACK", &ack));
    assert!(drops("-p tcp --tcp-flags NONE NONE", &ack));
    assert!(!drops("-p udp --dport 80", &syn));
    let dns = udp(LAN, 5353, NET, 53);
    assert!(drops("-p udp --dport domain", &dns));
    assert!(drops("-p udp --sport 5000:6000", &dns));
    assert!(drops("-p udp -m multiport --dports 1,53:54", &dns));
    assert!(drops("-p udp -m multiport --ports 5353", &dns));
    assert!(!drops("-p udp -m multiport --sports 53", &dns));
    assert!(drops("-p udp -m multiport ! --sports 53", &dns));
    // Several tcp matches: all must pass (the kernel ANDs them).
    assert!(!drops("-p tcp --dport 80 -m tcp --dport 81", &syn));
}

#[test]
fn tcp_option_match_uses_the_compat_match() {
    let spec = crate::wire::TcpOptionsSpec {
        mss: Some(1460),
        ..Default::default()
    };
    let mut t = crate::wire::TcpSpec {
        sport: 1,
        dport: 2,
        flags: "S".into(),
        seq: 1,
        ack: 0,
        win: 100,
        urg: 0,
        options: spec,
        payload: vec![],
        bad_csum: false,
    };
    let with_mss = Pkt::build(crate::wire::PacketSpec {
        ip: super::ip(LAN, NET),
        transport: crate::wire::Transport::Tcp(t.clone()),
    });
    t.options = Default::default();
    let plain = Pkt::build(crate::wire::PacketSpec {
        ip: super::ip(LAN, NET),
        transport: crate::wire::Transport::Tcp(t),
    });
    let text = "-A FORWARD -p tcp --tcp-option 2 -j DROP";
    assert_eq!(verdict(text, &with_mss, CtState::New).0, Verdict::Drop);
    assert_eq!(verdict(text, &plain, CtState::New).0, Verdict::Accept);
}

/// A packet with protocol `proto` and raw transport bytes `l4`.
fn raw(proto: u8, l4: &[u8], frag: u16) -> Pkt {
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
    b.extend_from_slice(l4);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    fix_ip_checksum(&mut b);
    Pkt::from_bytes(b)
}

/// As recorded on 6.18 with iptables-nft: native port tests on a short header do not
/// match, the x_tables icmp / multiport / tcp-option matches hotdrop.
#[test]
fn short_transport_headers() {
    let t8 = raw(6, &[0x9c, 0x40, 0x00, 0x51, 0, 0, 3, 0xe8], 0);
    let ctx = CtState::Invalid;
    assert_eq!(
        verdict("-A FORWARD -p tcp ! --dport 80 -j DROP", &t8, ctx).0,
        Verdict::Drop
    );
    assert_eq!(
        verdict("-A FORWARD -p tcp --tcp-flags SYN NONE -j DROP", &t8, ctx).0,
        Verdict::Accept
    );
    let (v, rule) = verdict(
        "-P FORWARD ACCEPT\n-A FORWARD -p tcp --tcp-option 2 -j ACCEPT",
        &t8,
        ctx,
    );
    assert_eq!((v, rule), (Verdict::Drop, Some(1)));
    let t2 = raw(6, &[0x9c, 0x40], 0);
    assert_eq!(
        verdict("-A FORWARD -p tcp ! --dport 80 -j DROP", &t2, ctx).0,
        Verdict::Accept
    );
    assert_eq!(
        verdict(
            "-A FORWARD -p tcp -m multiport ! --dports 80 -j ACCEPT",
            &t2,
            ctx
        )
        .0,
        Verdict::Drop
    );
    let i7 = raw(1, &[8, 0, 0, 0, 0, 0, 0], 0);
    let mut r = rules("-A FORWARD -p icmp --icmp-type any -j ACCEPT\n-A FORWARD -j ACCEPT");
    let d = r.filter(Hook::Forward, &i7.ctx(ctx));
    assert_eq!((d.verdict, d.rule), (Verdict::Drop, Some(1)));
    assert_eq!(d.trace(), ["filter:FORWARD:rule:1:HOTDROP"]);
    assert!(r
        .counters()
        .table("filter")
        .unwrap()
        .rules
        .iter()
        .all(|x| x.packets == 0));
    let u4 = raw(17, &[0x9c, 0x40, 0x00, 0x51], 0);
    assert_eq!(
        verdict("-A FORWARD -p udp ! --dport 80 -j DROP", &u4, ctx).0,
        Verdict::Drop
    );
    // Fragments: offset 1 hotdrops in the x_tables tcp match only.
    let f1 = raw(6, &[0x9c, 0x40, 0x00, 0x51, 0, 0, 3, 0xe8], 1);
    assert_eq!(
        verdict(
            "-A FORWARD -p tcp -m multiport ! --dports 80 -j DROP",
            &f1,
            ctx
        )
        .0,
        Verdict::Accept
    );
    assert_eq!(
        verdict("-A FORWARD -p tcp --tcp-option 2 -j ACCEPT", &f1, ctx).0,
        Verdict::Drop
    );
}

#[test]
fn icmp_types() {
    let echo = icmp(LAN, NET, 8, 0);
    let unreach = icmp(LAN, NET, 3, 3);
    let drops = |r: &str, p: &Pkt| {
        verdict(&format!("-A FORWARD -p icmp {r} -j DROP"), p, CtState::New).0 == Verdict::Drop
    };
    assert!(drops("--icmp-type echo-request", &echo));
    assert!(!drops("--icmp-type echo-reply", &echo));
    assert!(drops("--icmp-type any", &echo));
    assert!(drops("--icmp-type port-unreachable", &unreach));
    assert!(drops("--icmp-type destination-unreachable", &unreach));
    assert!(!drops("--icmp-type 3/1", &unreach));
    assert!(drops("! --icmp-type 3/1", &unreach));
}

#[test]
fn state_bits_and_no_connection() {
    let p = udp(LAN, 1, NET, 2);
    let text = |m: &str| format!("-A FORWARD {m} -j DROP");
    let drops = |m: &str, s: CtState| verdict(&text(m), &p, s).0 == Verdict::Drop;
    assert!(drops("-m state --state NEW", CtState::New));
    assert!(drops(
        "-m state --state RELATED,ESTABLISHED",
        CtState::Related
    ));
    assert!(drops("-m state --state UNTRACKED", CtState::Untracked));
    assert!(drops("-m state ! --state NEW", CtState::Invalid));
    assert!(!drops("-m state --state INVALID", CtState::Untracked));
    assert!(drops("-m conntrack --ctstate INVALID", CtState::Invalid));
    // Without a connection only a passed --ctstate test matches.
    assert!(!drops("-m conntrack --ctstatus NONE", CtState::Invalid));
    assert!(!drops(
        "-m conntrack ! --ctstatus ASSURED",
        CtState::Untracked
    ));
    assert!(!drops(
        "-m conntrack --ctstate INVALID --ctdir ORIGINAL",
        CtState::New
    ));
    assert!(drops(
        "-m conntrack --ctstate INVALID --ctdir REPLY",
        CtState::Invalid
    ));
    assert!(!drops("-m conntrack --ctproto udp", CtState::Untracked));
}

fn entry(status_bits: u32) -> Entry {
    let t = Tuple::ports(17, LAN.parse().unwrap(), 1, NET.parse().unwrap(), 2);
    Entry {
        id: 1,
        original: t,
        status: status_bits,
        expires_ms: 30_000,
        proto: ProtoState::Udp {
            stream_after_ms: 2000,
        },
        mark: 0,
        helper: None,
        master: None,
        ext: None,
    }
}

#[test]
fn conntrack_tests_on_the_connection() {
    let p = udp(NET, 2, LAN, 1);
    let e = entry(status::SEEN_REPLY | status::CONFIRMED | status::DST_NAT);
    let run = |m: &str, dir: Direction| {
        let mut r = rules(&format!("-A FORWARD {m} -j DROP"));
        let mut ctx = p.ctx(CtState::Established);
        ctx.ct = Some(&e);
        ctx.ct_dir = Some(dir);
        ctx.now_ms = 1_500;
        r.filter(Hook::Forward, &ctx).verdict == Verdict::Drop
    };
    assert!(run("-m conntrack --ctstatus SEEN_REPLY", Direction::Reply));
    assert!(!run("-m conntrack --ctstatus ASSURED", Direction::Reply));
    assert!(run(
        "-m conntrack ! --ctstatus ASSURED,EXPECTED",
        Direction::Reply
    ));
    assert!(run("-m conntrack --ctdir REPLY", Direction::Reply));
    assert!(!run("-m conntrack --ctdir REPLY", Direction::Original));
    assert!(run(
        "-m conntrack --ctproto 17 --ctstate ESTABLISHED",
        Direction::Reply
    ));
    assert!(!run("-m conntrack ! --ctproto udp", Direction::Reply));
    assert!(run("-m conntrack --ctstate DNAT", Direction::Reply));
    assert!(!run("-m conntrack --ctstate SNAT", Direction::Reply));
    assert!(run("-m conntrack --ctexpire 28:29", Direction::Reply));
    assert!(!run("-m conntrack --ctexpire 30", Direction::Reply));
}

#[test]
fn conntrack_tuple_addresses_ports_and_unconfirmed_expiry() {
    // The connection was opened by LAN:1 towards NET:2; this packet is the reply.
    let p = udp(NET, 2, LAN, 1);
    let confirmed = entry(status::SEEN_REPLY | status::CONFIRMED);
    let unconfirmed = entry(0);
    let run = |m: &str, e: &Entry| {
        let mut r = rules(&format!("-A FORWARD {m} -j DROP"));
        let mut ctx = p.ctx(CtState::Established);
        ctx.ct = Some(e);
        ctx.ct_dir = Some(Direction::Reply);
        ctx.now_ms = 1_500;
        r.filter(Hook::Forward, &ctx).verdict == Verdict::Drop
    };
    let c = &confirmed;
    assert!(run("-m conntrack --ctorigsrc 192.168.1.0/24", c));
    assert!(!run("-m conntrack --ctorigdst 192.168.1.0/24", c));
    assert!(run(
        "-m conntrack --ctreplsrc 203.0.113.5 --ctrepldst 192.168.1.10",
        c
    ));
    assert!(run("-m conntrack ! --ctreplsrc 203.0.113.6", c));
    assert!(!run("-m conntrack ! --ctorigsrc 192.168.0.0/16", c));
    assert!(run("-m conntrack --ctorigsrcport 1 --ctorigdstport 2", c));
    assert!(run("-m conntrack --ctreplsrcport 2 --ctrepldstport 0:1", c));
    assert!(!run("-m conntrack --ctreplsrcport 3:65535", c));
    assert!(run("-m conntrack ! --ctreplsrcport 3:65535", c));
    assert!(!run("-m conntrack --ctorigdstport 9:3", c));
    // Without a connection only a passing --ctstate matches.
    let mut r = rules("-A FORWARD -m conntrack --ctorigsrc 0.0.0.0/0 -j DROP");
    assert_eq!(
        r.filter(Hook::Forward, &p.ctx(CtState::Invalid)).verdict,
        Verdict::Accept
    );
    // An entry that is not confirmed yet has no timer: the kernel reports 0.
    assert!(run("-m conntrack --ctexpire 0", &unconfirmed));
    assert!(!run("-m conntrack --ctexpire 0", c));
}

#[test]
fn iprange_length_ttl() {
    let p = udp(LAN, 1, NET, 53); // 33 bytes, TTL 64
    let drops =
        |m: &str| verdict(&format!("-A FORWARD {m} -j DROP"), &p, CtState::New).0 == Verdict::Drop;
    assert!(drops("-m iprange --src-range 192.168.1.10-192.168.1.20"));
    assert!(drops("-m iprange --src-range 192.168.1.10"));
    assert!(!drops("-m iprange --src-range 192.168.1.11-192.168.1.20"));
    assert!(drops("-m iprange ! --src-range 192.168.1.11-192.168.1.20"));
    assert!(!drops("-m iprange --src-range 192.168.1.20-192.168.1.10"));
    assert!(drops(
        "-m iprange --dst-range 203.0.113.0-203.0.113.255 --src-range 192.168.1.0-192.168.1.255"
    ));
    assert!(!drops(
        "-m iprange --dst-range 203.0.113.0-203.0.113.255 ! --src-range 192.168.1.0-192.168.1.255"
    ));
    assert!(drops("-m length --length 33"));
    assert!(drops("-m length --length 20:33"));
    assert!(!drops("-m length --length 34:"));
    assert!(drops("-m length ! --length 34:"));
    assert!(!drops("-m length --length 40:20"));
    assert!(drops("-m ttl --ttl-eq 64"));
    assert!(!drops("! -p tcp -m ttl ! --ttl-eq 64"));
    assert!(drops("-m ttl --ttl-gt 63"));
    assert!(!drops("-m ttl --ttl-gt 64"));
    assert!(drops("-m ttl --ttl-lt 65"));
    assert!(!drops("-m ttl --ttl-lt 64"));
}

#[test]
fn mark_targets_and_the_mark_match() {
    let p = udp(LAN, 1, NET, 53);
    let run = |text: &str, mark: u32| {
        let mut r = rules(text);
        let mut ctx = p.ctx(CtState::New);
        ctx.mark = mark;
        r.filter(Hook::Forward, &ctx)
    };
    // The mark a raw rule set arrives with the packet; MARK changes it for later rules.
    let d = run(
        "-A FORWARD -m mark --mark 0x5 -j MARK --set-mark 0x7
         -A FORWARD -m mark --mark 0x7 -j MARK --or-mark 0x10
         -A FORWARD -m mark --mark 0x10/0x10 -j DROP",
        5,
    );
    assert_eq!((d.verdict, d.rule, d.mark), (Verdict::Drop, Some(3), 0x17));
    assert_eq!(
        d.trace(),
        [
            "filter:FORWARD:rule:1:MARK",
            "filter:FORWARD:rule:2:MARK",
            "filter:FORWARD:rule:3:DROP"
        ]
    );
    let apply = |target: &str, mark: u32| run(&format!("-A FORWARD -j MARK {target}"), mark).mark;
    assert_eq!(apply("--set-xmark 0x5/0xff", 0x1234), 0x1205);
    assert_eq!(apply("--set-mark 0x5/0xf0", 0x1234), 0x1205);
    assert_eq!(apply("--and-mark 0xf0", 0x1234), 0x30);
    assert_eq!(apply("--or-mark 0x3", 0x1234), 0x1237);
    assert_eq!(apply("--xor-mark 0x3", 0x1234), 0x1237);
    assert_eq!(apply("--set-mark 9", 0x1234), 9);
    assert!(run("-A FORWARD -m mark ! --mark 5 -j DROP", 5).verdict == Verdict::Accept);
    assert!(run("-A FORWARD -m mark --mark 0x4/0x4 -j DROP", 5).verdict == Verdict::Drop);
}

#[test]
fn log_continues_and_records_the_line() {
    let p = tcp(LAN, 40000, NET, 80, "S");
    let mut r = rules(
        "-A FORWARD -p tcp -j LOG --log-prefix \"fw: \" --log-level info
-A FORWARD -j DROP",
    );
    let d = r.filter(Hook::Forward, &p.ctx(CtState::New));
    assert_eq!((d.verdict, d.rule), (Verdict::Drop, Some(2)));
    assert_eq!(
        d.trace(),
        ["filter:FORWARD:rule:1:LOG", "filter:FORWARD:rule:2:DROP"]
    );
    let crate::rules::StepAt::Rule {
        action: crate::rules::StepAction::Log(entry),
        ..
    } = &d.steps[0].at
    else {
        panic!("{:?}", d.steps[0]);
    };
    assert_eq!(entry.level, 6);
    assert!(
        entry
            .text
            .starts_with("fw: IN=lan OUT=wan MAC= SRC=192.168.1.10 DST=203.0.113.5 LEN=40 "),
        "{}",
        entry.text
    );
    let c = r.counters();
    let f = c.table("filter").unwrap();
    assert_eq!(
        f.rules
            .iter()
            .map(|x| (x.packets, x.bytes))
            .collect::<Vec<_>>(),
        [(1, 40), (1, 40)]
    );
}

#[test]
fn limit_passes_bursts_then_the_rate() {
    // 2/second, burst 2: a 500 ms bucket step.
    let p = udp(LAN, 1, NET, 53);
    let mut r = rules(
        "-A FORWARD -m limit --limit 2/s --limit-burst 2 -j ACCEPT
-A FORWARD -j DROP",
    );
    let mut at = |ms: u64| {
        let mut ctx = p.ctx(CtState::New);
        ctx.now_ms = ms;
        r.filter(Hook::Forward, &ctx).rule
    };
    let got: Vec<_> = [0, 10, 20, 400, 520, 530, 2000, 2001, 2002]
        .map(&mut at)
        .to_vec();
    assert_eq!(
        got,
        [
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(1),
            Some(2),
            Some(1),
            Some(1),
            Some(2)
        ]
    );
    // A rule whose earlier match fails spends no token.
    let mut r = rules(
        "-A FORWARD -p tcp -m limit --limit 1/h --limit-burst 1 -j DROP
-A FORWARD -m limit --limit 1/h --limit-burst 1 -j DROP",
    );
    assert_eq!(r.filter(Hook::Forward, &p.ctx(CtState::New)).rule, Some(2));
    assert_eq!(r.filter(Hook::Forward, &p.ctx(CtState::New)).rule, None);
}

#[test]
fn reject_verdicts() {
    let p = tcp(LAN, 1, NET, 23, "S");
    let text =
        "-A FORWARD -p tcp --dport 23 -j REJECT --reject-with tcp-reset\n-A FORWARD -j REJECT";
    assert_eq!(
        verdict(text, &p, CtState::New),
        (Verdict::Reject(RejectWith::TcpReset), Some(1))
    );
    let u = udp(LAN, 1, NET, 161);
    assert_eq!(
        verdict(text, &u, CtState::New),
        (Verdict::Reject(RejectWith::IcmpPortUnreachable), Some(2))
    );
}

#[test]
fn raw_table_notrack_and_helper() {
    let mut r = rules(
        "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A PREROUTING -p udp --dport 5353 -j CT --notrack\n\
         -A PREROUTING -p udp --dport 5353 -j CT\n\
         -A PREROUTING -m state --state UNTRACKED -j ACCEPT\n\
         -A PREROUTING -p tcp --dport 21 -j CT --helper ftp\n\
         -A PREROUTING -s 10.0.0.0/8 -j DROP\nCOMMIT\n",
    );
    assert!(r.uses_conntrack());
    let mdns = udp(LAN, 5353, "224.0.0.251", 5353);
    let d = r.raw_prerouting(&mdns.ctx(CtState::Invalid));
    assert!(d.notrack && d.helper.is_none() && d.verdict == Verdict::Accept);
    assert_eq!(
        d.trace(),
        [
            "raw:PREROUTING:rule:1:CT",
            "raw:PREROUTING:rule:2:CT",
            "raw:PREROUTING:rule:3:ACCEPT"
        ]
    );
    let ftp = tcp(LAN, 40000, NET, 21, "S");
    let d = r.raw_prerouting(&ftp.ctx(CtState::Invalid));
    assert_eq!(
        (d.notrack, d.helper, d.verdict),
        (false, Some(Helper::Ftp), Verdict::Accept)
    );
    let spoof = udp("10.1.2.3", 1, NET, 2);
    assert_eq!(
        r.raw_prerouting(&spoof.ctx(CtState::Invalid)).verdict,
        Verdict::Drop
    );
    let raw = r.counters();
    let raw = raw.table("raw").unwrap();
    assert_eq!(
        raw.rules.iter().map(|x| x.packets).collect::<Vec<_>>(),
        [1, 1, 1, 1, 1]
    );
    assert_eq!(raw.policy("PREROUTING").unwrap().packets, 1);
    // NOTRACK alone does not load conntrack; no raw table is a no-op.
    assert!(!rules("*raw\n-A PREROUTING -j NOTRACK\nCOMMIT\n").uses_conntrack());
    let d = rules("").raw_prerouting(&ftp.ctx(CtState::Invalid));
    assert_eq!(
        (d.notrack, d.helper, d.verdict),
        (false, None, Verdict::Accept)
    );
}

#[test]
fn hooks_without_a_filter_chain_accept() {
    let mut r = rules("-P INPUT DROP");
    let p = udp(LAN, 1, NET, 2);
    assert_eq!(
        r.filter(Hook::Prerouting, &p.ctx(CtState::New)).verdict,
        Verdict::Accept
    );
    assert_eq!(
        r.filter(Hook::Input, &p.ctx(CtState::New)).verdict,
        Verdict::Drop
    );
}

#[cfg(feature = "serde")]
#[test]
fn counters_serialise_in_the_trace_shape() {
    let mut r = rules("-P FORWARD DROP\n-N X\n-A FORWARD -p udp -j ACCEPT");
    r.filter(Hook::Forward, &udp(LAN, 1, NET, 2).ctx(CtState::New));
    let v = serde_json::to_value(r.counters()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"filter": {
            "policies": {"INPUT": {"policy": "ACCEPT", "packets": 0, "bytes": 0},
                         "FORWARD": {"policy": "DROP", "packets": 0, "bytes": 0},
                         "OUTPUT": {"policy": "ACCEPT", "packets": 0, "bytes": 0},
                         "X": {"policy": "-", "packets": 0, "bytes": 0}},
            "rules": [{"chain": "FORWARD", "rule": "-A FORWARD -p udp -j ACCEPT", "packets": 1, "bytes": 33}]}})
    );
}
