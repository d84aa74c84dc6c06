//! The line `-j LOG` writes, as the kernel's `nf_log_syslog` module formats it
//! (`nf_log_ip_packet` → `dump_ipv4_packet`):
//!
//! ```text
//! PREFIX IN=lan OUT=wan MAC= SRC=192.168.1.10 DST=203.0.113.5 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=40000 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0
//! ```
//!
//! `IN=`/`OUT=` name the devices (empty where the hook has none); `MAC=` follows
//! when there is an input device, and is empty on devices without a link-layer
//! header (TUN, and wasmwall's bare IP packets). Every field ends with a blank.
//! An ICMP error also shows the packet it quotes, in brackets. The mark is shown
//! (`MARK=0x5`) when it is not zero. With the nf_tables backend a network
//! namespace other than the first one only logs when `nf_log_all_netns` is set;
//! wasmwall always produces the line, in the packet's trace.

use super::target::{log_flags, LogTarget};
use super::view::View;
use std::fmt::Write;
use std::net::Ipv4Addr;

/// Bytes of header an ICMP type needs before it is decoded (`required_len`).
fn icmp_required_len(t: u8) -> usize {
    match t {
        0 | 8 => 4 + 4,
        3 | 4 | 5 | 11 | 12 => 8 + 20,
        13 | 14 => 8 + 12,
        17 | 18 => 8 + 4,
        _ => 0,
    }
}

/// The whole line for a packet at a hook.
pub(crate) fn line(t: &LogTarget, v: &View) -> String {
    let mut m = String::with_capacity(160);
    let _ = write!(
        m,
        "{}IN={} OUT={} ",
        t.prefix,
        v.ctx.in_iface.unwrap_or(""),
        v.ctx.out_iface.unwrap_or("")
    );
    if v.ctx.in_iface.is_some() {
        m.push_str("MAC= ");
    }
    let end = usize::from(v.ctx.packet.ip.total_len).min(v.ctx.bytes.len());
    dump_ipv4(&mut m, t.flags, &v.ctx.bytes[..end], true);
    if v.mark != 0 {
        let _ = write!(m, "MARK=0x{:x} ", v.mark);
    }
    m
}

fn be16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]))
}

fn be32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(o)?,
        *b.get(o + 1)?,
        *b.get(o + 2)?,
        *b.get(o + 3)?,
    ]))
}

/// `dump_ipv4_packet`; `outer` is false inside an ICMP error's quote.
fn dump_ipv4(m: &mut String, flags: u8, b: &[u8], outer: bool) {
    if b.len() < 20 {
        m.push_str("TRUNCATED");
        return;
    }
    let addr = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
    let frag = be16(b, 6).unwrap_or(0);
    let _ = write!(
        m,
        "SRC={} DST={} LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ",
        addr(12),
        addr(16),
        be16(b, 2).unwrap_or(0),
        b[1] & 0x1e,
        b[1] & 0xe0,
        b[8],
        be16(b, 4).unwrap_or(0)
    );
    for (bit, name) in [(0x8000, "CE "), (0x4000, "DF "), (0x2000, "MF ")] {
        if frag & bit != 0 {
            m.push_str(name);
        }
    }
    let offset = frag & 0x1fff;
    if offset != 0 {
        let _ = write!(m, "FRAG:{offset} ");
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    if flags & log_flags::IPOPT != 0 && ihl > 20 {
        m.push_str("OPT (");
        for x in b.get(20..ihl).unwrap_or(&[]) {
            let _ = write!(m, "{x:02X}");
        }
        m.push_str(") ");
    }
    let l4 = b.get(ihl..).unwrap_or(&[]);
    match b[9] {
        6 => dump_tcp(m, flags, l4, offset != 0),
        17 | 136 => {
            m.push_str(if b[9] == 17 {
                "PROTO=UDP "
            } else {
                "PROTO=UDPLITE "
            });
            if offset != 0 {
                return;
            }
            match (be16(l4, 0), be16(l4, 2), be16(l4, 4)) {
                (Some(s), Some(d), Some(len)) if l4.len() >= 8 => {
                    let _ = write!(m, "SPT={s} DPT={d} LEN={len} ");
                }
                _ => {
                    let _ = write!(m, "INCOMPLETE [{} bytes] ", l4.len());
                }
            }
        }
        1 => {
            m.push_str("PROTO=ICMP ");
            if offset != 0 {
                return;
            }
            if l4.len() < 4 {
                let _ = write!(m, "INCOMPLETE [{} bytes] ", l4.len());
                return;
            }
            let (t, code) = (l4[0], l4[1]);
            let _ = write!(m, "TYPE={t} CODE={code} ");
            if t <= 18 && icmp_required_len(t) > 0 && l4.len() < icmp_required_len(t) {
                let _ = write!(m, "INCOMPLETE [{} bytes] ", l4.len());
                return;
            }
            match t {
                0 | 8 => {
                    let _ = write!(
                        m,
                        "ID={} SEQ={} ",
                        be16(l4, 4).unwrap_or(0),
                        be16(l4, 6).unwrap_or(0)
                    );
                }
                12 => {
                    let _ = write!(m, "PARAMETER={} ", be32(l4, 4).unwrap_or(0) >> 24);
                }
                3 | 4 | 5 | 11 => {
                    if t == 5 {
                        let _ = write!(m, "GATEWAY={} ", Ipv4Addr::new(l4[4], l4[5], l4[6], l4[7]));
                    }
                    if outer {
                        m.push('[');
                        dump_ipv4(m, flags, &l4[8..], false);
                        m.push_str("] ");
                    }
                    if t == 3 && code == 4 {
                        let _ = write!(m, "MTU={} ", be16(l4, 6).unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
        51 => {
            m.push_str("PROTO=AH ");
            if offset == 0 {
                match be32(l4, 4) {
                    Some(spi) => {
                        let _ = write!(m, "SPI=0x{spi:x} ");
                    }
                    None => {
                        let _ = write!(m, "INCOMPLETE [{} bytes] ", l4.len());
                    }
                }
            }
        }
        50 => {
            m.push_str("PROTO=ESP ");
            if offset == 0 {
                match be32(l4, 0) {
                    Some(spi) => {
                        let _ = write!(m, "SPI=0x{spi:x} ");
                    }
                    None => {
                        let _ = write!(m, "INCOMPLETE [{} bytes] ", l4.len());
                    }
                }
            }
        }
        p => {
            let _ = write!(m, "PROTO={p} ");
        }
    }
}

/// `nf_log_dump_tcp_header`.
fn dump_tcp(m: &mut String, flags: u8, th: &[u8], fragment: bool) {
    m.push_str("PROTO=TCP ");
    if fragment {
        return;
    }
    if th.len() < 20 {
        let _ = write!(m, "INCOMPLETE [{} bytes] ", th.len());
        return;
    }
    let _ = write!(
        m,
        "SPT={} DPT={} ",
        be16(th, 0).unwrap_or(0),
        be16(th, 2).unwrap_or(0)
    );
    if flags & log_flags::TCPSEQ != 0 {
        let _ = write!(
            m,
            "SEQ={} ACK={} ",
            be32(th, 4).unwrap_or(0),
            be32(th, 8).unwrap_or(0)
        );
    }
    let _ = write!(
        m,
        "WINDOW={} RES=0x{:02x} ",
        be16(th, 14).unwrap_or(0),
        (th[12] & 0x0f) << 2
    );
    let names = [
        (0x80, "CWR "),
        (0x40, "ECE "),
        (0x20, "URG "),
        (0x10, "ACK "),
        (0x08, "PSH "),
        (0x04, "RST "),
        (0x02, "SYN "),
        (0x01, "FIN "),
    ];
    for (bit, name) in names {
        if th[13] & bit != 0 {
            m.push_str(name);
        }
    }
    let _ = write!(m, "URGP={} ", be16(th, 18).unwrap_or(0));
    let doff = usize::from(th[12] >> 4) * 4;
    if flags & log_flags::TCPOPT != 0 && doff > 20 {
        m.push_str("OPT (");
        for x in th.get(20..doff).unwrap_or(&[]) {
            let _ = write!(m, "{x:02X}");
        }
        m.push_str(") ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::CtState;
    use crate::rules::tests::{icmp, tcp, udp};

    fn logged(t: &LogTarget, p: &crate::rules::tests::Pkt, mark: u32) -> String {
        let ctx = p.ctx(CtState::New);
        let mut v = View::new(&ctx);
        v.mark = mark;
        line(t, &v)
    }

    fn target(prefix: &str, flags: u8) -> LogTarget {
        LogTarget {
            level: 4,
            prefix: prefix.into(),
            flags,
        }
    }

    #[test]
    fn lines_like_nf_log_syslog() {
        let syn = tcp("192.168.1.10", 40000, "203.0.113.5", 80, "S");
        assert_eq!(
            logged(&target("fw: ", 0), &syn, 0),
            "fw: IN=lan OUT=wan MAC= SRC=192.168.1.10 DST=203.0.113.5 LEN=40 TOS=0x00 PREC=0x00 \
             TTL=64 ID=0 PROTO=TCP SPT=40000 DPT=80 WINDOW=65535 RES=0x00 SYN URGP=0 "
        );
        assert!(logged(&target("", log_flags::TCPSEQ), &syn, 5).contains(
            "SPT=40000 DPT=80 SEQ=1000 ACK=0 WINDOW=65535 RES=0x00 SYN URGP=0 MARK=0x5 "
        ));
        let u = udp("192.168.1.10", 5000, "203.0.113.5", 53);
        assert!(logged(&target("", 0), &u, 0).ends_with("PROTO=UDP SPT=5000 DPT=53 LEN=13 "));
        let ping = icmp("192.168.1.10", "203.0.113.5", 8, 0);
        assert!(logged(&target("", 0), &ping, 0).ends_with("PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1 "));
    }
}
