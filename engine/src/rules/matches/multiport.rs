//! `-m multiport --sports|--dports|--ports LIST`: up to 15 ports, where a range
//! `a:b` counts as two. Needs `-p tcp|udp|udplite|sctp|dccp`. This stays an
//! x_tables match under nf_tables: a non-first fragment does not match, and a packet
//! too short to hold both ports is *hotdropped*.

use super::ports::parse_port;
use super::{OptSpec, Outcome};
use crate::rules::view::View;

const SRC: u8 = 1;
const DST: u8 = 2;
const EITHER: u8 = 3;

pub(crate) const MULTIPORT_OPTS: &[OptSpec] = &[
    OptSpec::new("source-ports", SRC, 1, true),
    OptSpec::new("sports", SRC, 1, true),
    OptSpec::new("destination-ports", DST, 1, true),
    OptSpec::new("dports", DST, 1, true),
    OptSpec::new("ports", EITHER, 1, true),
];

/// Which port(s) a multiport match tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSide {
    Source,
    Destination,
    Either,
}

/// The `multiport` match (revision 1, with ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiportMatch {
    pub side: PortSide,
    /// Single ports are `(p, p)`.
    pub ranges: Vec<(u16, u16)>,
    pub invert: bool,
}

/// The long name of a multiport option, for messages.
pub(crate) fn option_name(id: u8) -> &'static str {
    match id {
        SRC => "--source-ports",
        DST => "--destination-ports",
        _ => "--ports",
    }
}

pub(crate) fn side_name(side: PortSide) -> &'static str {
    match side {
        PortSide::Source => "--source-ports",
        PortSide::Destination => "--destination-ports",
        PortSide::Either => "--ports",
    }
}

/// Protocols multiport accepts.
pub(crate) fn proto_ok(p: u8) -> bool {
    matches!(p, 6 | 17 | 136 | 132 | 33)
}

impl MultiportMatch {
    pub(crate) fn parse(
        id: u8,
        arg: &str,
        invert: bool,
        proto: u8,
    ) -> Result<MultiportMatch, String> {
        let side = match id {
            SRC => PortSide::Source,
            DST => PortSide::Destination,
            _ => PortSide::Either,
        };
        let mut ranges = Vec::new();
        let mut slots = 0;
        for item in arg.split(',') {
            let (lo, hi) = match item.split_once(':') {
                Some((a, b)) => {
                    let (lo, hi) = (parse_port(a, proto)?, parse_port(b, proto)?);
                    if lo >= hi {
                        return Err("invalid portrange specified".into());
                    }
                    slots += 2;
                    (lo, hi)
                }
                None => {
                    slots += 1;
                    let p = parse_port(item, proto)?;
                    (p, p)
                }
            };
            if slots > 15 {
                return Err("too many ports specified".into());
            }
            ranges.push((lo, hi));
        }
        Ok(MultiportMatch {
            side,
            ranges,
            invert,
        })
    }

    /// `multiport_mt` / `ports_match_v1`.
    pub(crate) fn eval(&self, v: &View) -> Outcome {
        if v.fragoff != 0 {
            return Outcome::NoMatch;
        }
        let (Some(src), Some(dst)) = (v.l4_u16(0), v.l4_u16(2)) else {
            return Outcome::Hotdrop;
        };
        let hit = self.ranges.iter().any(|&(lo, hi)| {
            let inr = |p: u16| lo <= p && p <= hi;
            match self.side {
                PortSide::Source => inr(src),
                PortSide::Destination => inr(dst),
                PortSide::Either => inr(src) || inr(dst),
            }
        });
        Outcome::from(hit != self.invert)
    }

    /// `iptables -L`: ` multiport dports LIST` (` multiport sports  !LIST` when
    /// negated: iptables prints a second blank there).
    pub(crate) fn list(&self, out: &mut String, numeric: bool, proto: u8) {
        out.push_str(" multiport ");
        out.push_str(match self.side {
            PortSide::Source => "sports ",
            PortSide::Destination => "dports ",
            PortSide::Either => "ports ",
        });
        if self.invert {
            out.push_str(" !");
        }
        let text = |p: u16| super::ports::port_text(p, proto, numeric);
        let items: Vec<String> = self
            .ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    text(lo)
                } else {
                    format!("{}:{}", text(lo), text(hi))
                }
            })
            .collect();
        out.push_str(&items.join(","));
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m multiport");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(match self.side {
            PortSide::Source => " --sports ",
            PortSide::Destination => " --dports ",
            PortSide::Either => " --ports ",
        });
        let items: Vec<String> = self
            .ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}:{hi}")
                }
            })
            .collect();
        out.push_str(&items.join(","));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ranges_and_limits() {
        let m = MultiportMatch::parse(DST, "53,67:68,100", false, 17).unwrap();
        let mut s = String::new();
        m.save(&mut s);
        assert_eq!(s, " -m multiport --dports 53,67:68,100");
        assert!(
            MultiportMatch::parse(DST, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15", false, 6).is_ok()
        );
        assert_eq!(
            MultiportMatch::parse(DST, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", false, 6)
                .unwrap_err(),
            "too many ports specified"
        );
        assert_eq!(
            MultiportMatch::parse(DST, "1:2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", false, 6)
                .unwrap_err(),
            "too many ports specified"
        );
        assert_eq!(
            MultiportMatch::parse(SRC, "5:5", false, 6).unwrap_err(),
            "invalid portrange specified"
        );
        assert_eq!(
            MultiportMatch::parse(SRC, "domain,http", false, 17).unwrap_err(),
            "invalid port/service `http' specified"
        );
    }
}
