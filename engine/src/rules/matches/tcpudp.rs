//! `-m tcp` and `-m udp` (loaded implicitly by `-p tcp --dport 80`).
//!
//! With the nf_tables backend that recorded the kernel traces (iptables 1.8.9),
//! ports and TCP flags become native payload comparisons (`payload load 2b @
//! transport header + 2`): a packet whose transport header is too short for the
//! field simply does not match and evaluation goes on with the next rule. These
//! loads do **not** look at the fragment offset: a non-first fragment (which only
//! reaches the rules when conntrack, and with it reassembly, is off) is matched
//! against whatever data sits where its transport header would be — the kernel
//! traces show a later fragment matching `--dport`. Only `--tcp-option` needs the
//! x_tables `tcp` match, which skips non-first fragments, *hotdrops* (drops at
//! once) a packet whose TCP header it cannot read, and a fragment at offset 1 (an
//! overlapping-header attack).

use super::ports::{set_once, PortRange};
use super::{OptSpec, Outcome};
use crate::rules::view::View;

const SPORT: u8 = 1;
const DPORT: u8 = 2;
const SYN: u8 = 3;
const FLAGS: u8 = 4;
const OPTION: u8 = 5;

pub(crate) const TCP_OPTS: &[OptSpec] = &[
    OptSpec::new("source-port", SPORT, 1, true),
    OptSpec::new("sport", SPORT, 1, true),
    OptSpec::new("destination-port", DPORT, 1, true),
    OptSpec::new("dport", DPORT, 1, true),
    OptSpec::new("syn", SYN, 0, true),
    OptSpec::new("tcp-flags", FLAGS, 2, true),
    OptSpec::new("tcp-option", OPTION, 1, true),
];

pub(crate) const UDP_OPTS: &[OptSpec] = &[
    OptSpec::new("source-port", SPORT, 1, true),
    OptSpec::new("sport", SPORT, 1, true),
    OptSpec::new("destination-port", DPORT, 1, true),
    OptSpec::new("dport", DPORT, 1, true),
];

/// TCP flag names iptables accepts (ECE and CWR cannot be named).
const FLAG_NAMES: &[(&str, u8)] = &[
    ("FIN", 0x01),
    ("SYN", 0x02),
    ("RST", 0x04),
    ("PSH", 0x08),
    ("ACK", 0x10),
    ("URG", 0x20),
    ("ALL", 0x3f),
    ("NONE", 0),
];

/// `--tcp-flags MASK COMP`: `(flags & mask) == comp`, possibly negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags {
    pub mask: u8,
    pub comp: u8,
    pub invert: bool,
}

/// The `tcp` match: ports, flags and an option kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcpMatch {
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    pub flags: Option<TcpFlags>,
    /// `--tcp-option N`: the segment carries option kind N.
    pub option: Option<(u8, bool)>,
    /// Set by `--syn` (saved as `--tcp-flags FIN,SYN,RST,ACK SYN`).
    syn: bool,
    /// Only a natively compiled `! 0:65535` was written: nf_tables holds nothing of
    /// the match, and iptables-save does not print it at all.
    vanished: bool,
}

/// The `udp` match: ports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UdpMatch {
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    /// As [`TcpMatch`]'s: only `! 0:65535` was written.
    vanished: bool,
}

fn parse_flags(text: &str) -> Result<u8, String> {
    let mut bits = 0;
    for name in text.split(',').filter(|s| !s.is_empty()) {
        let (_, b) = FLAG_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("Unknown TCP flag `{name}'"))?;
        bits |= b;
    }
    Ok(bits)
}

/// `print_tcpf`: names in FIN SYN RST PSH ACK URG order, `NONE` for no flag.
fn flags_text(mut flags: u8) -> String {
    let mut names = Vec::new();
    for &(name, bit) in &FLAG_NAMES[..6] {
        if flags & bit != 0 {
            names.push(name);
            flags &= !bit;
        }
    }
    if names.is_empty() {
        "NONE".into()
    } else {
        names.join(",")
    }
}

fn port_at(v: &View, offset: usize, range: &Option<PortRange>) -> bool {
    range.is_none_or(|r| v.l4_u16(offset).is_some_and(|p| r.matches(p)))
}

/// A port range as the kernel holds it once the rule is loaded. A range that tests
/// nothing (`0:65535`) is dropped, and so is `! 0:65535` when the nf_tables backend
/// compiles the ports natively (it installs no expression for it: iptables 1.8.9 saves
/// `-p tcp ! --dport 0:65535` as `-p tcp`, and the rule matches every port); natively a
/// negated range from 0, `! 0:N` (0 < N < 65535), becomes `N+1:65535` (saved so, too).
/// Beside `--tcp-option` the x_tables match keeps what was written: its negated full
/// range matches no port.
/// Returns whether a natively compiled `! 0:65535` was dropped.
fn as_loaded(range: &mut Option<PortRange>, native: bool) -> bool {
    let Some(r) = range else { return false };
    if r.is_full() && (native || !r.invert) {
        let negated = r.invert;
        *range = None;
        return negated;
    } else if native && r.invert && r.lo == 0 && r.hi > 0 {
        *r = PortRange {
            lo: r.hi + 1,
            hi: 65535,
            invert: false,
        };
    }
    false
}

impl TcpMatch {
    /// The match as the kernel holds it once the rule is loaded (see [`as_loaded`]).
    pub(crate) fn loaded(mut self) -> TcpMatch {
        let native = self.is_native();
        let negated_full = as_loaded(&mut self.sport, native) | as_loaded(&mut self.dport, native);
        self.vanished = negated_full && self.is_empty();
        self
    }

    /// Nothing of the match is in the kernel (see [`TcpMatch::vanished`]).
    pub(crate) fn vanished(&self) -> bool {
        self.vanished
    }

    pub(crate) fn option(&mut self, id: u8, invert: bool, args: &[&str]) -> Result<(), String> {
        match id {
            SPORT => set_once(&mut self.sport, "source-port", args[0], invert, 6),
            DPORT => set_once(&mut self.dport, "destination-port", args[0], invert, 6),
            SYN | FLAGS => {
                if self.flags.is_some() {
                    return Err("Only one of `--syn' or `--tcp-flags'  allowed".into());
                }
                let (mask, comp) = if id == SYN {
                    self.syn = true;
                    (0x17, 0x02)
                } else {
                    (parse_flags(args[0])?, parse_flags(args[1])?)
                };
                self.flags = Some(TcpFlags { mask, comp, invert });
                Ok(())
            }
            _ => {
                if self.option.is_some() {
                    return Err("Only one `--tcp-option' allowed".into());
                }
                let kind = crate::rules::num::parse_c_uint(args[0], 255)
                    .ok_or_else(|| format!("Bad TCP option `{}'", args[0]))?;
                self.option = Some((kind as u8, invert));
                Ok(())
            }
        }
    }

    /// Whether the nf_tables backend turns this match into native expressions
    /// (everything but `--tcp-option`), which iptables-save then prints merged.
    pub(crate) fn is_native(&self) -> bool {
        self.option.is_none()
    }

    /// Nothing to test (iptables-save prints a bare `-m tcp`).
    pub(crate) fn is_empty(&self) -> bool {
        let full = |p: &Option<PortRange>| p.is_none_or(|r| r.is_full());
        full(&self.sport)
            && full(&self.dport)
            && self.flags.is_none_or(|f| f.mask == 0 && !f.invert)
            && self.option.is_none()
    }

    /// Folds a later native tcp match into this one, as nf_tables does: the later
    /// match's fields replace this one's.
    pub(crate) fn merge(&mut self, later: &TcpMatch) {
        if later.sport.is_some_and(|r| !r.is_full()) {
            self.sport = later.sport;
        }
        if later.dport.is_some_and(|r| !r.is_full()) {
            self.dport = later.dport;
        }
        if later.flags.is_some() {
            self.flags = later.flags;
        }
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        if self.option.is_some() {
            return self.eval_compat(v);
        }
        let flags_ok = match self.flags {
            None => true,
            Some(f) if f.mask == 0 && !f.invert => true,
            Some(f) => v
                .l4_bytes(13, 1)
                .is_some_and(|b| (b[0] & f.mask == f.comp) != f.invert),
        };
        Outcome::from(port_at(v, 0, &self.sport) && port_at(v, 2, &self.dport) && flags_ok)
    }

    /// `tcp_mt` of x_tables, used when `--tcp-option` is present.
    fn eval_compat(&self, v: &View) -> Outcome {
        if v.fragoff == 1 {
            return Outcome::Hotdrop;
        }
        if v.fragoff != 0 {
            return Outcome::NoMatch;
        }
        let Some(th) = v.l4_bytes(0, 20) else {
            return Outcome::Hotdrop;
        };
        let port = |o: usize| u16::from_be_bytes([th[o], th[o + 1]]);
        if !self.sport.is_none_or(|r| r.matches(port(0)))
            || !self.dport.is_none_or(|r| r.matches(port(2)))
        {
            return Outcome::NoMatch;
        }
        if let Some(f) = self.flags {
            if (th[13] & f.mask == f.comp) == f.invert {
                return Outcome::NoMatch;
            }
        }
        let Some((kind, invert)) = self.option else {
            return Outcome::Match;
        };
        let doff = usize::from(th[12] >> 4) * 4;
        if doff < 20 {
            return Outcome::Hotdrop;
        }
        let Some(opts) = v.l4_bytes(20, doff - 20) else {
            return Outcome::Hotdrop;
        };
        Outcome::from(has_option(opts, kind) != invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m tcp");
        if let Some(r) = self.sport {
            r.save("sport", out);
        }
        if let Some(r) = self.dport {
            r.save("dport", out);
        }
        if let Some((kind, invert)) = self.option {
            out.push_str(if invert {
                " ! --tcp-option "
            } else {
                " --tcp-option "
            });
            out.push_str(&kind.to_string());
        }
        if let Some(f) = self.flags {
            if f.mask != 0 || f.invert {
                out.push_str(if f.invert {
                    " ! --tcp-flags "
                } else {
                    " --tcp-flags "
                });
                out.push_str(&format!("{} {}", flags_text(f.mask), flags_text(f.comp)));
            }
        }
    }
}

impl TcpMatch {
    /// `iptables -L`: ` tcp spt:P dpts:LO:HI option=N flags:MASK/COMP`.
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        out.push_str(" tcp");
        if let Some(r) = self.sport {
            r.list("spt", 6, numeric, out);
        }
        if let Some(r) = self.dport {
            r.list("dpt", 6, numeric, out);
        }
        if let Some((kind, invert)) = self.option {
            out.push_str(&format!(" option={}{kind}", if invert { "!" } else { "" }));
        }
        if let Some(f) = self.flags {
            if f.mask != 0 || f.invert {
                out.push_str(" flags:");
                if f.invert {
                    out.push('!');
                }
                if numeric {
                    out.push_str(&format!("0x{:02X}/0x{:02X}", f.mask, f.comp));
                } else {
                    out.push_str(&format!("{}/{}", flags_text(f.mask), flags_text(f.comp)));
                }
            }
        }
    }
}

/// `tcp_find_option`: walks kind/length pairs; kinds 0 and 1 are one byte long.
fn has_option(opts: &[u8], kind: u8) -> bool {
    let mut i = 0;
    while i < opts.len() {
        if opts[i] == kind {
            return true;
        }
        if opts[i] < 2 {
            i += 1;
        } else {
            i += usize::from(opts.get(i + 1).copied().filter(|&l| l != 0).unwrap_or(1));
        }
    }
    false
}

impl UdpMatch {
    /// The match as the kernel holds it once the rule is loaded (see [`as_loaded`]).
    pub(crate) fn loaded(mut self) -> UdpMatch {
        let negated_full = as_loaded(&mut self.sport, true) | as_loaded(&mut self.dport, true);
        self.vanished = negated_full && self.is_empty();
        self
    }

    /// Nothing of the match is in the kernel (see [`TcpMatch::vanished`]).
    pub(crate) fn vanished(&self) -> bool {
        self.vanished
    }

    pub(crate) fn option(&mut self, id: u8, invert: bool, args: &[&str]) -> Result<(), String> {
        if id == SPORT {
            set_once(&mut self.sport, "source-port", args[0], invert, 17)
        } else {
            set_once(&mut self.dport, "destination-port", args[0], invert, 17)
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        let full = |p: &Option<PortRange>| p.is_none_or(|r| r.is_full());
        full(&self.sport) && full(&self.dport)
    }

    pub(crate) fn merge(&mut self, later: &UdpMatch) {
        if later.sport.is_some_and(|r| !r.is_full()) {
            self.sport = later.sport;
        }
        if later.dport.is_some_and(|r| !r.is_full()) {
            self.dport = later.dport;
        }
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        Outcome::from(port_at(v, 0, &self.sport) && port_at(v, 2, &self.dport))
    }

    /// `iptables -L`: ` udp spt:P dpt:P`.
    pub(crate) fn list(&self, out: &mut String, numeric: bool) {
        out.push_str(" udp");
        if let Some(r) = self.sport {
            r.list("spt", 17, numeric, out);
        }
        if let Some(r) = self.dport {
            r.list("dpt", 17, numeric, out);
        }
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m udp");
        if let Some(r) = self.sport {
            r.save("sport", out);
        }
        if let Some(r) = self.dport {
            r.save("dport", out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(opts: &[(u8, bool, &[&str])]) -> Result<TcpMatch, String> {
        let mut m = TcpMatch::default();
        for (id, inv, args) in opts {
            m.option(*id, *inv, args)?;
        }
        Ok(m)
    }

    fn saved(m: &TcpMatch) -> String {
        let mut s = String::new();
        m.save(&mut s);
        s
    }

    #[test]
    fn syn_is_saved_as_tcp_flags() {
        let m = tcp(&[(SYN, true, &[])]).unwrap();
        assert_eq!(saved(&m), " -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN");
    }

    #[test]
    fn flags_print_in_kernel_order() {
        let m = tcp(&[
            (FLAGS, false, &["ALL", "urg,psh,FIN"]),
            (SPORT, true, &["1:1024"]),
            (DPORT, false, &["80"]),
        ])
        .unwrap();
        assert_eq!(
            saved(&m),
            " -m tcp ! --sport 1:1024 --dport 80 --tcp-flags FIN,SYN,RST,PSH,ACK,URG FIN,PSH,URG"
        );
        assert_eq!(
            saved(&tcp(&[(FLAGS, false, &["NONE", "NONE"])]).unwrap()),
            " -m tcp"
        );
        assert_eq!(
            tcp(&[(FLAGS, false, &["SYN", "ECE"])]).unwrap_err(),
            "Unknown TCP flag `ECE'"
        );
    }

    #[test]
    fn full_port_ranges_load_as_the_kernel_holds_them() {
        let loaded = |opts: &[(u8, bool, &[&str])]| tcp(opts).unwrap().loaded();
        // Native: `0:65535` and `! 0:65535` install nothing (iptables-save: `-m tcp`).
        assert_eq!(loaded(&[(DPORT, false, &["0:65535"])]), TcpMatch::default());
        let negated = loaded(&[(SPORT, true, &[":"])]);
        assert!(negated.is_empty() && negated.vanished());
        // Beside `--tcp-option` the negated range stays, matches nothing and is saved.
        let compat = loaded(&[(DPORT, true, &["0:"]), (OPTION, false, &["3"])]);
        assert!(compat.dport.is_some());
        assert_eq!(saved(&compat), " -m tcp ! --dport 0:65535 --tcp-option 3");
        let udp = |inv| {
            let mut m = UdpMatch::default();
            m.option(DPORT, inv, &["0:65535"]).unwrap();
            m.loaded()
        };
        assert!(udp(true).is_empty() && udp(true).vanished());
        assert_eq!(udp(false), UdpMatch::default());
    }

    #[test]
    fn negated_ranges_from_zero_load_as_their_complement() {
        let saved_of = |arg: &str| saved(&tcp(&[(DPORT, true, &[arg])]).unwrap().loaded());
        // As iptables 1.8.9 (nf_tables) saves them.
        assert_eq!(saved_of(":1024"), " -m tcp --dport 1025:65535");
        assert_eq!(saved_of("0:65534"), " -m tcp --dport 65535");
        assert_eq!(saved_of("0"), " -m tcp ! --dport 0");
        assert_eq!(saved_of("5000:"), " -m tcp ! --dport 5000:65535");
        assert_eq!(saved_of("1:65535"), " -m tcp ! --dport 1:65535");
        let compat = tcp(&[(DPORT, true, &[":1024"]), (OPTION, false, &["2"])]).unwrap();
        assert_eq!(
            saved(&compat.loaded()),
            " -m tcp ! --dport 0:1024 --tcp-option 2"
        );
    }

    #[test]
    fn duplicates_are_errors() {
        assert!(tcp(&[(DPORT, false, &["1"]), (DPORT, false, &["2"])]).is_err());
        assert!(tcp(&[(SYN, false, &[]), (FLAGS, false, &["SYN", "SYN"])]).is_err());
    }

    #[test]
    fn options_are_walked_like_the_kernel() {
        assert!(has_option(&[1, 1, 2, 4, 5, 180], 2));
        assert!(!has_option(&[1, 1, 3, 3, 7, 0], 2));
        assert!(!has_option(&[5, 0, 5], 2));
    }
}
