//! What Linux's input route lookup refuses or delivers before any filter chain.
//!
//! Routing runs after PREROUTING (the raw table and conntrack), in `ip_rcv_finish`.
//! `ip_route_input_slow` drops "martians" there, so a new connection's entry is never
//! confirmed and no chain after PREROUTING sees the packet; nothing is sent back. With
//! the router's defaults (`rp_filter` 0, `accept_local` 0, `route_localnet` 0, no
//! multicast routing) a packet is a martian when:
//!
//! - its source is multicast, the limited broadcast, in 0.0.0.0/8 (except a zero source
//!   to the limited broadcast, as DHCP sends), in 127.0.0.0/8, or one of the router's
//!   own addresses (`fib_validate_source`);
//! - its destination is in 0.0.0.0/8 or 127.0.0.0/8;
//! - its destination is a multicast group the router has not joined. Every interface
//!   joins 224.0.0.1 (all hosts), so that group is delivered locally, like a broadcast:
//!   seen by INPUT, never answered.
//!
//! Class E sources and destinations (240.0.0.0/4), network addresses and the
//! broadcast address of a network as a source are not martians: they are routed.

use crate::firewall::Topology;
use crate::wire::proto;
use std::net::Ipv4Addr;

/// The all-hosts group, which every multicast-capable interface joins.
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

impl Topology {
    /// Whether `dst` is a multicast group the router receives (224.0.0.1).
    pub fn is_joined_group(&self, dst: Ipv4Addr) -> bool {
        dst == ALL_HOSTS
    }

    /// Why routing drops a packet from `src` to `dst` arriving on either interface
    /// (`protocol` is its IP protocol), or `None` when it is routed or delivered.
    pub fn martian(&self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Option<&'static str> {
        const SOURCE: Option<&str> = Some("martian source");
        const DESTINATION: Option<&str> = Some("martian destination");
        let own = src == self.lan_addr || src == self.wan_addr;
        if dst.is_multicast() {
            // `ip_route_input_rcu`, then `ip_mc_validate_source`.
            if !self.is_joined_group(dst) {
                return Some("multicast group not joined");
            }
            let local_group = dst.octets()[..3] == [224, 0, 0];
            // A zero source may only talk to the local groups, or send IGMP.
            let bad_zero = zeronet(src) && !local_group && protocol != proto::IGMP;
            let bad = src.is_multicast() || src.is_broadcast() || src.is_loopback() || own;
            return if bad || bad_zero { SOURCE } else { None };
        }
        if src.is_multicast() || src.is_broadcast() {
            return SOURCE;
        }
        if dst.is_broadcast() || (src.is_unspecified() && dst.is_unspecified()) {
            // `brd_input`: a zero source is not validated.
            return if !zeronet(src) && own { SOURCE } else { None };
        }
        if zeronet(src) {
            SOURCE
        } else if zeronet(dst) || dst.is_loopback() {
            DESTINATION
        } else if src.is_loopback() || own {
            SOURCE
        } else {
            None
        }
    }
}

/// 0.0.0.0/8, "this network".
fn zeronet(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn martian(src: &str, dst: &str) -> Option<&'static str> {
        let t = Topology::default();
        t.martian(src.parse().unwrap(), dst.parse().unwrap(), proto::UDP)
    }

    #[test]
    fn martians_as_the_recorded_kernel_drops_them() {
        for (src, dst) in [
            ("127.0.0.1", "203.0.113.5"),
            ("0.0.0.0", "203.0.113.5"),
            ("224.0.0.5", "203.0.113.5"),
            ("255.255.255.255", "203.0.113.5"),
            ("192.168.1.1", "203.0.113.5"),
            ("198.51.100.1", "192.168.1.10"),
        ] {
            assert_eq!(martian(src, dst), Some("martian source"), "{src} -> {dst}");
        }
        for (src, dst) in [("192.168.1.10", "127.0.0.1"), ("192.168.1.10", "0.0.0.0")] {
            assert_eq!(
                martian(src, dst),
                Some("martian destination"),
                "{src} -> {dst}"
            );
        }
        assert_eq!(
            martian("192.168.1.10", "239.1.2.3"),
            Some("multicast group not joined")
        );
    }

    #[test]
    fn routed_and_delivered_addresses_are_not_martians() {
        for (src, dst) in [
            ("192.168.1.10", "224.0.0.1"),
            ("0.0.0.0", "255.255.255.255"),
            ("192.168.1.10", "255.255.255.255"),
            ("240.0.0.1", "203.0.113.5"),
            ("192.168.1.10", "240.0.0.1"),
            ("192.168.1.255", "203.0.113.5"),
            ("192.168.1.0", "203.0.113.5"),
            ("169.254.1.1", "203.0.113.5"),
            ("192.168.1.10", "192.168.1.1"),
        ] {
            assert_eq!(martian(src, dst), None, "{src} -> {dst}");
        }
    }
}
