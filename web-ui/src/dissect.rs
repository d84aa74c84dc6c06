//! A packet's layers as a tree of named fields, each knowing which bytes it occupies,
//! for the "Why" panel's detail tree and hex view; and one-line summaries in the
//! kernel-oracle recorder's style (`tcp 192.168.1.10:40001 > 203.0.113.5:80 [S] ...`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::ops::Range;

use wasmwall::wire::{self, proto, tcp_flags, TcpOptions, L4};

/// One field of a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub value: String,
    /// The bytes of the packet the field occupies.
    pub range: Range<usize>,
}

/// One header (or the payload, or a packet quoted by an ICMP error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub title: String,
    pub range: Range<usize>,
    pub fields: Vec<Field>,
}

fn field(name: &'static str, value: impl Into<String>, range: Range<usize>) -> Field {
    Field {
        name,
        value: value.into(),
        range,
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn addr(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// The protocol's name as iptables and conntrack print it.
pub fn proto_name(p: u8) -> String {
    match p {
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMP => "icmp".into(),
        proto::GRE => "gre".into(),
        other => format!("proto {other}"),
    }
}

/// What an ICMP type is called.
pub fn icmp_type_name(t: u8) -> &'static str {
    match t {
        0 => "echo reply",
        3 => "destination unreachable",
        4 => "source quench",
        5 => "redirect",
        8 => "echo request",
        11 => "time exceeded",
        12 => "parameter problem",
        13 => "timestamp request",
        14 => "timestamp reply",
        15 => "information request",
        16 => "information reply",
        17 => "address mask request",
        18 => "address mask reply",
        _ => "unknown type",
    }
}

fn unreachable_code_name(code: u8) -> &'static str {
    match code {
        0 => "network unreachable",
        1 => "host unreachable",
        2 => "protocol unreachable",
        3 => "port unreachable",
        4 => "fragmentation needed and DF set",
        9 => "network administratively prohibited",
        10 => "host administratively prohibited",
        13 => "communication administratively prohibited",
        _ => "",
    }
}

/// The layers of a raw IPv4 packet. Bytes the IP layer refuses become one raw layer.
pub fn dissect(bytes: &[u8]) -> Vec<Layer> {
    let pkt = match wire::parse(bytes) {
        Ok(p) => p,
        Err(e) => {
            return vec![Layer {
                title: format!("Raw bytes (not a usable IPv4 packet: {e})"),
                range: 0..bytes.len(),
                fields: Vec::new(),
            }];
        }
    };
    let total = usize::from(pkt.ip.total_len);
    let mut layers = vec![ipv4_layer(bytes, 0, "IPv4", " (correct)")];
    let off = usize::from(pkt.ip.header_len);
    let seg = off..total;
    match pkt.l4 {
        L4::Tcp(t) => {
            let ok = wire::transport_checksum_ok(bytes, &pkt);
            let hl = usize::from(t.header_len);
            layers.push(tcp_layer(bytes, off, hl, Some(ok)));
            push_payload(&mut layers, bytes, off + hl..total);
        }
        L4::Udp(_) => {
            let ok = wire::transport_checksum_ok(bytes, &pkt);
            layers.push(udp_layer(bytes, off, Some(ok)));
            push_payload(&mut layers, bytes, off + 8..total);
        }
        L4::Icmp(ic) => {
            let ok = wire::transport_checksum_ok(bytes, &pkt);
            layers.push(icmp_layer(bytes, off, total, Some(ok)));
            if ic.inner.is_some() {
                layers.push(quoted_layer(bytes, off + 8..total));
            } else {
                push_payload(&mut layers, bytes, off + 8..total);
            }
        }
        L4::Malformed(e) => layers.push(Layer {
            title: format!(
                "{} header (malformed: {e})",
                proto_name(pkt.ip.protocol).to_uppercase()
            ),
            range: seg,
            fields: Vec::new(),
        }),
        L4::Fragment => layers.push(Layer {
            title: "Fragment data (not the first fragment: no transport header)".into(),
            range: seg,
            fields: Vec::new(),
        }),
        L4::Other | L4::Sctp(_) | L4::UdpLite(_) => push_payload(&mut layers, bytes, seg),
    }
    layers
}

fn ipv4_layer(b: &[u8], base: usize, title: &str, checksum_note: &str) -> Layer {
    let ihl = usize::from(b[base] & 0x0f) * 4;
    let frag = be16(b, base + 6);
    let mut frag_text = Vec::new();
    if frag & 0x4000 != 0 {
        frag_text.push("DF".to_string());
    }
    if frag & 0x2000 != 0 {
        frag_text.push("MF".to_string());
    }
    frag_text.push(format!("offset {}", (frag & 0x1fff) * 8));
    let p = b[base + 9];
    let mut fields = vec![
        field(
            "Version, header length",
            format!("{}, {} bytes", b[base] >> 4, ihl),
            base..base + 1,
        ),
        field(
            "Type of service",
            format!("0x{:02x}", b[base + 1]),
            base + 1..base + 2,
        ),
        field(
            "Total length",
            be16(b, base + 2).to_string(),
            base + 2..base + 4,
        ),
        field(
            "Identification",
            be16(b, base + 4).to_string(),
            base + 4..base + 6,
        ),
        field(
            "Flags, fragment offset",
            frag_text.join(", "),
            base + 6..base + 8,
        ),
        field("Time to live", b[base + 8].to_string(), base + 8..base + 9),
        field(
            "Protocol",
            format!("{} ({p})", proto_name(p)),
            base + 9..base + 10,
        ),
        field(
            "Header checksum",
            format!("0x{:04x}{checksum_note}", be16(b, base + 10)),
            base + 10..base + 12,
        ),
        field(
            "Source",
            addr(b, base + 12).to_string(),
            base + 12..base + 16,
        ),
        field(
            "Destination",
            addr(b, base + 16).to_string(),
            base + 16..base + 20,
        ),
    ];
    if ihl > 20 && base + ihl <= b.len() {
        fields.push(field(
            "Options",
            format!("{} bytes", ihl - 20),
            base + 20..base + ihl,
        ));
    }
    Layer {
        title: title.into(),
        range: base..(base + ihl).min(b.len()),
        fields,
    }
}

fn checksum_text(value: u16, ok: Option<bool>) -> String {
    match ok {
        Some(true) => format!("0x{value:04x} (correct)"),
        Some(false) => format!("0x{value:04x} (wrong)"),
        None => format!("0x{value:04x}"),
    }
}

fn tcp_layer(b: &[u8], off: usize, hl: usize, ok: Option<bool>) -> Layer {
    let flags = b[off + 13];
    let mut fields = vec![
        field("Source port", be16(b, off).to_string(), off..off + 2),
        field(
            "Destination port",
            be16(b, off + 2).to_string(),
            off + 2..off + 4,
        ),
        field(
            "Sequence number",
            be32(b, off + 4).to_string(),
            off + 4..off + 8,
        ),
        field(
            "Acknowledgement number",
            be32(b, off + 8).to_string(),
            off + 8..off + 12,
        ),
        field("Header length", format!("{hl} bytes"), off + 12..off + 13),
        field("Flags", flag_text(flags), off + 13..off + 14),
        field("Window", be16(b, off + 14).to_string(), off + 14..off + 16),
        field(
            "Checksum",
            checksum_text(be16(b, off + 16), ok),
            off + 16..off + 18,
        ),
        field(
            "Urgent pointer",
            be16(b, off + 18).to_string(),
            off + 18..off + 20,
        ),
    ];
    if hl > 20 {
        let opts = TcpOptions::parse(&b[off + 20..off + hl]);
        fields.push(field("Options", options_text(&opts), off + 20..off + hl));
    }
    Layer {
        title: "TCP".into(),
        range: off..off + hl,
        fields,
    }
}

/// `SYN, ACK (SA)`.
fn flag_text(flags: u8) -> String {
    const NAMES: [(u8, &str); 8] = [
        (tcp_flags::SYN, "SYN"),
        (tcp_flags::FIN, "FIN"),
        (tcp_flags::RST, "RST"),
        (tcp_flags::PSH, "PSH"),
        (tcp_flags::ACK, "ACK"),
        (tcp_flags::URG, "URG"),
        (tcp_flags::ECE, "ECE"),
        (tcp_flags::CWR, "CWR"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        format!("{} ({})", names.join(", "), tcp_flags::to_letters(flags))
    }
}

fn options_text(o: &TcpOptions) -> String {
    let mut parts = Vec::new();
    if let Some(mss) = o.mss {
        parts.push(format!("MSS {mss}"));
    }
    if o.sack_permitted {
        parts.push("SACK permitted".into());
    }
    if let Some((v, e)) = o.timestamps {
        parts.push(format!("timestamps {v}/{e}"));
    }
    if let Some(ws) = o.wscale {
        parts.push(format!("window scale {ws}"));
    }
    for (l, r) in o.sacks() {
        parts.push(format!("SACK {l}-{r}"));
    }
    if parts.is_empty() {
        "padding only".into()
    } else {
        parts.join(", ")
    }
}

fn udp_layer(b: &[u8], off: usize, ok: Option<bool>) -> Layer {
    let csum = be16(b, off + 6);
    let csum_text = if csum == 0 && ok.is_some() {
        "0x0000 (none)".to_string()
    } else {
        checksum_text(csum, ok)
    };
    Layer {
        title: "UDP".into(),
        range: off..off + 8,
        fields: vec![
            field("Source port", be16(b, off).to_string(), off..off + 2),
            field(
                "Destination port",
                be16(b, off + 2).to_string(),
                off + 2..off + 4,
            ),
            field("Length", be16(b, off + 4).to_string(), off + 4..off + 6),
            field("Checksum", csum_text, off + 6..off + 8),
        ],
    }
}

fn icmp_layer(b: &[u8], off: usize, end: usize, ok: Option<bool>) -> Layer {
    let (t, code) = (b[off], b[off + 1]);
    let code_name = if t == 3 {
        unreachable_code_name(code)
    } else {
        ""
    };
    let code_text = if code_name.is_empty() {
        code.to_string()
    } else {
        format!("{code} ({code_name})")
    };
    let mut fields = vec![
        field("Type", format!("{t} ({})", icmp_type_name(t)), off..off + 1),
        field("Code", code_text, off + 1..off + 2),
        field(
            "Checksum",
            checksum_text(be16(b, off + 2), ok),
            off + 2..off + 4,
        ),
    ];
    let rest = (off + 4).min(end)..(off + 8).min(end);
    if rest.len() == 4 {
        if wire::icmp_type::is_error(t) {
            let (name, value) = if t == 3 && code == 4 {
                ("Next-hop MTU", be16(b, off + 6).to_string())
            } else {
                ("Unused", format!("0x{:08x}", be32(b, off + 4)))
            };
            fields.push(field(name, value, rest));
        } else {
            fields.push(field(
                "Identifier",
                be16(b, off + 4).to_string(),
                off + 4..off + 6,
            ));
            fields.push(field(
                "Sequence number",
                be16(b, off + 6).to_string(),
                off + 6..off + 8,
            ));
        }
    }
    Layer {
        title: "ICMP".into(),
        range: off..(off + 8).min(end),
        fields,
    }
}

/// The packet an ICMP error quotes: its IP header and the first bytes after it. The
/// quote is cut short, so its total length and checksums are not checked.
fn quoted_layer(b: &[u8], range: Range<usize>) -> Layer {
    let base = range.start;
    if range.len() < 20 || b[base] >> 4 != 4 {
        return Layer {
            title: "Quoted bytes (not an IPv4 header)".into(),
            range,
            fields: Vec::new(),
        };
    }
    let mut layer = ipv4_layer(b, base, "Quoted packet", "");
    let ihl = usize::from(b[base] & 0x0f) * 4;
    let l4 = base + ihl;
    let n = range.end.saturating_sub(l4);
    let p = b[base + 9];
    if n >= 4 && matches!(p, proto::TCP | proto::UDP) {
        layer.fields.push(field(
            "Quoted source port",
            be16(b, l4).to_string(),
            l4..l4 + 2,
        ));
        layer.fields.push(field(
            "Quoted destination port",
            be16(b, l4 + 2).to_string(),
            l4 + 2..l4 + 4,
        ));
    }
    if n >= 8 && p == proto::TCP {
        layer.fields.push(field(
            "Quoted sequence number",
            be32(b, l4 + 4).to_string(),
            l4 + 4..l4 + 8,
        ));
    }
    if n >= 8 && p == proto::ICMP {
        layer
            .fields
            .push(field("Quoted ICMP type", b[l4].to_string(), l4..l4 + 1));
        layer.fields.push(field(
            "Quoted identifier",
            be16(b, l4 + 4).to_string(),
            l4 + 4..l4 + 6,
        ));
    }
    layer.range = range;
    layer
}

fn push_payload(layers: &mut Vec<Layer>, b: &[u8], range: Range<usize>) {
    if range.is_empty() {
        return;
    }
    let data = &b[range.clone()];
    let preview: String = data
        .iter()
        .take(48)
        .map(|&c| match c {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            0x20..=0x7e => char::from(c).to_string(),
            _ => ".".to_string(),
        })
        .collect();
    let more = if data.len() > 48 { "…" } else { "" };
    layers.push(Layer {
        title: format!("Payload ({} bytes)", data.len()),
        range: range.clone(),
        fields: vec![field("Data", format!("\"{preview}{more}\""), range)],
    });
}

/// A one-line summary like the kernel-oracle recorder's `packet_summary`.
pub fn summary(bytes: &[u8]) -> String {
    let pkt = match wire::parse(bytes) {
        Ok(p) => p,
        Err(e) => return format!("bad packet ({e})"),
    };
    let ip = &pkt.ip;
    let mut s = String::new();
    match pkt.l4 {
        L4::Tcp(t) => {
            let _ = write!(
                s,
                "tcp {}:{} > {}:{} [{}] seq={} ack={} win={} len={}",
                ip.src,
                t.sport,
                ip.dst,
                t.dport,
                tcp_flags::to_letters(t.flags),
                t.seq,
                t.ack,
                t.window,
                t.payload_len
            );
        }
        L4::Udp(u) => {
            let _ = write!(s, "udp {}:{} > {}:{}", ip.src, u.sport, ip.dst, u.dport);
        }
        L4::Icmp(ic) => {
            let _ = write!(
                s,
                "icmp {} > {} type={} code={}",
                ip.src, ip.dst, ic.icmp_type, ic.code
            );
            match ic.inner {
                Some(inner) => {
                    let _ = write!(s, " quoting({} {}", proto_name(inner.protocol), inner.src);
                    match inner.ports() {
                        Some((sp, dp)) if matches!(inner.protocol, proto::TCP | proto::UDP) => {
                            let _ = write!(s, ":{sp} > {}:{dp})", inner.dst);
                        }
                        _ => {
                            let _ = write!(s, " > {})", inner.dst);
                        }
                    }
                }
                None => {
                    let _ = write!(s, " id={} seq={}", ic.id(), ic.sequence());
                }
            }
        }
        _ => {
            let _ = write!(s, "{} {} > {}", proto_name(ip.protocol), ip.src, ip.dst);
        }
    }
    let _ = write!(s, " ttl={}", ip.ttl);
    s
}

/// A short label for a diagram arrow: TCP flags, or the protocol and ports.
pub fn short_label(bytes: &[u8]) -> String {
    match wire::parse(bytes) {
        Ok(pkt) => match pkt.l4 {
            L4::Tcp(t) => {
                let len = if t.payload_len > 0 {
                    format!(" {}B", t.payload_len)
                } else {
                    String::new()
                };
                format!("{}{len}", tcp_flags::to_letters(t.flags))
            }
            L4::Udp(u) => format!("udp {}→{}", u.sport, u.dport),
            L4::Icmp(ic) => format!("icmp {}", icmp_type_name(ic.icmp_type)),
            _ => proto_name(pkt.ip.protocol),
        },
        Err(_) => "bad packet".into(),
    }
}

/// Hex digits of `bytes`, no separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmwall::wire::decode_hex;

    /// The SYN of the kernel-oracle's tcp_close_client_fin trace.
    const SYN: &str = "4500003c0001000040067d03c0a8010acb0071059c410050499602d200000000a002faf0240d0000020405b40402080a000f42410000000001030307";

    #[test]
    fn summary_matches_the_recorder() {
        let b = decode_hex(SYN).unwrap();
        assert_eq!(
            summary(&b),
            "tcp 192.168.1.10:40001 > 203.0.113.5:80 [S] seq=1234567890 ack=0 win=64240 len=0 ttl=64"
        );
        assert_eq!(short_label(&b), "S");
    }

    #[test]
    fn every_field_points_at_its_bytes() {
        let b = decode_hex(SYN).unwrap();
        let layers = dissect(&b);
        let titles: Vec<&str> = layers.iter().map(|l| l.title.as_str()).collect();
        assert_eq!(titles, ["IPv4", "TCP"]);
        let find = |name: &str| {
            layers
                .iter()
                .flat_map(|l| &l.fields)
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no field {name}"))
        };
        assert_eq!(find("Source").range, 12..16);
        assert_eq!(find("Source").value, "192.168.1.10");
        assert_eq!(find("Sequence number").range, 24..28);
        assert_eq!(find("Flags").value, "SYN (S)");
        assert_eq!(find("Checksum").value, "0x240d (correct)");
        assert_eq!(find("Header checksum").value, "0x7d03 (correct)");
        assert_eq!(
            find("Options").value,
            "MSS 1460, SACK permitted, timestamps 1000001/0, window scale 7"
        );
        assert_eq!(find("Options").range, 40..60);
        for l in &layers {
            for f in &l.fields {
                assert!(f.range.end <= b.len() && !f.range.is_empty(), "{}", f.name);
            }
        }
    }

    #[test]
    fn icmp_errors_show_the_quoted_packet() {
        // Port unreachable quoting a UDP query, from the icmp_error_udp_port_unreach trace.
        let err = decode_hex(
            "450000380003000040017c76cb007148c0a8015b03034b5000000000\
             450000210001000040117c7fc0a8015bcb0071489dd00035000d139a",
        )
        .unwrap();
        let layers = dissect(&err);
        assert_eq!(layers.len(), 3);
        assert_eq!(layers[1].fields[0].value, "3 (destination unreachable)");
        assert_eq!(layers[1].fields[1].value, "3 (port unreachable)");
        assert_eq!(layers[2].title, "Quoted packet");
        assert!(layers[2]
            .fields
            .iter()
            .any(|f| f.name == "Quoted destination port" && f.value == "53"));
        assert_eq!(
            summary(&err),
            "icmp 203.0.113.72 > 192.168.1.91 type=3 code=3 quoting(udp 192.168.1.91:40400 > 203.0.113.72:53) ttl=64"
        );
    }

    #[test]
    fn broken_bytes_are_one_raw_layer() {
        let layers = dissect(&[0x45, 0, 0]);
        assert_eq!(layers.len(), 1);
        assert!(layers[0].title.starts_with("Raw bytes"));
        assert!(summary(&[1, 2]).starts_with("bad packet"));
    }
}
