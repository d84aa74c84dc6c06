//! The FTP helper end to end: a control connection with `-j CT --helper ftp`, the
//! commands and replies that announce data connections, the expectations they create
//! (`/proc/net/nf_conntrack_expect`), and the data connections that become RELATED.

use std::net::Ipv4Addr;
use wasmwall::conntrack::{
    status, Conntrack, CtState, Direction, Entry, Helper, Settings, Template, Tracked, Tuple,
};
use wasmwall::wire::{parse, IpSpec, PacketSpec, TcpOptionsSpec, TcpSpec, Transport};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const CPORT: u16 = 40000;
const FTP: Template = Template {
    notrack: false,
    helper: Some(Helper::Ftp),
};
const PLAIN: Template = Template {
    notrack: false,
    helper: None,
};

/// A TCP segment's bytes.
fn segment(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    flags: &str,
    seq: u32,
    ack: u32,
    data: &[u8],
) -> Vec<u8> {
    let mss = flags.contains('S').then_some(1460);
    let spec = PacketSpec {
        ip: IpSpec::new(src.0, dst.0),
        transport: Transport::Tcp(TcpSpec {
            sport: src.1,
            dport: dst.1,
            flags: flags.into(),
            seq,
            ack,
            win: 65535,
            urg: 0,
            options: TcpOptionsSpec {
                mss,
                ..Default::default()
            },
            payload: data.to_vec(),
            bad_csum: false,
        }),
    };
    spec.build().expect("valid spec")
}

/// What a router does with a packet the filter accepts: track, then confirm.
fn pass(
    ct: &mut Conntrack,
    now: u64,
    bytes: &[u8],
    tpl: &Template,
) -> (Tracked, Result<(), &'static str>) {
    let pkt = parse(bytes).expect("valid packet");
    let tracked = ct.track(now, bytes, &pkt, tpl);
    let confirmed = ct.confirm(now, &tracked, bytes, &pkt);
    (tracked, confirmed)
}

/// An FTP control connection 192.168.1.10:40000 → 203.0.113.5:21 after its handshake.
struct Control {
    ct: Conntrack,
    now: u64,
    tpl: Template,
    /// Next sequence number of the client and of the server.
    next: [u32; 2],
}

impl Control {
    fn open(tpl: Template) -> Control {
        let mut c = Control {
            ct: Conntrack::new(Settings::default()),
            now: 1_000,
            tpl,
            next: [1000, 5000],
        };
        let (t, r) = c.raw(Direction::Original, "S", 1000, 0, b"");
        assert_eq!((t.state, r), (CtState::New, Ok(())));
        let (t, r) = c.raw(Direction::Reply, "SA", 5000, 1001, b"");
        assert_eq!((t.state, r), (CtState::Established, Ok(())));
        c.next = [1001, 5001];
        let (t, r) = c.raw(Direction::Original, "A", 1001, 5001, b"");
        assert_eq!((t.state, r), (CtState::Established, Ok(())));
        c
    }

    /// Opens the connection and exchanges a greeting and a login, so that each
    /// direction has seen a line end (the first data segment is never parsed).
    fn logged_in(tpl: Template) -> Control {
        let mut c = Control::open(tpl);
        c.server("220 (vsFTPd 3.0.5)\r\n").unwrap();
        c.client("USER anonymous\r\n").unwrap();
        c.server("331 Please specify the password.\r\n").unwrap();
        c.client("PASS guest\r\n").unwrap();
        c.server("230 Login successful.\r\n").unwrap();
        c
    }

    /// Sends a segment with explicit numbers.
    fn raw(
        &mut self,
        dir: Direction,
        flags: &str,
        seq: u32,
        ack: u32,
        data: &[u8],
    ) -> (Tracked, Result<(), &'static str>) {
        let (src, dst) = match dir {
            Direction::Original => ((CLIENT, CPORT), (SERVER, 21)),
            Direction::Reply => ((SERVER, 21), (CLIENT, CPORT)),
        };
        self.now += 10;
        let bytes = segment(src, dst, flags, seq, ack, data);
        let tpl = self.tpl;
        pass(&mut self.ct, self.now, &bytes, &tpl)
    }

    /// Sends data at the sender's next sequence number; it advances unless dropped.
    fn send(&mut self, dir: Direction, data: &str) -> Result<(), &'static str> {
        let d = dir.index();
        let (seq, ack) = (self.next[d], self.next[1 - d]);
        let (t, r) = self.raw(dir, "PA", seq, ack, data.as_bytes());
        assert_eq!(t.state, CtState::Established, "{data:?}: {:?}", t.reason);
        if r.is_ok() {
            self.next[d] = seq.wrapping_add(data.len() as u32);
        }
        r
    }
    fn client(&mut self, data: &str) -> Result<(), &'static str> {
        self.send(Direction::Original, data)
    }
    fn server(&mut self, data: &str) -> Result<(), &'static str> {
        self.send(Direction::Reply, data)
    }

    fn master(&self) -> &Entry {
        let t = Tuple::ports(6, CLIENT, CPORT, SERVER, 21);
        self.ct.find(&t).expect("control connection tracked").0
    }

    /// `/proc/net/nf_conntrack_expect`, `ms` after the last packet.
    fn expect_lines(&self, ms: u64) -> Vec<String> {
        let mut v: Vec<String> = self
            .ct
            .expectations()
            .iter()
            .map(|e| e.proc_line(self.now + ms))
            .collect();
        v.sort();
        v
    }
}

/// The kernel-oracle reads the table about 50 ms after the packet: 300 s shows as 299.
const READ_DELAY_MS: u64 = 50;

fn line(src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> String {
    format!("299 l3proto = 2 proto=6 src={src} dst={dst} sport=0 dport={dport} ftp")
}

#[test]
fn active_port_expects_the_server_and_the_data_connection_is_related() {
    let mut c = Control::logged_in(FTP);
    assert!(c.ct.expectations().is_empty());
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(SERVER, CLIENT, 50000)]
    );
    let master_id = c.master().id;
    let exp = c.ct.expectations().iter().next().unwrap().clone();
    assert_eq!(exp.tuple, Tuple::ports(6, SERVER, 0, CLIENT, 50000));
    assert!(exp.any_sport);
    assert_eq!((exp.master_id, exp.helper), (master_id, Helper::Ftp));
    assert_eq!(exp.expires_ms, c.now + 300_000);
    c.server("200 PORT command successful. Consider using PASV.\r\n")
        .unwrap();

    // The server connects from port 20: RELATED, and the expectation is used up.
    let now = c.now + 100;
    let syn = segment((SERVER, 20), (CLIENT, 50000), "S", 7000, 0, b"");
    let (t, r) = pass(&mut c.ct, now, &syn, &PLAIN);
    assert_eq!((t.state, r), (CtState::Related, Ok(())));
    assert!(t.created);
    assert!(c.ct.expectations().is_empty());
    let data = Tuple::ports(6, SERVER, 20, CLIENT, 50000);
    let (e, _) = c.ct.find(&data).expect("data connection confirmed");
    assert!(e.has(status::EXPECTED));
    assert_eq!((e.master.map(u32::from), e.helper), (Some(master_id), None));

    // Further original packets stay RELATED until the reply, then ESTABLISHED.
    let (t, _) = pass(&mut c.ct, now + 1, &syn, &PLAIN);
    assert_eq!(t.state, CtState::Related);
    let syn_ack = segment((CLIENT, 50000), (SERVER, 20), "SA", 9000, 7001, b"");
    let (t, r) = pass(&mut c.ct, now + 2, &syn_ack, &PLAIN);
    assert_eq!((t.state, r), (CtState::Established, Ok(())));
    let ack = segment((SERVER, 20), (CLIENT, 50000), "A", 7001, 9001, b"");
    let (t, r) = pass(&mut c.ct, now + 3, &ack, &PLAIN);
    assert_eq!((t.state, r), (CtState::Established, Ok(())));
}

#[test]
fn a_connection_nobody_announced_is_new() {
    let mut c = Control::logged_in(FTP);
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    let wrong_port = segment((SERVER, 20), (CLIENT, 50001), "S", 7000, 0, b"");
    let (t, _) = pass(&mut c.ct, c.now + 1, &wrong_port, &PLAIN);
    assert_eq!(t.state, CtState::New);
    let wrong_host = segment(
        (Ipv4Addr::new(198, 51, 100, 7), 20),
        (CLIENT, 50000),
        "S",
        7000,
        0,
        b"",
    );
    let (t, _) = pass(&mut c.ct, c.now + 2, &wrong_host, &PLAIN);
    assert_eq!(t.state, CtState::New);
    assert_eq!(c.ct.expectations().len(), 1);
}

#[test]
fn passive_227_expects_the_client() {
    let mut c = Control::logged_in(FTP);
    c.client("PASV\r\n").unwrap();
    c.server("227 Entering Passive Mode (203,0,113,5,195,81).\r\n")
        .unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(CLIENT, SERVER, 50001)]
    );

    let syn = segment((CLIENT, 41000), (SERVER, 50001), "S", 3000, 0, b"");
    let (t, r) = pass(&mut c.ct, c.now + 5, &syn, &PLAIN);
    assert_eq!((t.state, r), (CtState::Related, Ok(())));
    let syn_ack = segment((SERVER, 50001), (CLIENT, 41000), "SA", 8000, 3001, b"");
    let (t, _) = pass(&mut c.ct, c.now + 6, &syn_ack, &PLAIN);
    assert_eq!(t.state, CtState::Established);
}

#[test]
fn passive_227_without_parentheses() {
    let mut c = Control::logged_in(FTP);
    c.server("227 Entering Passive Mode 203,0,113,5,195,81\r\n")
        .unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(CLIENT, SERVER, 50001)]
    );
}

#[test]
fn extended_passive_229_uses_the_server_address() {
    let mut c = Control::logged_in(FTP);
    c.client("EPSV\r\n").unwrap();
    c.server("229 Entering Extended Passive Mode (|||50002|)\r\n")
        .unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(CLIENT, SERVER, 50002)]
    );
    let syn = segment((CLIENT, 41001), (SERVER, 50002), "S", 3000, 0, b"");
    let (t, _) = pass(&mut c.ct, c.now + 5, &syn, &PLAIN);
    assert_eq!(t.state, CtState::Related);
}

#[test]
fn extended_port_eprt() {
    let mut c = Control::logged_in(FTP);
    c.client("EPRT |1|192.168.1.10|50003|\r\n").unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(SERVER, CLIENT, 50003)]
    );
}

#[test]
fn eprt_for_ipv6_on_an_ipv4_connection_is_dropped() {
    let mut c = Control::logged_in(FTP);
    assert_eq!(
        c.client("EPRT |2|2001:db8::1|50003|\r\n"),
        Err("partial ftp command")
    );
    assert!(c.ct.expectations().is_empty());
}

#[test]
fn commands_are_case_insensitive() {
    let mut c = Control::logged_in(FTP);
    c.client("pOrT 192,168,1,10,195,80\r\n").unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(SERVER, CLIENT, 50000)]
    );
    c.server("200 ok\r\n").unwrap();
    c.client("eprt |1|192.168.1.10|50003|\r\n").unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(SERVER, CLIENT, 50003)]
    );
}

#[test]
fn an_address_other_than_the_senders_creates_nothing() {
    let mut c = Control::logged_in(FTP);
    // A client pointing the server at a third host (the FTP bounce attack).
    assert_eq!(c.client("PORT 10,0,0,1,195,80\r\n"), Ok(()));
    assert!(c.ct.expectations().is_empty());
    assert_eq!(c.client("EPRT |1|10.0.0.1|50003|\r\n"), Ok(()));
    assert!(c.ct.expectations().is_empty());
    // A server announcing another address.
    assert_eq!(
        c.server("227 Entering Passive Mode (10,0,0,1,195,81).\r\n"),
        Ok(())
    );
    assert!(c.ct.expectations().is_empty());
    // The lines still count as lines: the next command is parsed.
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    assert_eq!(c.ct.expectations().len(), 1);
}

#[test]
fn a_command_split_across_segments_is_dropped_until_sent_whole() {
    let mut c = Control::logged_in(FTP);
    assert_eq!(c.client("PORT 192,168,1,"), Err("partial ftp command"));
    assert!(c.ct.expectations().is_empty());
    // The retransmission, with the whole line, starts at the same line start.
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(SERVER, CLIENT, 50000)]
    );
}

#[test]
fn a_reply_cut_after_the_code_is_dropped() {
    let mut c = Control::logged_in(FTP);
    assert_eq!(c.server("227"), Err("partial ftp command"));
    assert_eq!(
        c.server("229 Entering Extended Passive Mode"),
        Err("partial ftp command")
    );
    assert_eq!(
        c.server("227 Entering Passive Mode (203,0,113,5,195,81).\r\n"),
        Ok(())
    );
    assert_eq!(c.ct.expectations().len(), 1);
}

#[test]
fn a_malformed_port_command_is_dropped() {
    let mut c = Control::logged_in(FTP);
    assert_eq!(
        c.client("PORT 192,168,1,10,195\r\n"),
        Err("partial ftp command")
    );
    assert_eq!(c.client("PORT\r\n"), Err("partial ftp command"));
    assert!(c.ct.expectations().is_empty());
}

#[test]
fn a_command_not_at_a_line_start_is_ignored() {
    let mut c = Control::logged_in(FTP);
    // "NOOP " without a line end: the next segment continues that line.
    c.client("NOOP ").unwrap();
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    assert!(c.ct.expectations().is_empty());
    // That segment ended the line: the next one is parsed again.
    c.client("PORT 192,168,1,10,195,82\r\n").unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(SERVER, CLIENT, 50002)]
    );
}

#[test]
fn the_first_data_segment_of_a_direction_is_not_parsed() {
    // Nothing remembered yet means "not at a line start" (`find_nl_seq`).
    let mut c = Control::open(FTP);
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    assert!(c.ct.expectations().is_empty());
    c.server("227 Entering Passive Mode (203,0,113,5,195,81).\r\n")
        .unwrap();
    assert!(c.ct.expectations().is_empty());
    // Both directions have now seen a line end.
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    assert_eq!(c.ct.expectations().len(), 1);
}

#[test]
fn a_retransmitted_command_is_parsed_again() {
    let mut c = Control::logged_in(FTP);
    let seq = c.next[0];
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    let ack = c.next[1];
    let (_, r) = c.raw(
        Direction::Original,
        "PA",
        seq,
        ack,
        b"PORT 192,168,1,10,195,80\r\n",
    );
    assert_eq!(r, Ok(()));
    assert_eq!(c.ct.expectations().len(), 1);
    assert_eq!(c.ct.stats().expect_create, 2);
}

#[test]
fn without_the_helper_nothing_is_expected() {
    let mut c = Control::logged_in(PLAIN);
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    c.server("227 Entering Passive Mode (203,0,113,5,195,81).\r\n")
        .unwrap();
    assert!(c.ct.expectations().is_empty());
    let syn = segment((SERVER, 20), (CLIENT, 50000), "S", 7000, 0, b"");
    let (t, _) = pass(&mut c.ct, c.now + 1, &syn, &PLAIN);
    assert_eq!(t.state, CtState::New);
}

#[test]
fn an_expectation_expires_after_300_seconds() {
    let mut c = Control::logged_in(FTP);
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    let made = c.now;
    c.ct.advance(made + 299_999);
    assert_eq!(
        c.ct.expectations()
            .iter()
            .next()
            .map(|e| e.proc_line(made + 299_999))
            .as_deref(),
        Some("0 l3proto = 2 proto=6 src=203.0.113.5 dst=192.168.1.10 sport=0 dport=50000 ftp")
    );
    c.ct.advance(made + 300_000);
    assert!(c.ct.expectations().is_empty());
    let syn = segment((SERVER, 20), (CLIENT, 50000), "S", 7000, 0, b"");
    let (t, _) = pass(&mut c.ct, made + 300_001, &syn, &PLAIN);
    assert_eq!(t.state, CtState::New);
}

#[test]
fn a_newer_expectation_replaces_the_older() {
    let mut c = Control::logged_in(FTP);
    c.client("PORT 192,168,1,10,195,80\r\n").unwrap();
    c.server("200 PORT command successful.\r\n").unwrap();
    c.client("PORT 192,168,1,10,195,90\r\n").unwrap();
    assert_eq!(
        c.expect_lines(READ_DELAY_MS),
        vec![line(SERVER, CLIENT, 50010)]
    );
    let old = segment((SERVER, 20), (CLIENT, 50000), "S", 7000, 0, b"");
    let (t, _) = pass(&mut c.ct, c.now + 1, &old, &PLAIN);
    assert_eq!(t.state, CtState::New);
}

proptest::proptest! {
    /// Whatever the payload, the helper never panics, and only a segment that
    /// starts like one of the direction's patterns can be dropped.
    #[test]
    fn any_payload_is_handled(
        prefix in proptest::sample::select(vec!["", "PORT ", "port 192,168,1,10,", "EPRT |1|", "227 (", "229 (|||"]),
        tail in "[0-9,.|()\\r\\n a-zA-Z\\x00\\xff]{0,40}",
        reply in proptest::bool::ANY,
    ) {
        let data = format!("{prefix}{tail}").into_bytes();
        proptest::prop_assume!(!data.is_empty());
        let mut c = Control::logged_in(FTP);
        let dir = if reply { Direction::Reply } else { Direction::Original };
        let d = dir.index();
        let (seq, ack) = (c.next[d], c.next[1 - d]);
        let (_, r) = c.raw(dir, "PA", seq, ack, &data);
        let head = &data[..data.len().min(4)];
        let patterns: [&[u8]; 2] = if reply { [b"227 ", b"229 "] } else { [b"PORT", b"EPRT"] };
        if r.is_err() {
            proptest::prop_assert!(patterns.iter().any(|p| p[..head.len()].eq_ignore_ascii_case(head)));
        }
        proptest::prop_assert!(c.ct.expectations().len() <= 1);
    }
}
