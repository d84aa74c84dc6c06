//! `-m connlimit`: how many connections an address (or its network) has
//! (`xt_connlimit` over `nf_conncount`):
//!
//! ```text
//! -A FORWARD -p tcp --syn --dport 80 -m connlimit --connlimit-above 20 -j REJECT
//! ```
//!
//! `--connlimit-above N` matches when the count is above N, `--connlimit-upto N`
//! (`! --connlimit-above N`) when it is at most N. The count is per source address
//! (`--connlimit-saddr`, the default) or destination (`--connlimit-daddr`), masked to
//! `--connlimit-mask` bits (32).
//!
//! Each rule keeps its own lists of connections (original tuples), one per masked
//! address, and counts as Linux 6.18 does:
//!
//! * the first packet seen for an address starts its list with the packet's
//!   connection;
//! * a packet of a connection that is not yet confirmed (its first packet), or
//!   confirmed but neither ASSURED nor an established packet in the original
//!   direction (a SYN-ACK), cleans the list and adds its connection unless it is
//!   there (meeting it ends the cleaning);
//! * any other packet only cleans the list.
//!
//! Cleaning drops the connections whose entry is gone from the table (expired, or
//! never confirmed because the first packet was dropped) and the TCP connections in
//! TIME_WAIT or CLOSE, at most once per millisecond and stopping after 8
//! (`CONNCOUNT_GC_MAX_NODES`) when adding. The count is the list's length after
//! that. A packet without a connection (INVALID, UNTRACKED) stands for the entry its
//! own tuple finds, if any. An emptied list stays; a packet that only cleans it
//! (the RST closing the address's last connection, when the rule is not limited to
//! SYNs) counts 0, which the kernel takes for a failed allocation: it drops the
//! packet.

use super::{OptSpec, Outcome};
use crate::conntrack::tuple::{Direction, Tuple};
use crate::conntrack::{status, CtState, Entry, TcpState};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;
use std::collections::BTreeMap;

const UPTO: u8 = 1;
const ABOVE: u8 = 2;
const MASK: u8 = 3;
const SADDR: u8 = 4;
const DADDR: u8 = 5;

pub(crate) const CONNLIMIT_OPTS: &[OptSpec] = &[
    OptSpec::new("connlimit-upto", UPTO, 1, true),
    OptSpec::new("connlimit-above", ABOVE, 1, true),
    OptSpec::new("connlimit-mask", MASK, 1, false),
    OptSpec::new("connlimit-saddr", SADDR, 0, false),
    OptSpec::new("connlimit-daddr", DADDR, 0, false),
];

/// Connections a list stops cleaning after (`CONNCOUNT_GC_MAX_NODES`).
const GC_MAX: usize = 8;

/// The `connlimit` match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnlimitMatch {
    pub limit: u32,
    /// `--connlimit-upto` (`XT_CONNLIMIT_INVERT`): at most `limit`.
    pub upto: bool,
    /// The prefix length of the counted addresses.
    pub mask: u8,
    /// `--connlimit-daddr`: count per destination.
    pub daddr: bool,
    pub counts: ConnCounts,
}

/// A rule's lists of connections, by masked address. Run-time state: two rules
/// with the same options are equal whatever they counted.
#[derive(Debug, Clone, Default)]
pub struct ConnCounts {
    lists: BTreeMap<u32, CountList>,
}

impl PartialEq for ConnCounts {
    fn eq(&self, _: &ConnCounts) -> bool {
        true
    }
}
impl Eq for ConnCounts {}

/// One address's connections (`struct nf_conncount_list`).
#[derive(Debug, Clone, Default)]
struct CountList {
    tuples: Vec<Tuple>,
    /// When the list was last cleaned (ms).
    last_gc: Option<u64>,
}

/// A `connlimit` match while its options are read.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingConnlimit {
    /// (limit, upto) from `--connlimit-above` / `--connlimit-upto`.
    limit: Option<(u32, bool)>,
    mask: Option<u8>,
    daddr: Option<bool>,
}

impl PendingConnlimit {
    pub fn option(&mut self, id: u8, invert: bool, arg: &str) -> Result<(), String> {
        match id {
            UPTO | ABOVE => {
                if self.limit.is_some() {
                    return Err("connlimit: option \"--connlimit-upto\" cannot be used \
                                together with \"--connlimit-above\"."
                        .into());
                }
                let name = if id == UPTO { "upto" } else { "above" };
                let n = parse_c_uint(arg, u32::MAX).ok_or_else(|| {
                    format!("connlimit: bad value for option \"--connlimit-{name}\": {arg}")
                })?;
                // `! --connlimit-above` is `--connlimit-upto`, and the other way round.
                self.limit = Some((n, (id == UPTO) != invert));
            }
            MASK => {
                let n = parse_c_uint(arg, 32).ok_or_else(|| {
                    format!(
                        "connlimit: bad value for option \"--connlimit-mask\" near \"{arg}\", \
                         or out of range (0-32)."
                    )
                })?;
                self.mask = Some(n as u8);
            }
            SADDR | DADDR => {
                if self.daddr.is_some() {
                    return Err("connlimit: option \"--connlimit-saddr\" cannot be used \
                                together with \"--connlimit-daddr\"."
                        .into());
                }
                self.daddr = Some(id == DADDR);
            }
            _ => unreachable!("connlimit has no option {id}"),
        }
        Ok(())
    }

    pub fn finish(self) -> Result<ConnlimitMatch, String> {
        let (limit, upto) = self
            .limit
            .ok_or("You must specify \"--connlimit-above\" or \"--connlimit-upto\".")?;
        Ok(ConnlimitMatch {
            limit,
            upto,
            mask: self.mask.unwrap_or(32),
            daddr: self.daddr.unwrap_or(false),
            counts: ConnCounts::default(),
        })
    }
}

impl ConnlimitMatch {
    pub(crate) fn eval(&mut self, v: &View) -> Outcome {
        let Some(seen) = Seen::of(v) else {
            return Outcome::Hotdrop;
        };
        let ip = &v.ctx.packet.ip;
        let addr = u32::from(if self.daddr { ip.dst } else { ip.src });
        let mask = u32::MAX.checked_shl(32 - u32::from(self.mask)).unwrap_or(0);
        let count = match self.counts.lists.get_mut(&(addr & mask)) {
            None => {
                let list = CountList {
                    tuples: vec![seen.tuple],
                    last_gc: None,
                };
                self.counts.lists.insert(addr & mask, list);
                1
            }
            Some(list) => {
                if seen.adds {
                    list.add(seen.tuple, v);
                } else {
                    list.clean(v);
                }
                list.tuples.len()
            }
        };
        if count == 0 {
            // The packet closed the last connection of its address: the kernel
            // takes a count of 0 for a failed allocation and drops the packet.
            return Outcome::Hotdrop;
        }
        Outcome::from((count as u64 > u64::from(self.limit)) != self.upto)
    }

    pub(crate) fn save(&self, out: &mut String) {
        let (bound, side) = self.words();
        out.push_str(&format!(
            " -m connlimit --connlimit-{bound} {} --connlimit-mask {} --connlimit-{side}addr",
            self.limit, self.mask
        ));
    }

    /// `iptables -L`: ` #conn src/32 > 2`.
    pub(crate) fn list(&self, out: &mut String) {
        let op = if self.upto { "<=" } else { ">" };
        let side = if self.daddr { "dst" } else { "src" };
        out.push_str(&format!(" #conn {side}/{} {op} {}", self.mask, self.limit));
    }

    fn words(&self) -> (&'static str, &'static str) {
        (
            if self.upto { "upto" } else { "above" },
            if self.daddr { "d" } else { "s" },
        )
    }
}

/// What the counting sees of a packet (`get_ct_or_tuple_from_skb`).
struct Seen {
    /// The connection's original tuple, or the packet's own.
    tuple: Tuple,
    /// Whether the packet may add its connection to a list.
    adds: bool,
}

impl Seen {
    fn of(v: &View) -> Option<Seen> {
        // `ctinfo` is IP_CT_ESTABLISHED for an established packet in the original
        // direction, and also for a packet without a connection (INVALID).
        let (tuple, entry, established) = match v.entry() {
            Some(e) => (
                e.original,
                Some(e),
                v.ctstate == CtState::Established && v.direction() == Direction::Original,
            ),
            None => {
                let t = crate::firewall::lookup_tuple(v.ctx.bytes, v.ctx.packet)?;
                (t, live_entry(&t, v), v.ctstate == CtState::Invalid)
            }
        };
        let adds = match entry {
            Some(e) if e.has(status::CONFIRMED) => !(e.has(status::ASSURED) || established),
            _ => true,
        };
        Some(Seen { tuple, adds })
    }
}

/// The table's entry for `t`, unless it has expired (`nf_conntrack_find_get`).
fn live_entry<'a>(t: &Tuple, v: &View<'a>) -> Option<&'a Entry> {
    let now = v.ctx.now_ms;
    v.ctx
        .conntrack?
        .find(t)
        .map(|(e, _)| e)
        .filter(|e| !e.is_expired(now))
}

impl CountList {
    /// Whether the connection of `t` no longer counts: None when its entry is gone,
    /// true for a TCP connection in TIME_WAIT or CLOSE (`find_or_evict`,
    /// `already_closed`).
    fn gone(t: &Tuple, v: &View) -> Option<bool> {
        live_entry(t, v).map(|e| {
            e.tcp()
                .is_some_and(|c| matches!(c.state, TcpState::TimeWait | TcpState::Close))
        })
    }

    /// `__nf_conncount_add`: cleans the list, then adds `tuple` unless it is there.
    fn add(&mut self, tuple: Tuple, v: &View) {
        let now = v.ctx.now_ms;
        if self.last_gc != Some(now) {
            let (mut i, mut collected) = (0, 0);
            while i < self.tuples.len() && collected <= GC_MAX {
                let t = self.tuples[i];
                match Self::gone(&t, v) {
                    Some(_) if t == tuple => return,
                    None | Some(true) => {
                        self.tuples.remove(i);
                        collected += 1;
                    }
                    Some(false) => i += 1,
                }
            }
        }
        self.tuples.push(tuple);
        self.last_gc = Some(now);
    }

    /// `nf_conncount_gc_list`: drops what no longer counts, without adding.
    fn clean(&mut self, v: &View) {
        let now = v.ctx.now_ms;
        if self.last_gc == Some(now) {
            return;
        }
        let (mut i, mut collected) = (0, 0);
        while i < self.tuples.len() {
            match Self::gone(&self.tuples[i], v) {
                None | Some(true) => {
                    self.tuples.remove(i);
                    collected += 1;
                }
                Some(false) => {
                    if collected > GC_MAX {
                        break;
                    }
                    i += 1;
                }
            }
        }
        self.last_gc = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(opts: &[(u8, bool, &str)]) -> Result<ConnlimitMatch, String> {
        let mut p = PendingConnlimit::default();
        for &(id, invert, arg) in opts {
            p.option(id, invert, arg)?;
        }
        p.finish()
    }

    #[test]
    fn saves_and_lists_as_iptables_does() {
        let m = parsed(&[(ABOVE, true, "1"), (SADDR, false, "")]).unwrap();
        let (mut s, mut l) = (String::new(), String::new());
        m.save(&mut s);
        m.list(&mut l);
        assert_eq!(
            s,
            " -m connlimit --connlimit-upto 1 --connlimit-mask 32 --connlimit-saddr"
        );
        assert_eq!(l, " #conn src/32 <= 1");
        let m = parsed(&[
            (ABOVE, false, "0x10"),
            (MASK, false, "24"),
            (DADDR, false, ""),
        ])
        .unwrap();
        let mut l = String::new();
        m.list(&mut l);
        assert_eq!(l, " #conn dst/24 > 16");
        assert!(parsed(&[(MASK, false, "24")]).is_err());
        assert!(parsed(&[(ABOVE, false, "2"), (UPTO, false, "3")]).is_err());
        assert!(parsed(&[(ABOVE, false, "2"), (MASK, false, "33")]).is_err());
    }
}
