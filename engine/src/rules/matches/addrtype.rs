//! `-m addrtype [!] --src-type TYPES [!] --dst-type TYPES [--limit-iface-in |
//! --limit-iface-out]`: the type the router's routing gives an address
//! (`inet_dev_addr_type`): LOCAL for its own addresses, BROADCAST for broadcasts,
//! MULTICAST for 224.0.0.0/4, and UNICAST for everything else.
//!
//! The kernel decides as follows. 0.0.0.0/8 and 255.255.255.255 are BROADCAST and
//! 224.0.0.0/4 is MULTICAST without a lookup. Any other address is looked up in the
//! *local* routing table, which holds a LOCAL route for each of the router's addresses
//! (and 127.0.0.0/8 on `lo`) and a BROADCAST route for each network's broadcast
//! address; an address it does not hold is UNICAST. With `--limit-iface-in` (or
//! `-out`), a route counts only if it belongs to the packet's incoming (outgoing)
//! interface: 192.168.1.1 is LOCAL for a packet that came in on `lan` but UNICAST for
//! one that came in on `wan`.
//!
//! TYPES is a comma-separated list of the kernel's route type names (case does not
//! matter, and as in iptables a prefix is taken for the first name it begins:
//! `LOC` is LOCAL, `U` is UNSPEC). Only UNICAST, LOCAL, BROADCAST and MULTICAST can
//! ever match here: the router has no routes of the other types.

use super::{OptSpec, Outcome};
use crate::firewall::{Iface, Topology};
use crate::rules::view::View;
use std::net::Ipv4Addr;

const SRC: u8 = 1;
const DST: u8 = 2;
const LIMIT_IN: u8 = 3;
const LIMIT_OUT: u8 = 4;

pub(crate) const ADDRTYPE_OPTS: &[OptSpec] = &[
    OptSpec::new("src-type", SRC, 1, true),
    OptSpec::new("dst-type", DST, 1, true),
    OptSpec::new("limit-iface-in", LIMIT_IN, 0, false),
    OptSpec::new("limit-iface-out", LIMIT_OUT, 0, false),
];

/// The route types (`enum rtn_type` of `linux/rtnetlink.h`), in bit order.
const TYPE_NAMES: [&str; 12] = [
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
];

/// A route type, as the bit number in a type mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AddrType {
    Unicast = 1,
    Local = 2,
    Broadcast = 3,
    Multicast = 5,
}

/// Which interface's routes count (`XT_ADDRTYPE_LIMIT_IFACE_IN` / `_OUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfaceLimit {
    In,
    Out,
}

/// One side's test: the address's type is in `mask` (a bit per [`TYPE_NAMES`]), or
/// with `invert` is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeTest {
    pub mask: u16,
    pub invert: bool,
}

/// The `addrtype` match (revision 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrtypeMatch {
    pub src: Option<TypeTest>,
    pub dst: Option<TypeTest>,
    pub limit: Option<IfaceLimit>,
}

/// The type of `addr` for the router of `topology`, counting only the routes of
/// `dev` when it is given (`inet_dev_addr_type` on the local table).
pub fn addr_type(topology: &Topology, addr: Ipv4Addr, dev: Option<Iface>) -> AddrType {
    if addr.octets()[0] == 0 || addr.is_broadcast() {
        return AddrType::Broadcast;
    }
    if addr.is_multicast() {
        return AddrType::Multicast;
    }
    // The local table: each route's type and interface (None: `lo`).
    let route = if addr.is_loopback() {
        let kind = if addr == Ipv4Addr::new(127, 255, 255, 255) {
            AddrType::Broadcast
        } else {
            AddrType::Local
        };
        Some((kind, None))
    } else {
        [Iface::Lan, Iface::Wan].into_iter().find_map(|iface| {
            if addr == topology.addr(iface) {
                Some((AddrType::Local, Some(iface)))
            } else if topology.is_network_broadcast(iface, addr) {
                Some((AddrType::Broadcast, Some(iface)))
            } else {
                None
            }
        })
    };
    match route {
        Some((kind, route_dev)) if dev.is_none() || dev == route_dev => kind,
        _ => AddrType::Unicast,
    }
}

/// Reads a TYPES list the way `parse_types` of libxt_addrtype does.
fn parse_types(arg: &str) -> Result<u16, String> {
    let mut mask = 0u16;
    let mut rest = arg;
    loop {
        let (piece, more) = match rest.find(',') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let bit = (!piece.is_empty())
            .then(|| {
                TYPE_NAMES.iter().position(|name| {
                    name.len() >= piece.len()
                        && name.as_bytes()[..piece.len()].eq_ignore_ascii_case(piece.as_bytes())
                })
            })
            .flatten();
        match (bit, more) {
            (Some(b), _) => mask |= 1 << b,
            (None, Some(_)) => return Err(format!("addrtype: bad type `{rest}'")),
            (None, None) => return Err(format!("addrtype: bad type \"{rest}\"")),
        }
        match more {
            Some(m) => rest = m,
            None => return Ok(mask),
        }
    }
}

/// The names of a mask's types, comma-separated, in bit order.
fn type_list(mask: u16) -> String {
    TYPE_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

impl AddrtypeMatch {
    /// Applies one option to a match being parsed.
    pub(crate) fn option(&mut self, id: u8, invert: bool, args: &[&str]) -> Result<(), String> {
        let once = |name: &str| format!("addrtype: option \"--{name}\" can only be used once.");
        match id {
            SRC | DST => {
                let (slot, name) = if id == SRC {
                    (&mut self.src, "src-type")
                } else {
                    (&mut self.dst, "dst-type")
                };
                if slot.is_some() {
                    return Err(once(name));
                }
                *slot = Some(TypeTest {
                    mask: parse_types(args[0])?,
                    invert,
                });
            }
            _ => {
                let (want, name) = if id == LIMIT_IN {
                    (IfaceLimit::In, "limit-iface-in")
                } else {
                    (IfaceLimit::Out, "limit-iface-out")
                };
                match self.limit {
                    None => self.limit = Some(want),
                    Some(have) if have == want => return Err(once(name)),
                    Some(_) => {
                        return Err(
                            "addrtype: option \"--limit-iface-in\" cannot be used together \
                             with \"--limit-iface-out\"."
                                .into(),
                        )
                    }
                }
            }
        }
        Ok(())
    }

    /// The checks once the rule is read.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.src.is_none() && self.dst.is_none() {
            return Err("addrtype: you must specify --src-type or --dst-type".into());
        }
        Ok(())
    }

    /// `addrtype_mt_v1`: the source test, then the destination test.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let ctx = v.ctx;
        let dev = match self.limit {
            Some(IfaceLimit::In) => ctx.in_iface,
            Some(IfaceLimit::Out) => ctx.out_iface,
            None => None,
        }
        .and_then(Iface::from_name);
        let test = |t: Option<TypeTest>, addr: Ipv4Addr| {
            t.is_none_or(|t| {
                let kind = addr_type(&ctx.topology, addr, dev);
                (t.mask & (1 << kind as u8) != 0) != t.invert
            })
        };
        let ip = &ctx.packet.ip;
        Outcome::from(test(self.src, ip.src) && test(self.dst, ip.dst))
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m addrtype");
        for (test, opt) in [(self.src, "--src-type"), (self.dst, "--dst-type")] {
            if let Some(t) = test {
                if t.invert {
                    out.push_str(" !");
                }
                out.push_str(&format!(" {opt} {}", type_list(t.mask)));
            }
        }
        match self.limit {
            Some(IfaceLimit::In) => out.push_str(" --limit-iface-in"),
            Some(IfaceLimit::Out) => out.push_str(" --limit-iface-out"),
            None => {}
        }
    }

    /// `iptables -L`: ` ADDRTYPE match src-type LOCAL dst-type !BROADCAST limit-in`.
    pub(crate) fn list(&self, out: &mut String) {
        out.push_str(" ADDRTYPE match");
        for (test, name) in [(self.src, "src-type"), (self.dst, "dst-type")] {
            if let Some(t) = test {
                let not = if t.invert { "!" } else { "" };
                out.push_str(&format!(" {name} {not}{}", type_list(t.mask)));
            }
        }
        match self.limit {
            Some(IfaceLimit::In) => out.push_str(" limit-in"),
            Some(IfaceLimit::Out) => out.push_str(" limit-out"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn types_of_the_router_addresses() {
        let t = Topology::default();
        let kind = |s: &str, dev| addr_type(&t, a(s), dev);
        assert_eq!(kind("192.168.1.1", None), AddrType::Local);
        assert_eq!(kind("198.51.100.1", None), AddrType::Local);
        assert_eq!(kind("127.0.0.5", None), AddrType::Local);
        assert_eq!(kind("192.168.1.255", None), AddrType::Broadcast);
        assert_eq!(kind("198.51.100.255", None), AddrType::Broadcast);
        assert_eq!(kind("255.255.255.255", None), AddrType::Broadcast);
        assert_eq!(kind("0.1.2.3", None), AddrType::Broadcast);
        assert_eq!(kind("224.0.0.251", None), AddrType::Multicast);
        assert_eq!(kind("192.168.1.0", None), AddrType::Unicast);
        assert_eq!(kind("203.0.113.5", None), AddrType::Unicast);
        // Limited to an interface, only that interface's routes count.
        assert_eq!(kind("192.168.1.1", Some(Iface::Lan)), AddrType::Local);
        assert_eq!(kind("192.168.1.1", Some(Iface::Wan)), AddrType::Unicast);
        assert_eq!(kind("198.51.100.255", Some(Iface::Lan)), AddrType::Unicast);
        assert_eq!(kind("127.0.0.1", Some(Iface::Lan)), AddrType::Unicast);
        assert_eq!(
            kind("255.255.255.255", Some(Iface::Lan)),
            AddrType::Broadcast
        );
    }

    #[test]
    fn type_lists_parse_as_iptables_reads_them() {
        assert_eq!(parse_types("LOCAL"), Ok(1 << 2));
        assert_eq!(parse_types("local,Broadcast"), Ok(1 << 2 | 1 << 3));
        // A prefix names the first type it begins.
        assert_eq!(parse_types("LOC"), Ok(1 << 2));
        assert_eq!(parse_types("U"), Ok(1 << 0));
        assert_eq!(type_list(1 << 5 | 1 << 1), "UNICAST,MULTICAST");
        assert_eq!(
            parse_types("LOCAL,,UNICAST"),
            Err("addrtype: bad type `,UNICAST'".into())
        );
        assert_eq!(parse_types("LOCAL,"), Err("addrtype: bad type \"\"".into()));
        assert_eq!(
            parse_types("NOWHERE"),
            Err("addrtype: bad type \"NOWHERE\"".into())
        );
        assert_eq!(
            parse_types("LOCALX"),
            Err("addrtype: bad type \"LOCALX\"".into())
        );
    }
}
