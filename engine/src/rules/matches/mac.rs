//! `-m mac --mac-source XX:XX:XX:XX:XX:XX`: the Ethernet source address. The kernel
//! tests it only on Ethernet devices (`dev->type == ARPHRD_ETHER`); on anything else
//! — a TUN device, or wasmwall, which is handed bare IP packets — the match is false
//! whether or not it is negated. A rule with it could therefore never match here, so
//! it is parsed (to report syntax errors precisely) and then refused.

use super::OptSpec;

pub(crate) const MAC_OPTS: &[OptSpec] = &[OptSpec::new("mac-source", 1, 1, true)];

/// A parsed `--mac-source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacMatch {
    pub addr: [u8; 6],
    pub invert: bool,
}

impl MacMatch {
    /// Six colon-separated hex bytes of one or two digits (`xtables_parse_mac`).
    pub(crate) fn parse(arg: &str, invert: bool) -> Result<MacMatch, String> {
        let parts: Vec<&str> = arg.split(':').collect();
        let mut addr = [0u8; 6];
        let ok = parts.len() == 6
            && parts.iter().zip(addr.iter_mut()).all(|(p, b)| {
                (1..=2).contains(&p.len()) && u8::from_str_radix(p, 16).map(|v| *b = v).is_ok()
            });
        if !ok {
            return Err(format!("Invalid MAC address `{arg}' specified."));
        }
        Ok(MacMatch { addr, invert })
    }

    /// Why the rule cannot be loaded.
    pub(crate) fn refusal(&self) -> String {
        let a = self.addr;
        format!(
            "-m mac --mac-source {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} can never match: wasmwall sees IP \
             packets without their Ethernet header (the kernel, too, never matches it on \
             non-Ethernet devices, even negated)",
            a[0], a[1], a[2], a[3], a[4], a[5]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_like_xtables_parse_mac() {
        assert_eq!(
            MacMatch::parse("0:1:2:3:4:AA", false).unwrap().addr,
            [0, 1, 2, 3, 4, 0xaa]
        );
        assert!(MacMatch::parse("00:11:22:33:44", false).is_err());
        assert!(MacMatch::parse("00-11-22-33-44-55", false).is_err());
        assert!(MacMatch::parse("000:11:22:33:44:55", false).is_err());
        assert!(MacMatch::parse("00:11:22:33:44:55", true)
            .unwrap()
            .refusal()
            .contains("never match"));
    }
}
