//! Ports and port ranges as `xtables_parse_port` reads them: a C base-0 number up to
//! 65535 or a service name from `/etc/services` for the rule's protocol.

use crate::rules::{num::parse_c_uint, services};

/// Parses one port.
pub(crate) fn parse_port(text: &str, proto: u8) -> Result<u16, String> {
    parse_c_uint(text, 65535)
        .map(|p| p as u16)
        .or_else(|| services::port(text, proto))
        .ok_or_else(|| format!("invalid port/service `{text}' specified"))
}

/// Parses `port`, `lo:hi`, `lo:` (to 65535) or `:hi` (from 0), as `--sport` takes them.
pub(crate) fn parse_range(text: &str, proto: u8) -> Result<(u16, u16), String> {
    let Some((lo, hi)) = text.split_once(':') else {
        let p = parse_port(text, proto)?;
        return Ok((p, p));
    };
    let lo = if lo.is_empty() {
        0
    } else {
        parse_port(lo, proto)?
    };
    let hi = if hi.is_empty() {
        65535
    } else {
        parse_port(hi, proto)?
    };
    if lo > hi {
        return Err("invalid portrange (min > max)".into());
    }
    Ok((lo, hi))
}

/// Sets a `--sport`/`--dport` option of a match, which may be given once.
pub(crate) fn set_once(
    slot: &mut Option<PortRange>,
    name: &str,
    arg: &str,
    invert: bool,
    proto: u8,
) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("Only one `--{name}' allowed"));
    }
    let (lo, hi) = parse_range(arg, proto)?;
    *slot = Some(PortRange { lo, hi, invert });
    Ok(())
}

/// A port range test (`--sport` / `--dport`), possibly negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
    pub invert: bool,
}

impl PortRange {
    /// `0:65535` is what an absent option means; iptables-save does not print it.
    pub fn is_full(&self) -> bool {
        self.lo == 0 && self.hi == 65535
    }

    pub fn matches(&self, port: u16) -> bool {
        (self.lo <= port && port <= self.hi) != self.invert
    }

    /// ` [!] --NAME lo[:hi]` as `tcp_save` prints it (nothing for the full range).
    /// A negated full range (kept only beside `--tcp-option`, where it never matches)
    /// is printed, so that what is saved loads back the same; iptables-save drops it.
    pub fn save(&self, name: &str, out: &mut String) {
        if self.is_full() && !self.invert {
            return;
        }
        self.save_always(name, out);
    }

    /// ` [!] --NAME lo[:hi]`, the full range included (as the sctp and dccp matches
    /// print their ports).
    pub fn save_always(&self, name: &str, out: &mut String) {
        if self.invert {
            out.push_str(" !");
        }
        if self.lo == self.hi {
            out.push_str(&format!(" --{name} {}", self.lo));
        } else {
            out.push_str(&format!(" --{name} {}:{}", self.lo, self.hi));
        }
    }
}

/// A port as `iptables -L` prints it: the service name for the protocol unless
/// numeric output was asked for or none is known.
pub(crate) fn port_text(port: u16, proto: u8, numeric: bool) -> String {
    match services::name(port, proto) {
        Some(n) if !numeric => n.to_string(),
        _ => port.to_string(),
    }
}

impl PortRange {
    /// `print_ports` of libxt_tcp/udp: ` spt:P`, ` spts:LO:HI`, with `!` after the
    /// colon; nothing for an un-negated full range.
    pub(crate) fn list(&self, name: &str, proto: u8, numeric: bool, out: &mut String) {
        if self.is_full() && !self.invert {
            return;
        }
        let inv = if self.invert { "!" } else { "" };
        if self.lo == self.hi {
            out.push_str(&format!(
                " {name}:{inv}{}",
                port_text(self.lo, proto, numeric)
            ));
        } else {
            out.push_str(&format!(
                " {name}s:{inv}{}:{}",
                port_text(self.lo, proto, numeric),
                port_text(self.hi, proto, numeric)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_libxt_tcp() {
        assert_eq!(parse_range("80", 6), Ok((80, 80)));
        assert_eq!(parse_range("1024:", 6), Ok((1024, 65535)));
        assert_eq!(parse_range(":1024", 6), Ok((0, 1024)));
        assert_eq!(parse_range("ssh", 6), Ok((22, 22)));
        assert_eq!(parse_range("0x50", 6), Ok((80, 80)));
        assert_eq!(
            parse_range("90:80", 6),
            Err("invalid portrange (min > max)".into())
        );
        assert_eq!(
            parse_range("65536", 6),
            Err("invalid port/service `65536' specified".into())
        );
        assert_eq!(
            parse_range("http", 17),
            Err("invalid port/service `http' specified".into())
        );
    }
}
