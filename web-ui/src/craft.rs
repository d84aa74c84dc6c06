//! Turning the craft form's text fields into packet bytes.
//!
//! Empty TCP sequence and acknowledgement numbers take the values the tracked
//! connection expects next ([`next_expected`]), so a crafted segment of an existing
//! connection is in window unless the numbers are typed in. An ICMP error quotes the
//! last packet its destination sent through the router.

use std::net::Ipv4Addr;

use wasmwall::wire::{
    self, icmp_type, tcp_flags, IcmpSpec, IpSpec, PacketSpec, TcpOptionsSpec, TcpSpec, Transport,
    UdpSpec, L4,
};
use wasmwall::Iface;

use crate::session::{next_expected, EventKind, Session, StepOutcome};

/// The form's fields, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CraftInput {
    pub from: String,
    /// `tcp`, `udp` or `icmp`.
    pub proto: String,
    pub src: String,
    pub dst: String,
    pub sport: String,
    pub dport: String,
    pub flags: String,
    pub seq: String,
    pub ack: String,
    pub window: String,
    pub payload: String,
    pub ttl: String,
    pub icmp_type: String,
    pub icmp_code: String,
    pub icmp_id: String,
    pub icmp_seq: String,
}

impl Default for CraftInput {
    /// A LAN client's SYN to a web server.
    fn default() -> CraftInput {
        CraftInput {
            from: "lan".into(),
            proto: "tcp".into(),
            src: "192.168.1.10".into(),
            dst: "203.0.113.5".into(),
            sport: "40000".into(),
            dport: "80".into(),
            flags: "S".into(),
            seq: String::new(),
            ack: String::new(),
            window: "64240".into(),
            payload: String::new(),
            ttl: "64".into(),
            icmp_type: "8".into(),
            icmp_code: "0".into(),
            icmp_id: "1".into(),
            icmp_seq: "1".into(),
        }
    }
}

fn number<T: std::str::FromStr>(name: &str, text: &str, default: Option<T>) -> Result<T, String> {
    let t = text.trim();
    if t.is_empty() {
        return default.ok_or_else(|| format!("{name}: a number is needed"));
    }
    t.parse()
        .map_err(|_| format!("{name}: {t:?} is not a valid number here"))
}

fn address(name: &str, text: &str) -> Result<Ipv4Addr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{name}: {:?} is not an IPv4 address", text.trim()))
}

impl CraftInput {
    /// The fields that describe an existing packet (its reply's fields after [`swap`]).
    ///
    /// [`swap`]: CraftInput::swap
    pub fn from_packet(from: Iface, bytes: &[u8]) -> Option<CraftInput> {
        let pkt = wire::parse(bytes).ok()?;
        let mut c = CraftInput {
            from: from.name().into(),
            src: pkt.ip.src.to_string(),
            dst: pkt.ip.dst.to_string(),
            ttl: pkt.ip.ttl.to_string(),
            ..CraftInput::default()
        };
        let payload = |off: usize| {
            String::from_utf8_lossy(&bytes[off..usize::from(pkt.ip.total_len)]).into_owned()
        };
        match pkt.l4 {
            L4::Tcp(t) => {
                c.proto = "tcp".into();
                c.sport = t.sport.to_string();
                c.dport = t.dport.to_string();
                c.flags = tcp_flags::to_letters(t.flags).replace('-', "");
                c.seq = t.seq.to_string();
                c.ack = t.ack.to_string();
                c.window = t.window.to_string();
                c.payload = payload(t.payload_offset());
            }
            L4::Udp(u) => {
                c.proto = "udp".into();
                c.sport = u.sport.to_string();
                c.dport = u.dport.to_string();
                c.payload = payload(usize::from(u.offset) + 8);
            }
            L4::Icmp(i) => {
                c.proto = "icmp".into();
                c.icmp_type = i.icmp_type.to_string();
                c.icmp_code = i.code.to_string();
                c.icmp_id = i.id().to_string();
                c.icmp_seq = i.sequence().to_string();
                if i.inner.is_none() {
                    c.payload = payload(usize::from(i.offset) + 8);
                }
            }
            _ => return None,
        }
        Some(c)
    }

    /// The same fields for a packet going the other way: addresses, ports and side
    /// swapped, sequence numbers cleared so they are filled in from the connection.
    pub fn swap(&mut self) {
        std::mem::swap(&mut self.src, &mut self.dst);
        std::mem::swap(&mut self.sport, &mut self.dport);
        self.from = if self.from == "lan" { "wan" } else { "lan" }.into();
        self.seq.clear();
        self.ack.clear();
    }

    /// The sequence and acknowledgement numbers the tracked connection expects for a
    /// TCP segment with these addresses and ports.
    pub fn next_expected(&self, session: &Session) -> Option<(u32, u32)> {
        let src = address("Source", &self.src).ok()?;
        let dst = address("Destination", &self.dst).ok()?;
        let sport = number::<u16>("Source port", &self.sport, None).ok()?;
        let dport = number::<u16>("Destination port", &self.dport, None).ok()?;
        next_expected(session.firewall(), src, sport, dst, dport)
    }

    /// The packet's side and bytes, or what is wrong with the fields.
    pub fn build(&self, session: &Session) -> Result<(Iface, Vec<u8>), String> {
        let from = Iface::from_name(self.from.trim())
            .ok_or_else(|| format!("From: {:?} is neither lan nor wan", self.from))?;
        let src = address("Source", &self.src)?;
        let dst = address("Destination", &self.dst)?;
        let ttl: u8 = number("TTL", &self.ttl, Some(64))?;
        let payload = self.payload.as_bytes().to_vec();
        let transport = match self.proto.as_str() {
            "tcp" => {
                let sport = number("Source port", &self.sport, None)?;
                let dport = number("Destination port", &self.dport, None)?;
                let flags = tcp_flags::from_letters(&self.flags)
                    .map_err(|c| format!("Flags: {c:?} is not one of S F R P A U E C"))?;
                let expected = self.next_expected(session);
                let seq = number(
                    "Sequence number",
                    &self.seq,
                    Some(expected.map_or(0, |e| e.0)),
                )?;
                let default_ack = match expected {
                    Some((_, ack)) if flags & tcp_flags::ACK != 0 => ack,
                    _ => 0,
                };
                let ack = number("Acknowledgement number", &self.ack, Some(default_ack))?;
                Transport::Tcp(TcpSpec {
                    sport,
                    dport,
                    flags: tcp_flags::to_letters(flags).replace('-', ""),
                    seq,
                    ack,
                    win: number("Window", &self.window, Some(64240))?,
                    urg: 0,
                    options: TcpOptionsSpec {
                        mss: (flags & tcp_flags::SYN != 0).then_some(1460),
                        ..TcpOptionsSpec::default()
                    },
                    payload,
                    bad_csum: false,
                })
            }
            "udp" => Transport::Udp(UdpSpec {
                sport: number("Source port", &self.sport, None)?,
                dport: number("Destination port", &self.dport, None)?,
                payload,
                bad_csum: false,
                no_csum: false,
            }),
            "icmp" => {
                let t: u8 = number("ICMP type", &self.icmp_type, Some(8))?;
                let code: u8 = number("ICMP code", &self.icmp_code, Some(0))?;
                if icmp_type::is_error(t) {
                    let quoted = last_packet_from(session, dst).ok_or_else(|| {
                        format!(
                            "An ICMP error quotes the packet it is about, and {dst} has not sent \
                             one through the router yet."
                        )
                    })?;
                    let mut spec = IcmpSpec::error(t, code, &quoted);
                    if t == icmp_type::DEST_UNREACH && code == 4 {
                        spec.rest = 1400;
                    }
                    Transport::Icmp(spec)
                } else {
                    Transport::Icmp(IcmpSpec {
                        icmp_type: t,
                        code,
                        payload,
                        ..IcmpSpec::echo(
                            number("ICMP identifier", &self.icmp_id, Some(1))?,
                            number("ICMP sequence", &self.icmp_seq, Some(1))?,
                        )
                    })
                }
            }
            other => return Err(format!("Protocol: {other:?} is not tcp, udp or icmp")),
        };
        let spec = PacketSpec {
            ip: IpSpec {
                ttl,
                id: (session.len() as u16).wrapping_add(1),
                ..IpSpec::new(src, dst)
            },
            transport,
        };
        let bytes = spec.build().map_err(|e| e.to_string())?;
        Ok((from, bytes))
    }
}

/// The last applied packet `host` sent, as the router forwarded it when it did.
fn last_packet_from(session: &Session, host: Ipv4Addr) -> Option<Vec<u8>> {
    let events = &session.scenario().events;
    session.records().iter().rev().find_map(|r| {
        let EventKind::Packet { bytes, .. } = &events[r.index].kind else {
            return None;
        };
        if bytes.get(12..16)? != host.octets() {
            return None;
        }
        let forwarded = match &r.outcome {
            StepOutcome::Packet(d) => d
                .emitted
                .iter()
                .find(|e| e.kind == "forwarded")
                .map(|e| e.bytes.clone()),
            _ => None,
        };
        Some(forwarded.unwrap_or_else(|| bytes.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;
    use wasmwall::{CtState, Outcome};

    fn send(session: &mut Session, input: &CraftInput) -> wasmwall::Decision {
        let (from, bytes) = input.build(session).unwrap();
        session.insert(EventKind::Packet { from, bytes }, "crafted", 0);
        session.last_packet().unwrap().decision().unwrap().clone()
    }

    #[test]
    fn an_inbound_syn_is_new_and_dropped() {
        let mut s = Session::new(presets::preset("blank").unwrap().scenario()).unwrap();
        let input = CraftInput {
            from: "wan".into(),
            src: "203.0.113.9".into(),
            dst: "192.168.1.10".into(),
            sport: "5555".into(),
            dport: "22".into(),
            ..CraftInput::default()
        };
        let d = send(&mut s, &input);
        assert_eq!((d.outcome, d.ctstate), (Outcome::Dropped, CtState::New));
    }

    #[test]
    fn empty_numbers_continue_the_tracked_connection() {
        let mut s = Session::new(presets::preset("tcp-handshake").unwrap().scenario()).unwrap();
        s.seek(3);
        let mut input = CraftInput::from_packet(Iface::Lan, &{
            let EventKind::Packet { bytes, .. } = &s.scenario().events[2].kind else {
                panic!("a packet")
            };
            bytes.clone()
        })
        .unwrap();
        assert_eq!(
            (
                input.src.as_str(),
                input.sport.as_str(),
                input.flags.as_str()
            ),
            ("192.168.1.10", "40001", "A")
        );
        input.seq.clear();
        input.ack.clear();
        input.flags = "PA".into();
        input.payload = "hello".into();
        assert_eq!(
            input.next_expected(&s),
            Some((1_234_567_891, 3_456_789_013))
        );
        let d = send(&mut s, &input);
        assert_eq!(
            (d.outcome, d.ctstate),
            (Outcome::Forwarded, CtState::Established)
        );

        // Far beyond the receiver's window: INVALID, dropped by the guide's first rule.
        input.seq = "1334567891".into();
        let d = send(&mut s, &input);
        assert_eq!((d.outcome, d.ctstate), (Outcome::Dropped, CtState::Invalid));
        assert!(d.reason.unwrap().contains("SEQ is over"));

        input.swap();
        input.flags = "A".into();
        input.payload.clear();
        assert_eq!(input.from, "wan");
        let d = send(&mut s, &input);
        assert_eq!(
            (d.outcome, d.ctstate),
            (Outcome::Forwarded, CtState::Established)
        );
    }

    #[test]
    fn icmp_errors_quote_the_destinations_last_packet() {
        let mut s = Session::new(presets::preset("blank").unwrap().scenario()).unwrap();
        let udp = CraftInput {
            proto: "udp".into(),
            dport: "53".into(),
            payload: "query".into(),
            ..CraftInput::default()
        };
        let err = CraftInput {
            from: "wan".into(),
            proto: "icmp".into(),
            src: "203.0.113.5".into(),
            dst: "192.168.1.10".into(),
            icmp_type: "3".into(),
            icmp_code: "3".into(),
            ..CraftInput::default()
        };
        assert!(err.build(&s).unwrap_err().contains("quotes the packet"));
        send(&mut s, &udp);
        let d = send(&mut s, &err);
        assert_eq!(
            (d.outcome, d.ctstate),
            (Outcome::Forwarded, CtState::Related)
        );
        let echo = CraftInput {
            proto: "icmp".into(),
            ..CraftInput::default()
        };
        let d = send(&mut s, &echo);
        assert_eq!(d.ctstate, CtState::New);
    }

    #[test]
    fn bad_fields_say_which_field() {
        let s = Session::new(presets::preset("blank").unwrap().scenario()).unwrap();
        let bad = |f: fn(&mut CraftInput)| {
            let mut c = CraftInput::default();
            f(&mut c);
            c.build(&s).unwrap_err()
        };
        assert!(bad(|c| c.src = "192.168.1".into()).starts_with("Source:"));
        assert!(bad(|c| c.dport = "70000".into()).starts_with("Destination port:"));
        assert!(bad(|c| c.flags = "SX".into()).starts_with("Flags:"));
        assert!(bad(|c| c.from = "dmz".into()).starts_with("From:"));
        assert!(bad(|c| c.ttl = "300".into()).starts_with("TTL:"));
    }
}
