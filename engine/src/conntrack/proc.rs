//! The table as text: `/proc/net/nf_conntrack` lines, `conntrack -L` lines and
//! `conntrack -E` events, formatted exactly as the kernel's `ct_seq_show` does.
//!
//! Every field ends with a space; the line ends with `use=N`. In order: layer-3 name
//! padded to 8 and number, layer-4 name padded to 8 and number, seconds left, the TCP
//! state, the original tuple, `[UNREPLIED]` until a reply is seen, the reply tuple,
//! `[ASSURED]`, `mark=`, `zone=`, `use=`.

use super::entry::{status, Entry, ProtoState};
use super::tuple::Tuple;
use crate::wire::proto;
use core::fmt::Write;

/// The kernel's layer-4 protocol name (`l4proto_name`).
pub fn l4_name(protocol: u8) -> &'static str {
    match protocol {
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::ICMP => "icmp",
        proto::GRE => "gre",
        proto::UDPLITE => "udplite",
        proto::SCTP => "sctp",
        _ => "unknown",
    }
}

/// Tracked by the generic tracker (addresses only, printed as `unknown`)?
pub fn is_generic(protocol: u8) -> bool {
    !matches!(
        protocol,
        proto::TCP | proto::UDP | proto::ICMP | proto::GRE | proto::UDPLITE | proto::SCTP
    )
}

fn write_tuple(out: &mut String, t: &Tuple) {
    let _ = write!(out, "src={} dst={} ", t.src, t.dst);
    match t.protocol {
        proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP => {
            let _ = write!(out, "sport={} dport={} ", t.sport, t.dport);
        }
        proto::ICMP => {
            let _ = write!(
                out,
                "type={} code={} id={} ",
                t.icmp_type(),
                t.icmp_code(),
                t.icmp_id()
            );
        }
        proto::GRE => {
            let _ = write!(out, "srckey=0x{:x} dstkey=0x{:x} ", t.sport, t.dport);
        }
        _ => {}
    }
}

/// Everything after the layer-3 prefix: the `conntrack -L` line.
pub fn conntrack_line(e: &Entry, now_ms: u64) -> String {
    let mut out = String::with_capacity(192);
    let p = e.original().protocol;
    let _ = write!(out, "{:<8} {} ", l4_name(p), p);
    if !e.has(status::OFFLOAD) {
        let _ = write!(out, "{} ", e.timeout_secs(now_ms));
    }
    if let Some(state) = e.state_name() {
        let _ = write!(out, "{state} ");
    }
    if let ProtoState::Gre {
        timeout_secs,
        stream_timeout_secs,
    } = e.proto
    {
        let _ = write!(
            out,
            "timeout={timeout_secs}, stream_timeout={stream_timeout_secs} "
        );
    }
    write_tuple(&mut out, e.original());
    if let Some(c) = e.counters() {
        let _ = write!(out, "packets={} bytes={} ", c[0].0, c[0].1);
    }
    if !e.seen_reply() {
        out.push_str("[UNREPLIED] ");
    }
    write_tuple(&mut out, &e.reply());
    if let Some(c) = e.counters() {
        let _ = write!(out, "packets={} bytes={} ", c[1].0, c[1].1);
    }
    if e.has(status::HW_OFFLOAD) {
        out.push_str("[HW_OFFLOAD] ");
    } else if e.has(status::OFFLOAD) {
        out.push_str("[OFFLOAD] ");
    } else if e.is_assured() {
        out.push_str("[ASSURED] ");
    }
    let _ = write!(out, "mark={} zone=0 ", e.mark);
    if let Some(start) = e.start_ms() {
        let _ = write!(out, "delta-time={} ", now_ms.saturating_sub(start) / 1000);
    }
    out.push_str("use=2");
    out
}

/// One `/proc/net/nf_conntrack` line (without the newline).
pub fn proc_line(e: &Entry, now_ms: u64) -> String {
    format!("{:<8} {} {}", "ipv4", 2, conntrack_line(e, now_ms))
}

/// The order the kernel-oracle sorts entries in: protocol, then the original
/// tuple's fields (addresses compared as text, like the recorder does).
pub fn sort_key(e: &Entry) -> (u8, String, String, i64, i64, i64, i64, i64) {
    let t = e.original();
    let (sport, dport, ty, code, id) = match t.protocol {
        proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP => {
            (i64::from(t.sport), i64::from(t.dport), -1, -1, -1)
        }
        proto::ICMP => (
            -1,
            -1,
            i64::from(t.icmp_type()),
            i64::from(t.icmp_code()),
            i64::from(t.icmp_id()),
        ),
        _ => (-1, -1, -1, -1, -1),
    };
    (
        t.protocol,
        t.src.to_string(),
        t.dst.to_string(),
        sport,
        dport,
        ty,
        code,
        id,
    )
}
