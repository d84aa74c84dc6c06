//! `-m sctp` (loaded implicitly by `-p sctp --dport 80`): ports and chunk types.
//!
//! An SCTP packet is a 12-byte common header (ports, verification tag, CRC32c)
//! followed by chunks, each `type(1) flags(1) length(2)` and its value, padded to 4
//! bytes. `--chunk-types any|all|only LIST` tests which chunk types the packet
//! carries; `TYPE:FLAGS` also tests that chunk's flags (an upper-case letter: the
//! flag is set, lower-case: clear; DATA has `IUBE`, ABORT and SHUTDOWN_COMPLETE `T`).
//!
//! With the nf_tables backend (iptables 1.8.9) the match stays the x_tables `sctp`
//! match even though `nft list ruleset` shows most of it translated (and
//! mistranslated: it shows `! --chunk-types all INIT,SACK` as "INIT missing and SACK
//! missing"); the kernel traces follow `sctp_mt`. It does not match a non-first
//! fragment; it drops the packet at once (hotdrop) when the 12-byte common header, or
//! a chunk header while it walks the chunks, cannot be read, or a chunk has length 0.
//! `any`: some chunk is of a listed type with matching flags; `all`: every listed
//! type occurs with matching flags; `only`: every chunk is of a listed type with
//! matching flags. Ports and chunk types are saved as written (`--sport 0:65535` too).

use super::ports::{set_once, PortRange};
use super::{OptSpec, Outcome};
use crate::rules::view::View;

const SPORT: u8 = 1;
const DPORT: u8 = 2;
const CHUNKS: u8 = 3;

pub(crate) const SCTP_OPTS: &[OptSpec] = &[
    OptSpec::new("source-port", SPORT, 1, true),
    OptSpec::new("sport", SPORT, 1, true),
    OptSpec::new("destination-port", DPORT, 1, true),
    OptSpec::new("dport", DPORT, 1, true),
    OptSpec::new("chunk-types", CHUNKS, 2, true),
];

/// The chunk types iptables knows, in its table order: name, type number, and the
/// flag letters from bit 7 down to bit 0 (`-` = no flag there).
const CHUNK_NAMES: &[(&str, u8, &str)] = &[
    ("DATA", 0, "----IUBE"),
    ("INIT", 1, "--------"),
    ("INIT_ACK", 2, "--------"),
    ("SACK", 3, "--------"),
    ("HEARTBEAT", 4, "--------"),
    ("HEARTBEAT_ACK", 5, "--------"),
    ("ABORT", 6, "-------T"),
    ("SHUTDOWN", 7, "--------"),
    ("SHUTDOWN_ACK", 8, "--------"),
    ("ERROR", 9, "--------"),
    ("COOKIE_ECHO", 10, "--------"),
    ("COOKIE_ACK", 11, "--------"),
    ("ECN_ECNE", 12, "--------"),
    ("ECN_CWR", 13, "--------"),
    ("SHUTDOWN_COMPLETE", 14, "-------T"),
    ("I_DATA", 64, "----IUBE"),
    ("RE_CONFIG", 130, "--------"),
    ("PAD", 132, "--------"),
    ("ASCONF", 193, "--------"),
    ("ASCONF_ACK", 128, "--------"),
    ("FORWARD_TSN", 192, "--------"),
    ("I_FORWARD_TSN", 194, "--------"),
];

/// How `--chunk-types` combines the listed types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkMatch {
    Any,
    All,
    Only,
}

/// A flags test for one chunk type: `(flags & mask) == flag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkFlags {
    /// The chunk type the test applies to. iptables 1.8.9 records the *table index*
    /// here, which equals the type up to SHUTDOWN_COMPLETE; I_DATA's flags land on
    /// type 15 and so never test anything.
    pub chunk_type: u8,
    pub mask: u8,
    pub flag: u8,
}

/// `--chunk-types [!] any|all|only LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkTypes {
    pub kind: ChunkMatch,
    /// One bit per chunk type (256).
    pub map: [u32; 8],
    pub flags: Vec<ChunkFlags>,
    pub invert: bool,
}

/// The `sctp` match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SctpMatch {
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    pub chunks: Option<ChunkTypes>,
}

impl ChunkTypes {
    fn has(&self, t: u8) -> bool {
        self.map[usize::from(t / 32)] & (1 << (t % 32)) != 0
    }

    fn all_set(&self) -> bool {
        self.map.iter().all(|&w| w == u32::MAX)
    }

    /// The flags test recorded for a chunk type (`match_flags` takes the first).
    fn flags_for(&self, t: u8) -> Option<ChunkFlags> {
        self.flags.iter().copied().find(|f| f.chunk_type == t)
    }

    /// `LIST`: comma-separated names (any case), `ALL` or `NONE`, each with optional
    /// `:FLAGS`.
    fn parse(kind: &str, list: &str, invert: bool) -> Result<ChunkTypes, String> {
        let kind = match kind.to_ascii_lowercase().as_str() {
            "any" => ChunkMatch::Any,
            "all" => ChunkMatch::All,
            "only" => ChunkMatch::Only,
            _ => return Err("Match type has to be one of \"ALL\", \"ANY\" or \"ONLY\"".into()),
        };
        let mut c = ChunkTypes {
            kind,
            map: [0; 8],
            flags: Vec::new(),
            invert,
        };
        for item in list.split(',') {
            let (name, flags) = item.split_once(':').unwrap_or((item, ""));
            if name.eq_ignore_ascii_case("ALL") {
                c.map = [u32::MAX; 8];
                continue;
            }
            if name.eq_ignore_ascii_case("NONE") {
                continue;
            }
            let Some(index) = CHUNK_NAMES
                .iter()
                .position(|(n, _, _)| n.eq_ignore_ascii_case(name))
            else {
                return Err(format!("Unknown sctp chunk `{name}'"));
            };
            let (_, t, letters) = CHUNK_NAMES[index];
            c.map[usize::from(t / 32)] |= 1 << (t % 32);
            for ch in flags.chars() {
                let Some(pos) = letters.find(ch.to_ascii_uppercase()) else {
                    return Err(format!("Invalid flags for chunk type {index}"));
                };
                c.add_flag(index as u8, 1 << (7 - pos), ch.is_ascii_uppercase());
            }
        }
        Ok(c)
    }

    /// `save_chunk_flag_info`: a later letter for the same chunk widens the mask; an
    /// upper-case one sets the flag, a lower-case one never clears it again.
    fn add_flag(&mut self, chunk_type: u8, bit: u8, set: bool) {
        let f = match self.flags.iter_mut().find(|f| f.chunk_type == chunk_type) {
            Some(f) => f,
            None => {
                self.flags.push(ChunkFlags {
                    chunk_type,
                    mask: 0,
                    flag: 0,
                });
                self.flags.last_mut().expect("just pushed")
            }
        };
        f.mask |= bit;
        if set {
            f.flag |= bit;
        }
    }

    /// `match_packet`: walks the chunks; `None` is a hotdrop.
    fn eval_compat(&self, chunks: &[u8]) -> Option<bool> {
        let mut remaining = self.map;
        let mut off = 0;
        loop {
            let h = chunks.get(off..off + 4)?;
            let (t, flags, len) = (h[0], h[1], usize::from(u16::from_be_bytes([h[2], h[3]])));
            if len == 0 {
                return None;
            }
            off += len.div_ceil(4) * 4;
            let flags_ok = self.flags_for(t).is_none_or(|f| flags & f.mask == f.flag);
            if self.has(t) {
                match self.kind {
                    ChunkMatch::Any if flags_ok => return Some(true),
                    ChunkMatch::All if flags_ok => {
                        remaining[usize::from(t / 32)] &= !(1 << (t % 32))
                    }
                    ChunkMatch::Only if !flags_ok => return Some(false),
                    _ => {}
                }
            } else if self.kind == ChunkMatch::Only {
                return Some(false);
            }
            if off >= chunks.len() {
                break;
            }
        }
        Some(match self.kind {
            ChunkMatch::All => remaining == [0; 8],
            ChunkMatch::Any => false,
            ChunkMatch::Only => true,
        })
    }

    fn save(&self, out: &mut String) {
        out.push_str(if self.invert {
            " ! --chunk-types "
        } else {
            " --chunk-types "
        });
        out.push_str(match self.kind {
            ChunkMatch::Any => "any ",
            ChunkMatch::All => "all ",
            ChunkMatch::Only => "only ",
        });
        out.push_str(&self.list_text());
    }

    /// `print_chunks`: `ALL`, `NONE`, or the names in type order with their flags.
    fn list_text(&self) -> String {
        if self.all_set() {
            return "ALL".into();
        }
        let mut names = Vec::new();
        for t in 0..=255u8 {
            if !self.has(t) {
                continue;
            }
            let Some(&(name, _, letters)) = CHUNK_NAMES.iter().find(|c| c.1 == t) else {
                names.push(t.to_string());
                continue;
            };
            let mut s = name.to_string();
            if let Some(f) = self.flags_for(t).filter(|f| f.mask != 0) {
                s.push(':');
                for (i, ch) in letters.chars().enumerate() {
                    let bit = 1 << (7 - i);
                    if f.mask & bit != 0 {
                        s.push(if f.flag & bit != 0 {
                            ch
                        } else {
                            ch.to_ascii_lowercase()
                        });
                    }
                }
            }
            names.push(s);
        }
        if names.is_empty() {
            "NONE".into()
        } else {
            names.join(",")
        }
    }
}

impl SctpMatch {
    pub(crate) fn option(&mut self, id: u8, invert: bool, args: &[&str]) -> Result<(), String> {
        match id {
            SPORT => set_once(&mut self.sport, "source-port", args[0], invert, 132),
            DPORT => set_once(&mut self.dport, "destination-port", args[0], invert, 132),
            _ => {
                if self.chunks.is_some() {
                    return Err("Only one `--chunk-types' allowed".into());
                }
                self.chunks = Some(ChunkTypes::parse(args[0], args[1], invert)?);
                Ok(())
            }
        }
    }

    /// `sctp_mt` of x_tables.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        if v.fragoff != 0 {
            return Outcome::NoMatch;
        }
        let Some(sh) = v.l4_bytes(0, 12) else {
            return Outcome::Hotdrop;
        };
        let port = |o: usize| u16::from_be_bytes([sh[o], sh[o + 1]]);
        if !self.sport.is_none_or(|r| r.matches(port(0)))
            || !self.dport.is_none_or(|r| r.matches(port(2)))
        {
            return Outcome::NoMatch;
        }
        let Some(c) = &self.chunks else {
            return Outcome::Match;
        };
        match c.eval_compat(&v.l4[12..]) {
            None => Outcome::Hotdrop,
            Some(m) => Outcome::from(m != c.invert),
        }
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m sctp");
        if let Some(r) = &self.sport {
            r.save_always("sport", out);
        }
        if let Some(r) = &self.dport {
            r.save_always("dport", out);
        }
        if let Some(c) = &self.chunks {
            c.save(out);
        }
    }

    /// `iptables -L`: ` sctp spt:P dpts:LO:HI [!] any|all|only LIST`.
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        out.push_str(" sctp");
        if let Some(r) = self.sport {
            r.list("spt", 132, numeric, out);
        }
        if let Some(r) = self.dport {
            r.list("dpt", 132, numeric, out);
        }
        if let Some(c) = &self.chunks {
            out.push_str(if c.invert { " !" } else { "" });
            out.push_str(match c.kind {
                ChunkMatch::Any => " any ",
                ChunkMatch::All => " all ",
                ChunkMatch::Only => " only ",
            });
            out.push_str(&c.list_text());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(t: u8, flags: u8, len: u16) -> Vec<u8> {
        let mut c = vec![t, flags];
        c.extend_from_slice(&len.to_be_bytes());
        c.resize(usize::from(len).div_ceil(4) * 4, 0);
        c
    }

    #[test]
    fn parse_and_save_like_iptables() {
        let c =
            ChunkTypes::parse("any", "init,abort:Tt,shutdown_complete:t,data:iUbE", false).unwrap();
        let mut s = String::new();
        c.save(&mut s);
        assert_eq!(
            s,
            " --chunk-types any DATA:iUbE,INIT,ABORT:T,SHUTDOWN_COMPLETE:t"
        );
        assert!(ChunkTypes::parse("some", "INIT", false).is_err());
        assert_eq!(
            ChunkTypes::parse("any", "INIT:T", false).unwrap_err(),
            "Invalid flags for chunk type 1"
        );
        assert_eq!(
            ChunkTypes::parse("all", "ALL", false).unwrap().list_text(),
            "ALL"
        );
        assert_eq!(
            ChunkTypes::parse("all", "NONE", false).unwrap().list_text(),
            "NONE"
        );
    }

    #[test]
    fn all_and_only_with_flags() {
        let all = ChunkTypes::parse("all", "DATA:Be,SACK", false).unwrap();
        let mut p = chunk(0, 2, 20);
        p.extend(chunk(3, 0, 16));
        assert_eq!(all.eval_compat(&p), Some(true));
        assert_eq!(all.eval_compat(&chunk(0, 3, 20)), Some(false));
        let only = ChunkTypes::parse("only", "DATA", false).unwrap();
        assert_eq!(only.eval_compat(&p), Some(false));
    }

    #[test]
    fn compat_walk_hotdrops_on_zero_length() {
        let c = ChunkTypes::parse("any", "SACK", false).unwrap();
        let mut p = chunk(0, 0, 16);
        p.extend([3, 0, 0, 0]);
        assert_eq!(c.eval_compat(&p), None);
        assert_eq!(c.eval_compat(&chunk(3, 0, 16)), Some(true));
    }
}
