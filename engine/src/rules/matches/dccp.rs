//! `-m dccp` (loaded implicitly by `-p dccp --dport 80`): ports and packet types.
//!
//! DCCP's generic header starts like UDP's (source and destination port) and holds
//! the packet type in bits 1-4 of byte 8 (REQUEST 0 … SYNCACK 9, and INVALID for
//! every reserved type from 10 on, as the kernel traces show). Linux 6.18 no
//! longer tracks DCCP (conntrack treats it as an unknown protocol) but the x_tables
//! `dccp` match remains: it does not match a non-first fragment and drops the packet
//! at once (hotdrop) when the 12-byte generic header cannot be read. `--dccp-option`
//! is not supported.

use super::ports::{set_once, PortRange};
use super::{OptSpec, Outcome};
use crate::rules::view::View;

const SPORT: u8 = 1;
const DPORT: u8 = 2;
const TYPES: u8 = 3;
const OPTION: u8 = 4;

pub(crate) const DCCP_OPTS: &[OptSpec] = &[
    OptSpec::new("source-port", SPORT, 1, true),
    OptSpec::new("sport", SPORT, 1, true),
    OptSpec::new("destination-port", DPORT, 1, true),
    OptSpec::new("dport", DPORT, 1, true),
    OptSpec::new("dccp-types", TYPES, 1, true),
    OptSpec::new("dccp-option", OPTION, 1, true),
];

/// Packet type names, by type number (`INVALID` is bit 10).
const TYPE_NAMES: &[&str] = &[
    "REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC",
    "SYNCACK", "INVALID",
];

/// The `dccp` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DccpMatch {
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    /// One bit per packet type, and whether the test is negated.
    pub types: Option<(u16, bool)>,
}

fn types_text(mask: u16) -> String {
    let names: Vec<&str> = (0..TYPE_NAMES.len())
        .filter(|&i| mask & (1 << i) != 0)
        .map(|i| TYPE_NAMES[i])
        .collect();
    names.join(",")
}

impl DccpMatch {
    pub(crate) fn option(&mut self, id: u8, invert: bool, args: &[&str]) -> Result<(), String> {
        match id {
            SPORT => set_once(&mut self.sport, "source-port", args[0], invert, 33),
            DPORT => set_once(&mut self.dport, "destination-port", args[0], invert, 33),
            TYPES => {
                if self.types.is_some() {
                    return Err("Only one `--dccp-types' allowed".into());
                }
                let mut mask = 0u16;
                for name in args[0].split(',') {
                    let i = TYPE_NAMES
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(name))
                        .ok_or_else(|| format!("Unknown DCCP type `{name}'"))?;
                    mask |= 1 << i;
                }
                self.types = Some((mask, invert));
                Ok(())
            }
            _ => Err("dccp: option \"--dccp-option\" is not supported by wasmwall".into()),
        }
    }

    /// `dccp_mt` of x_tables.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        if v.fragoff != 0 {
            return Outcome::NoMatch;
        }
        let Some(dh) = v.l4_bytes(0, 12) else {
            return Outcome::Hotdrop;
        };
        let port = |o: usize| u16::from_be_bytes([dh[o], dh[o + 1]]);
        // Types 10 to 15 are reserved: all of them count as INVALID.
        let packet_type = ((dh[8] >> 1) & 0x0f).min(10);
        Outcome::from(
            self.sport.is_none_or(|r| r.matches(port(0)))
                && self.dport.is_none_or(|r| r.matches(port(2)))
                && self
                    .types
                    .is_none_or(|(mask, inv)| (mask & (1 << packet_type) != 0) != inv),
        )
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m dccp");
        if let Some(r) = &self.sport {
            r.save_always("sport", out);
        }
        if let Some(r) = &self.dport {
            r.save_always("dport", out);
        }
        if let Some((mask, inv)) = self.types {
            out.push_str(if inv {
                " ! --dccp-types "
            } else {
                " --dccp-types "
            });
            out.push_str(&types_text(mask));
        }
    }

    /// `iptables -L`: ` dccp spt:P dpts:LO:HI [!] TYPES`.
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        out.push_str(" dccp");
        if let Some(r) = self.sport {
            r.list("spt", 33, numeric, out);
        }
        if let Some(r) = self.dport {
            r.list("dpt", 33, numeric, out);
        }
        if let Some((mask, inv)) = self.types {
            out.push_str(if inv { " !" } else { " " });
            out.push_str(&types_text(mask));
        }
    }
}
