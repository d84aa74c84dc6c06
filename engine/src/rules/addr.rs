//! Addresses for `-s` / `-d`: `a.b.c.d`, `a.b.c.d/len` or `a.b.c.d/m.m.m.m`, and
//! comma-separated lists of them (iptables then adds one rule per address).
//!
//! Like `xtables_numeric_to_ipaddr`, each part is a C base-0 number and missing
//! trailing parts are zero (`10.1` is `10.1.0.0`). The address is masked (`10.0.0.1/8`
//! is stored and saved as `10.0.0.0/8`). Host names are not resolved: the engine has
//! no DNS, so they are errors.

use super::num::parse_c_uint;
use std::net::Ipv4Addr;

/// An address with a netmask; the address is already masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub addr: Ipv4Addr,
    pub mask: Ipv4Addr,
}

impl Net {
    /// Whether `a` is inside the network.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & u32::from(self.mask) == u32::from(self.addr)
    }

    /// A zero mask matches every address; iptables-save then prints nothing.
    pub fn is_any(&self) -> bool {
        u32::from(self.mask) == 0
    }

    /// `a.b.c.d/len` for contiguous masks, `a.b.c.d/m.m.m.m` otherwise.
    pub fn to_save(&self) -> String {
        let m = u32::from(self.mask);
        if m.leading_ones() + m.trailing_zeros() == 32 {
            format!("{}/{}", self.addr, m.leading_ones())
        } else {
            format!("{}/{}", self.addr, self.mask)
        }
    }
}

/// Parses a comma-separated list of addresses.
pub(crate) fn parse_list(arg: &str) -> Result<Vec<Net>, String> {
    arg.split(',').map(parse_one).collect()
}

fn parse_one(arg: &str) -> Result<Net, String> {
    let (host, mask) = match arg.rfind('/') {
        Some(i) => (&arg[..i], parse_mask(&arg[i + 1..])?),
        None => (arg, u32::MAX),
    };
    let addr = dotted(host, false).ok_or_else(|| {
        format!("host/network `{host}' not found (host names are not resolved: give an address)")
    })?;
    Ok(Net {
        addr: Ipv4Addr::from(addr & mask),
        mask: Ipv4Addr::from(mask),
    })
}

fn parse_mask(text: &str) -> Result<u32, String> {
    if let Some(m) = dotted(text, true) {
        return Ok(m);
    }
    match parse_c_uint(text, 32) {
        Some(0) => Ok(0),
        Some(bits) => Ok(u32::MAX << (32 - bits)),
        None => Err(format!("invalid mask `{text}' specified")),
    }
}

/// A numeric address as `xtables_numeric_to_ipaddr` reads it (`1.2` is 1.2.0.0).
pub(crate) fn numeric(text: &str) -> Option<u32> {
    dotted(text, false)
}

/// Dotted quad with C base-0 parts; a network address may have fewer than 4 parts.
fn dotted(text: &str, is_mask: bool) -> Option<u32> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 || (is_mask && parts.len() != 4) {
        return None;
    }
    let mut v = 0u32;
    for i in 0..4 {
        let byte = match parts.get(i) {
            Some(p) => parse_c_uint(p, 255)?,
            None => 0,
        };
        v = v << 8 | byte;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(arg: &str) -> String {
        parse_list(arg)
            .unwrap()
            .iter()
            .map(Net::to_save)
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn canonical_forms_match_iptables_save() {
        assert_eq!(save("192.168.1.10"), "192.168.1.10/32");
        assert_eq!(save("10.0.0.1/8"), "10.0.0.0/8");
        assert_eq!(save("1.2.3.4/255.255.255.0"), "1.2.3.0/24");
        assert_eq!(save("1.2.3.4/255.0.255.0"), "1.0.3.0/255.0.255.0");
        assert_eq!(save("1.2.3"), "1.2.3.0/32");
        assert_eq!(save("01.2.3.4"), "1.2.3.4/32");
        assert_eq!(save("1.2.3.4/032"), "1.2.3.0/26");
        assert_eq!(save("1.1.1.1,2.2.2.2"), "1.1.1.1/32,2.2.2.2/32");
        assert!(parse_list("1.2.3.4/0").unwrap()[0].is_any());
    }

    #[test]
    fn bad_addresses_are_errors() {
        assert!(parse_list("example.com").unwrap_err().contains("not found"));
        assert!(parse_list("1.2.3.256").is_err());
        assert_eq!(
            parse_list("1.2.3.4/33").unwrap_err(),
            "invalid mask `33' specified"
        );
        assert!(parse_list("1.2.3.4/").is_err());
        assert!(parse_list("1.2.3.4,").is_err());
    }

    #[test]
    fn contains_uses_the_mask() {
        let n = parse_list("192.168.1.0/24").unwrap()[0];
        assert!(n.contains(Ipv4Addr::new(192, 168, 1, 77)));
        assert!(!n.contains(Ipv4Addr::new(192, 168, 2, 1)));
    }
}
