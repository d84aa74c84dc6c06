//! Protocol names for `-p`, as iptables resolves them: a number, `all`, a name from
//! `/etc/protocols` (netbase's list is built in here), or one of iptables' own
//! aliases (`icmpv6`, `mh`...). `iptables-save` prints the `/etc/protocols` name.

use super::num::parse_c_uint;

/// Primary names from netbase's `/etc/protocols` (first name wins per number).
const NETBASE: &[(&str, u8)] = &[
    ("ip", 0),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// `xtables_chain_protos`: names iptables knows even without `/etc/protocols`.
const XTABLES: &[(&str, u8)] = &[
    ("tcp", 6),
    ("sctp", 132),
    ("udp", 17),
    ("udplite", 136),
    ("icmp", 1),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-mh", 135),
    ("mh", 135),
    ("all", 0),
];

/// Parses a `-p` argument (iptables lower-cases it first). `None` if unknown.
pub(crate) fn parse(arg: &str) -> Option<u8> {
    let name = arg.to_ascii_lowercase();
    if let Some(n) = parse_c_uint(&name, 255) {
        return Some(n as u8);
    }
    if name == "all" {
        return Some(0);
    }
    NETBASE
        .iter()
        .chain(XTABLES)
        .find(|(n, _)| *n == name)
        .map(|&(_, p)| p)
}

/// The name `iptables-save` prints for protocol `p` (never called for 0).
pub(crate) fn name(p: u8) -> String {
    NETBASE
        .iter()
        .chain(XTABLES)
        .find(|&&(_, n)| n == p)
        .map(|(n, _)| (*n).to_string())
        .unwrap_or_else(|| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_like_iptables_save() {
        assert_eq!(parse("TCP"), Some(6));
        assert_eq!(parse("0x6"), Some(6));
        assert_eq!(parse("icmpv6"), Some(58));
        assert_eq!(parse("ip"), Some(0));
        assert_eq!(parse("foo"), None);
        assert_eq!(parse("256"), None);
        assert_eq!(name(47), "gre");
        assert_eq!(name(58), "ipv6-icmp");
        assert_eq!(name(135), "mobility-header");
        assert_eq!(name(253), "253");
    }
}
