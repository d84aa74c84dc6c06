//! The FTP helper, as the kernel's `nf_conntrack_ftp.c` does it.
//!
//! FTP moves files over separate TCP *data* connections whose endpoint is announced
//! on the *control* connection (port 21), one text line per command or reply:
//!
//! | mode | who | line | data connection |
//! |---|---|---|---|
//! | active | client | `PORT h1,h2,h3,h4,p1,p2` (RFC 959) | server → client:p1·256+p2 |
//! | active | client | `EPRT |1|a.b.c.d|port|` (RFC 2428) | server → client:port |
//! | passive | server | `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` | client → server:port |
//! | passive | server | `229 Entering Extended Passive Mode (|||port|)` | client → server:port |
//!
//! The helper parses these lines (case-insensitively, only at the start of a segment
//! that starts a line) and expects the data connection: any source port, the
//! announced destination port, for 300 s. The announced address must be the sender's
//! own (the module parameter `loose=0`), so a client cannot open holes towards third
//! parties. A line cut off at the end of the segment makes the helper **drop** the
//! packet: the sender retransmits, usually with the whole line in one segment.

use super::{HelperOutcome, HelperState};
use crate::conntrack::entry::{Entry, Helper};
use crate::conntrack::expect::Expectation;
use crate::conntrack::tuple::{Direction, Tuple};
use crate::wire::{proto, Packet, L4};
use std::net::Ipv4Addr;

/// How long an expectation waits for its data connection (`ftp_exp_policy.timeout`, 5 min).
pub const EXPECT_TIMEOUT_MS: u64 = 300_000;

/// Why the helper drops a packet: a command or reply cut off (or malformed) at the
/// end of the segment. The kernel logs "partial matching of `PORT'".
pub const PARTIAL_COMMAND: &str = "partial ftp command";

/// The endpoint a line announced (`struct nf_conntrack_man`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Announced {
    addr: Ipv4Addr,
    port: u16,
}

/// `find_pattern`'s three outcomes (1, 0 and -1 in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Not this command: the packet passes.
    No,
    /// The command's start, cut off or unparsable: the packet is dropped.
    Partial,
    Match(Announced),
}

/// Parses the numbers after a pattern: the data, the terminator and the sender's
/// address (implied by EPSV replies). `None` is the kernel's length 0.
type GetNum = fn(&[u8], u8, Ipv4Addr) -> Option<Announced>;

/// One row of the kernel's `search[dir][]` table.
struct Search {
    /// Compared case-insensitively with the start of the segment.
    pattern: &'static [u8],
    /// Skip up to and past this byte before the numbers.
    skip: Option<u8>,
    /// The byte that must end the numbers (0: any non-number byte).
    term: u8,
    getnum: GetNum,
}

/// What the client (ORIGINAL direction) may announce.
const CLIENT: [Search; 2] = [
    Search {
        pattern: b"PORT",
        skip: Some(b' '),
        term: b'\r',
        getnum: try_rfc959,
    },
    Search {
        pattern: b"EPRT",
        skip: Some(b' '),
        term: b'\r',
        getnum: try_eprt,
    },
];

/// What the server (REPLY direction) may announce.
const SERVER: [Search; 2] = [
    Search {
        pattern: b"227 ",
        skip: None,
        term: 0,
        getnum: try_rfc1123,
    },
    Search {
        pattern: b"229 ",
        skip: Some(b'('),
        term: b')',
        getnum: try_epsv_response,
    },
];

/// The helper on one accepted packet of an FTP control connection.
pub(super) fn help(
    entry: &Entry,
    state: &mut HelperState,
    dir: Direction,
    bytes: &[u8],
    packet: &Packet,
    now_ms: u64,
) -> HelperOutcome {
    let Some((seq, data)) = tcp_payload(bytes, packet) else {
        return HelperOutcome::Pass;
    };
    let outcome = if state.find_nl_seq(seq, dir) {
        inspect(entry, dir, data, now_ms)
    } else {
        HelperOutcome::Pass
    };
    // A dropped segment will be sent again: it leaves no trace.
    if matches!(outcome, HelperOutcome::Drop(_)) {
        return outcome;
    }
    if data.last() == Some(&b'\n') {
        state.update_nl_seq(seq.wrapping_add(data.len() as u32), dir);
    }
    outcome
}

/// The sequence number and payload of a TCP segment with data.
fn tcp_payload<'a>(bytes: &'a [u8], packet: &Packet) -> Option<(u32, &'a [u8])> {
    let L4::Tcp(tcp) = packet.l4 else { return None };
    let start = tcp.payload_offset();
    let data = bytes.get(start..start + usize::from(tcp.payload_len))?;
    (!data.is_empty()).then_some((tcp.seq, data))
}

/// Parses a line-starting segment and decides.
fn inspect(entry: &Entry, dir: Direction, data: &[u8], now_ms: u64) -> HelperOutcome {
    let sender = entry.tuple(dir).src;
    match find_command(dir, data, sender) {
        Found::No => HelperOutcome::Pass,
        Found::Partial => HelperOutcome::Drop(PARTIAL_COMMAND),
        // Not the sender's own address: no expectation (`loose=0`).
        Found::Match(a) if a.addr != sender => HelperOutcome::Pass,
        Found::Match(a) => HelperOutcome::Expect(expectation(entry, dir, a.port, now_ms)),
    }
}

/// Tries the direction's patterns in order; the first that is not [`Found::No`] wins.
fn find_command(dir: Direction, data: &[u8], sender: Ipv4Addr) -> Found {
    let table: &[Search] = match dir {
        Direction::Original => &CLIENT,
        Direction::Reply => &SERVER,
    };
    table
        .iter()
        .map(|s| find_pattern(data, s, sender))
        .find(|f| *f != Found::No)
        .unwrap_or(Found::No)
}

/// `find_pattern`: the pattern at the start of the segment, then (optionally) up to
/// the skip byte, then the numbers. A segment no longer than the pattern that matches
/// as far as it goes is partial; so is a matched pattern whose numbers do not parse.
fn find_pattern(data: &[u8], s: &Search, sender: Ipv4Addr) -> Found {
    let plen = s.pattern.len();
    if data.len() <= plen {
        let head = s.pattern.get(..data.len()).unwrap_or_default();
        return if data.eq_ignore_ascii_case(head) {
            Found::Partial
        } else {
            Found::No
        };
    }
    let (head, rest) = data.split_at(plen);
    if !head.eq_ignore_ascii_case(s.pattern) {
        return Found::No;
    }
    let numbers = match s.skip {
        Some(skip) => match rest.iter().position(|&c| c == skip) {
            Some(at) => rest.get(at + 1..).unwrap_or_default(),
            None => return Found::Partial,
        },
        None => rest,
    };
    match (s.getnum)(numbers, s.term, sender) {
        Some(a) => Found::Match(a),
        None => Found::Partial,
    }
}

/// `try_number`: `N` decimal numbers separated by `sep`, ended by `term` (or by any
/// other byte when `term` is 0). Returns them and the terminator's offset. Numbers
/// wrap at 32 bits and may be empty (0), as in the kernel.
fn try_number<const N: usize>(data: &[u8], sep: u8, term: u8) -> Option<([u32; N], usize)> {
    let mut nums = [0u32; N];
    let mut i = 0;
    for (len, &c) in data.iter().enumerate() {
        let slot = nums.get_mut(i)?;
        if c.is_ascii_digit() {
            *slot = slot.wrapping_mul(10).wrapping_add(u32::from(c - b'0'));
        } else if c == sep {
            i += 1;
        } else if (c == term || term == 0) && i + 1 == N {
            return Some((nums, len));
        } else {
            return None;
        }
    }
    None
}

/// Four numbers as an address, the kernel's way: `a<<24 | b<<16 | c<<8 | d`, so an
/// out-of-range number spills into its neighbours instead of being refused.
fn addr_of(n: [u32; 4]) -> Ipv4Addr {
    Ipv4Addr::from(n[0] << 24 | n[1] << 16 | n[2] << 8 | n[3])
}

/// `try_rfc959`: `h1,h2,h3,h4,p1,p2` (PORT, and 227 after its prefix).
fn try_rfc959(data: &[u8], term: u8, _sender: Ipv4Addr) -> Option<Announced> {
    let (n, _) = try_number::<6>(data, b',', term)?;
    let addr = addr_of([n[0], n[1], n[2], n[3]]);
    Some(Announced {
        addr,
        port: (n[4] << 8 | n[5]) as u16,
    })
}

/// `try_rfc1123`: RFC 1123 says the 227 reply's format is not standardised (the
/// parentheses may be missing), so scan for the first digit, then read
/// `h1,h2,h3,h4,p1,p2` ended by any byte.
fn try_rfc1123(data: &[u8], _term: u8, sender: Ipv4Addr) -> Option<Announced> {
    let first = data.iter().position(u8::is_ascii_digit)?;
    try_rfc959(data.get(first..)?, 0, sender)
}

/// An RFC 2428 delimiter: printable ASCII (33–126) but not a digit.
fn is_delimiter(d: u8) -> bool {
    (33..=126).contains(&d) && !d.is_ascii_digit()
}

/// `get_port`: a non-zero decimal port from `start` up to `delim` (wrapping at 16 bits).
fn get_port(data: &[u8], start: usize, delim: u8) -> Option<u16> {
    let mut port: u16 = 0;
    for &c in data.get(start..)? {
        if c == delim {
            return (port != 0).then_some(port);
        }
        if !c.is_ascii_digit() {
            return None;
        }
        port = port.wrapping_mul(10).wrapping_add(u16::from(c - b'0'));
    }
    None
}

/// `try_eprt`: `<d>1<d>a.b.c.d<d>port<d>`. The protocol must be the connection's
/// family: `1` (IPv4); `2` (IPv6) is refused on an IPv4 connection.
fn try_eprt(data: &[u8], _term: u8, _sender: Ipv4Addr) -> Option<Announced> {
    let [d, family, d2, ..] = *data else {
        return None;
    };
    if data.len() <= 3 || !is_delimiter(d) || d2 != d || family != b'1' {
        return None;
    }
    let (n, len) = try_number::<4>(data.get(3..)?, b'.', d)?;
    let port = get_port(data, 3 + len + 1, d)?;
    Some(Announced {
        addr: addr_of(n),
        port,
    })
}

/// `try_epsv_response`: `<d><d><d>port<d>`; the address is implied: the server's.
fn try_epsv_response(data: &[u8], _term: u8, sender: Ipv4Addr) -> Option<Announced> {
    let [d, d1, d2, ..] = *data else { return None };
    if data.len() <= 3 || !is_delimiter(d) || d1 != d || d2 != d {
        return None;
    }
    let port = get_port(data, 3, d)?;
    Some(Announced { addr: sender, port })
}

/// The data connection to expect: from the peer's side of the control connection
/// (`tuplehash[!dir]`), any source port, to the announced port.
fn expectation(entry: &Entry, dir: Direction, port: u16, now_ms: u64) -> Expectation {
    let back = entry.tuple(dir.opposite());
    Expectation {
        tuple: Tuple::ports(proto::TCP, back.src, 0, back.dst, port),
        any_sport: true,
        master_id: entry.id,
        helper: Helper::Ftp,
        expires_ms: now_ms.saturating_add(EXPECT_TIMEOUT_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const SERVER_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);

    fn client(line: &str) -> Found {
        find_command(Direction::Original, line.as_bytes(), CLIENT_IP)
    }
    fn server(line: &str) -> Found {
        find_command(Direction::Reply, line.as_bytes(), SERVER_IP)
    }
    fn at(addr: Ipv4Addr, port: u16) -> Found {
        Found::Match(Announced { addr, port })
    }

    #[test]
    fn port_command() {
        assert_eq!(client("PORT 192,168,1,10,195,80\r\n"), at(CLIENT_IP, 50000));
        assert_eq!(client("port 192,168,1,10,195,80\r\n"), at(CLIENT_IP, 50000));
        // Anything up to the first space is skipped, and empty numbers are 0.
        assert_eq!(
            client("PORTX 1,2,,4,0,21\r"),
            at(Ipv4Addr::new(1, 2, 0, 4), 21)
        );
        // The kernel ORs shifted numbers: 3 | 260>>8 stays 3, 260 & 255 = 4.
        assert_eq!(
            client("PORT 1,2,3,260,1,2\r\n"),
            at(Ipv4Addr::new(1, 2, 3, 4), 258)
        );
    }

    #[test]
    fn port_cut_off_or_malformed_is_partial() {
        assert_eq!(client("PORT 192,168,1,10,195,8"), Found::Partial);
        assert_eq!(client("PORT 192,168,1,10,195,80\n"), Found::Partial);
        assert_eq!(client("PORT 192,168,1,10,195,80,1\r\n"), Found::Partial);
        assert_eq!(client("PORT\r\n"), Found::Partial);
        assert_eq!(client("PO"), Found::Partial);
        assert_eq!(client("E"), Found::Partial);
        assert_eq!(client("PORT abc\r\n"), Found::Partial);
        assert_eq!(client("PASV\r\n"), Found::No);
        assert_eq!(client("USER anonymous\r\n"), Found::No);
        assert_eq!(client("\r\n"), Found::No);
    }

    #[test]
    fn eprt_command() {
        assert_eq!(
            client("EPRT |1|192.168.1.10|50003|\r\n"),
            at(CLIENT_IP, 50003)
        );
        assert_eq!(
            client("eprt !1!192.168.1.10!6275!\r\n"),
            at(CLIENT_IP, 6275)
        );
        // IPv6 on an IPv4 connection, a digit delimiter, port 0: refused, so dropped.
        assert_eq!(client("EPRT |2|::1|50003|\r\n"), Found::Partial);
        assert_eq!(client("EPRT 111192.168.1.10150003|\r\n"), Found::Partial);
        assert_eq!(client("EPRT |1|192.168.1.10|0|\r\n"), Found::Partial);
        assert_eq!(client("EPRT |1|192.168.1.10|50003"), Found::Partial);
        // The port wraps at 16 bits.
        assert_eq!(client("EPRT |1|192.168.1.10|65557|\r\n"), at(CLIENT_IP, 21));
    }

    #[test]
    fn pasv_reply() {
        let ok = at(SERVER_IP, 50001);
        assert_eq!(
            server("227 Entering Passive Mode (203,0,113,5,195,81).\r\n"),
            ok
        );
        assert_eq!(server("227 =203,0,113,5,195,81\r\n"), ok);
        // No terminator needed, but something must follow the last number.
        assert_eq!(server("227 203,0,113,5,195,81"), Found::Partial);
        assert_eq!(server("227 Entering Passive Mode\r\n"), Found::Partial);
        assert_eq!(server("22"), Found::Partial);
        assert_eq!(server("226 Transfer complete.\r\n"), Found::No);
    }

    #[test]
    fn epsv_reply() {
        let line = "229 Entering Extended Passive Mode (|||50002|)\r\n";
        assert_eq!(server(line), at(SERVER_IP, 50002));
        assert_eq!(server("229 (!!!21!)\r\n"), at(SERVER_IP, 21));
        assert_eq!(
            server("229 Entering Extended Passive Mode\r\n"),
            Found::Partial
        );
        assert_eq!(server("229 (|||50002"), Found::Partial);
        assert_eq!(server("229 (|1|50002|)\r\n"), Found::Partial);
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        let samples: [&[u8]; 8] = [
            b"",
            b"P",
            b"EPRT ",
            b"EPRT |",
            b"EPRT |1|",
            b"229 (",
            b"227 \xff\x00",
            b"\xff\xfe\xfd\xfc\xfb",
        ];
        for s in samples {
            for dir in [Direction::Original, Direction::Reply] {
                let _ = find_command(dir, s, CLIENT_IP);
            }
        }
    }
}
