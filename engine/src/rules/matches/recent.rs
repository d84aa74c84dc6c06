//! `-m recent`: lists of recently seen addresses (`xt_recent`), the classic guard
//! against SSH brute force:
//!
//! ```text
//! -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name SSH
//! -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 4 --name SSH -j DROP
//! ```
//!
//! A rule does one of four things with the packet's source address (`--rsource`, the
//! default) or destination (`--rdest`), masked by the list's mask, in the list named
//! `--name` (`DEFAULT`):
//!
//! * `--set` adds the address (or adds a time stamp to it) and always matches;
//! * `--rcheck` matches when the address is listed;
//! * `--update` is `--rcheck` that also adds a time stamp when it matches;
//! * `--remove` matches when the address is listed, and takes it off.
//!
//! `--seconds N` counts only the stamps of the last N seconds, `--hitcount N` wants
//! at least N of them, `--rttl` also wants the TTL the address was last seen with
//! (a forwarded packet's TTL is counted as it arrived, before the decrement), and
//! `--reap` (with `--seconds`) drops the least recently stamped address of the list
//! when its newest stamp is older than the window. `!` inverts the result, and, as in
//! the kernel, an inverted `--update` stamps the address when the inverted result
//! matches.
//!
//! The lists belong to the whole rule set, not to a rule: every rule naming a list
//! shares it, a list keeps the mask of the first rule that named it, holds at most
//! 100 addresses (`ip_list_tot`; a new one evicts the least recently stamped) and keeps
//! as many stamps per address as the largest `--hitcount` of its rules needs, rounded
//! up to a power of two (32 without one). Reloading the rules keeps a list that is
//! still named (emptied when it must keep more stamps than before).

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;
use std::net::Ipv4Addr;

const SET: u8 = 1;
const RCHECK: u8 = 2;
const UPDATE: u8 = 3;
const REMOVE: u8 = 4;
const SECONDS: u8 = 5;
const REAP: u8 = 6;
const HITCOUNT: u8 = 7;
const RTTL: u8 = 8;
const NAME: u8 = 9;
const RSOURCE: u8 = 10;
const RDEST: u8 = 11;
const MASK: u8 = 12;

pub(crate) const RECENT_OPTS: &[OptSpec] = &[
    OptSpec::new("set", SET, 0, true),
    OptSpec::new("rcheck", RCHECK, 0, true),
    OptSpec::new("update", UPDATE, 0, true),
    OptSpec::new("remove", REMOVE, 0, true),
    OptSpec::new("seconds", SECONDS, 1, false),
    OptSpec::new("reap", REAP, 0, false),
    OptSpec::new("hitcount", HITCOUNT, 1, false),
    OptSpec::new("rttl", RTTL, 0, false),
    OptSpec::new("name", NAME, 1, false),
    OptSpec::new("rsource", RSOURCE, 0, false),
    OptSpec::new("rdest", RDEST, 0, false),
    OptSpec::new("mask", MASK, 1, false),
];

/// The addresses one list holds at most (`ip_list_tot`).
pub const LIST_MAX: usize = 100;
/// `XT_RECENT_MAX_NSTAMPS`: a `--hitcount` must stay below it.
const MAX_STAMPS: u32 = 256;
/// `XT_RECENT_NAME_LEN`, with its terminating zero.
const NAME_LEN: usize = 200;

/// What a rule does with its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecentMode {
    Set,
    Check,
    Update,
    Remove,
}

/// The `recent` match (revision 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentMatch {
    pub mode: RecentMode,
    pub invert: bool,
    /// 0: any age.
    pub seconds: u32,
    pub reap: bool,
    /// 0: one stamp is enough.
    pub hitcount: u32,
    pub rttl: bool,
    pub name: String,
    /// `--rdest`: the destination address; else the source.
    pub dest: bool,
    pub mask: Ipv4Addr,
}

impl Default for RecentMatch {
    fn default() -> RecentMatch {
        RecentMatch {
            mode: RecentMode::Check,
            invert: false,
            seconds: 0,
            reap: false,
            hitcount: 0,
            rttl: false,
            name: "DEFAULT".into(),
            dest: false,
            mask: Ipv4Addr::BROADCAST,
        }
    }
}

/// A `recent` match while its options are read: the mode is not known yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingRecent {
    m: RecentMatch,
    mode: Option<RecentMode>,
    side: Option<bool>,
}

impl PendingRecent {
    pub fn option(&mut self, id: u8, invert: bool, arg: &str) -> Result<(), String> {
        let mode = match id {
            SET => Some(RecentMode::Set),
            RCHECK => Some(RecentMode::Check),
            UPDATE => Some(RecentMode::Update),
            REMOVE => Some(RecentMode::Remove),
            _ => None,
        };
        if let Some(mode) = mode {
            if self.mode.is_some() {
                return Err("recent: only one of `--set', `--rcheck' `--update' or \
                            `--remove' may be set"
                    .into());
            }
            self.mode = Some(mode);
            self.m.invert = invert;
            return Ok(());
        }
        let number = |what: &str| {
            parse_c_uint(arg, u32::MAX)
                .ok_or_else(|| format!("recent: bad value for option \"--{what}\": {arg}"))
        };
        match id {
            SECONDS => self.m.seconds = number("seconds")?,
            REAP => self.m.reap = true,
            HITCOUNT => self.m.hitcount = number("hitcount")?,
            RTTL => self.m.rttl = true,
            NAME => self.m.name = check_name(arg)?,
            RSOURCE | RDEST => {
                if self.side.is_some() {
                    return Err(
                        "recent: option \"--rsource\" cannot be used together with \"--rdest\"."
                            .into(),
                    );
                }
                self.side = Some(id == RDEST);
                self.m.dest = id == RDEST;
            }
            MASK => {
                self.m.mask = arg
                    .parse()
                    .map_err(|_| format!("recent: bad value for option \"--mask\": {arg}"))?;
            }
            _ => unreachable!("recent has no option {id}"),
        }
        Ok(())
    }

    /// What userspace and `recent_mt_check` refuse.
    pub fn finish(self) -> Result<RecentMatch, String> {
        let mut m = self.m;
        m.mode = self.mode.ok_or(
            "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'",
        )?;
        if m.rttl && !matches!(m.mode, RecentMode::Check | RecentMode::Update) {
            return Err("recent: --rttl may only be used with --rcheck or --update".into());
        }
        if m.reap && m.seconds == 0 {
            return Err("recent: --reap is only valid with --seconds".into());
        }
        if matches!(m.mode, RecentMode::Set | RecentMode::Remove)
            && (m.seconds != 0 || m.hitcount != 0 || m.reap || m.rttl)
        {
            return Err(
                "recent: --seconds, --hitcount, --reap and --rttl go only with --rcheck or \
                 --update"
                    .into(),
            );
        }
        if m.hitcount >= MAX_STAMPS {
            return Err(format!(
                "recent: hitcount ({}) is larger than allowed maximum ({})",
                m.hitcount,
                MAX_STAMPS - 1
            ));
        }
        Ok(m)
    }
}

/// A list name must be a usable /proc file name (`xt_check_proc_name`).
fn check_name(name: &str) -> Result<String, String> {
    if name.len() >= NAME_LEN {
        return Err(format!(
            "recent: name too long (max {} characters)",
            NAME_LEN - 1
        ));
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(format!("recent: bad name \"{name}\""));
    }
    Ok(name.to_string())
}

impl RecentMatch {
    /// The stamps a list must keep for this rule, minus one (`nstamps_max_mask`).
    pub fn stamp_mask(&self) -> usize {
        if self.hitcount > 0 {
            self.hitcount.next_power_of_two() as usize - 1
        } else {
            31
        }
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let Some(lists) = v.recent else {
            return Outcome::NoMatch;
        };
        let mut lists = lists.borrow_mut();
        let Some(list) = lists.get_mut(&self.name) else {
            return Outcome::NoMatch;
        };
        let ip = &v.ctx.packet.ip;
        let addr = if self.dest { ip.dst } else { ip.src };
        let addr = u32::from(addr) & u32::from(list.mask);
        // The TTL as the packet arrived: FORWARD sees it decremented.
        let forwarded = v.ctx.in_iface.is_some() && v.ctx.out_iface.is_some();
        let ttl = if forwarded {
            ip.ttl.wrapping_add(1)
        } else {
            ip.ttl
        };
        let now = v.ctx.now_ms;
        let mut hit = self.invert;
        let Some(at) = list.find(addr, if self.rttl { ttl } else { 0 }) else {
            if self.mode == RecentMode::Set {
                list.insert(addr, ttl, now);
                hit = !hit;
            }
            return hit.into();
        };
        match self.mode {
            RecentMode::Set => hit = !hit,
            RecentMode::Remove => {
                list.addrs.remove(at);
                return (!hit).into();
            }
            RecentMode::Check | RecentMode::Update => {
                // Before the clock has run `--seconds`, every stamp is in the window.
                let since = now.saturating_sub(u64::from(self.seconds) * 1000);
                let mut hits = 0;
                for &stamp in &list.addrs[at].stamps {
                    if self.seconds != 0 && since > stamp {
                        continue;
                    }
                    hits += 1;
                    if self.hitcount == 0 || hits >= self.hitcount {
                        hit = !hit;
                        break;
                    }
                }
                if self.reap {
                    let updating = self.mode == RecentMode::Update && hit;
                    if let Some(at) = list.reap(at, since, updating) {
                        return self.stamp(list, at, ttl, now, hit);
                    }
                    return hit.into();
                }
            }
        }
        self.stamp(list, at, ttl, now, hit)
    }

    /// `--set`, and `--update` when the result matches, stamp the address.
    fn stamp(&self, list: &mut RecentList, at: usize, ttl: u8, now: u64, hit: bool) -> Outcome {
        if self.mode == RecentMode::Set || (self.mode == RecentMode::Update && hit) {
            list.stamp(at, ttl, now);
        }
        hit.into()
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m recent");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(match self.mode {
            RecentMode::Set => " --set",
            RecentMode::Check => " --rcheck",
            RecentMode::Update => " --update",
            RecentMode::Remove => " --remove",
        });
        if self.seconds != 0 {
            out.push_str(&format!(" --seconds {}", self.seconds));
        }
        if self.reap {
            out.push_str(" --reap");
        }
        if self.hitcount != 0 {
            out.push_str(&format!(" --hitcount {}", self.hitcount));
        }
        if self.rttl {
            out.push_str(" --rttl");
        }
        out.push_str(&format!(" --name {} --mask {}", self.name, self.mask));
        out.push_str(if self.dest { " --rdest" } else { " --rsource" });
    }

    pub(crate) fn list(&self, out: &mut String) {
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(match self.mode {
            RecentMode::Set => " recent: SET",
            RecentMode::Check => " recent: CHECK",
            RecentMode::Update => " recent: UPDATE",
            RecentMode::Remove => " recent: REMOVE",
        });
        if self.seconds != 0 {
            out.push_str(&format!(" seconds: {}", self.seconds));
        }
        if self.reap {
            out.push_str(" reap");
        }
        if self.hitcount != 0 {
            out.push_str(&format!(" hit_count: {}", self.hitcount));
        }
        if self.rttl {
            out.push_str(" TTL-Match");
        }
        let side = if self.dest { "dest" } else { "source" };
        out.push_str(&format!(
            " name: {} side: {side} mask: {}",
            self.name, self.mask
        ));
    }
}

/// One listed address.
#[derive(Debug, Clone)]
struct Listed {
    addr: u32,
    /// The TTL of the packet that stamped it last.
    ttl: u8,
    /// Time stamps (ms), used as a ring of `stamp_mask + 1` slots.
    stamps: Vec<u64>,
    /// The next slot to write.
    next: usize,
}

/// One named list (`struct recent_table`).
#[derive(Debug, Clone)]
pub struct RecentList {
    /// The mask of the first rule that named the list.
    mask: Ipv4Addr,
    stamp_mask: usize,
    /// Least recently stamped first.
    addrs: Vec<Listed>,
}

impl RecentList {
    fn new(mask: Ipv4Addr, stamp_mask: usize) -> RecentList {
        RecentList {
            mask,
            stamp_mask,
            addrs: Vec::new(),
        }
    }

    /// How many addresses the list holds.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// The address, when it is listed with `ttl` (0: any TTL; a listed TTL of 0
    /// matches any).
    fn find(&self, addr: u32, ttl: u8) -> Option<usize> {
        self.addrs
            .iter()
            .position(|e| e.addr == addr && (ttl == 0 || e.ttl == 0 || e.ttl == ttl))
    }

    fn insert(&mut self, addr: u32, ttl: u8, now: u64) {
        if self.addrs.len() >= LIST_MAX {
            self.addrs.remove(0);
        }
        let mut stamps = Vec::with_capacity(self.stamp_mask + 1);
        stamps.push(now);
        self.addrs.push(Listed {
            addr,
            ttl,
            stamps,
            next: 1,
        });
    }

    /// Adds a stamp and makes the address the most recently stamped.
    fn stamp(&mut self, at: usize, ttl: u8, now: u64) {
        let mut e = self.addrs.remove(at);
        e.next &= self.stamp_mask;
        if e.next < e.stamps.len() {
            e.stamps[e.next] = now;
        } else {
            e.stamps.push(now);
        }
        e.next += 1;
        e.ttl = ttl;
        self.addrs.push(e);
    }

    /// `--reap`: removes the least recently stamped address when its newest stamp
    /// is older than `since`, unless it is `at` about to be stamped. Returns where
    /// `at` is afterwards (None if it was removed).
    fn reap(&mut self, at: usize, since: u64, updating: bool) -> Option<usize> {
        let Some(oldest) = self.addrs.first() else {
            return Some(at);
        };
        if at == 0 && updating {
            return Some(at);
        }
        if since > oldest.stamps[oldest.next - 1] {
            self.addrs.remove(0);
            return at.checked_sub(1);
        }
        Some(at)
    }
}

/// Every list of a rule set, by name.
#[derive(Debug, Clone, Default)]
pub struct RecentLists {
    lists: Vec<(String, RecentList)>,
}

/// The lists are run-time state: two rule sets are equal whatever their lists hold.
impl PartialEq for RecentLists {
    fn eq(&self, _: &RecentLists) -> bool {
        true
    }
}
impl Eq for RecentLists {}

impl RecentLists {
    pub fn get(&self, name: &str) -> Option<&RecentList> {
        self.lists.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut RecentList> {
        self.lists
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l)
    }

    /// The lists `rules` name, in order, as loading them leaves them: a list still
    /// named keeps its addresses (emptied if a rule now wants more stamps) and its
    /// mask; a new list takes the mask of the first rule naming it; lists no rule
    /// names are gone.
    pub(crate) fn rebuild<'a>(
        mut self,
        rules: impl IntoIterator<Item = &'a RecentMatch>,
    ) -> RecentLists {
        let mut out = RecentLists::default();
        for m in rules {
            if out.get(&m.name).is_none() {
                let kept = self
                    .lists
                    .iter()
                    .position(|(n, _)| *n == m.name)
                    .map(|i| self.lists.swap_remove(i).1);
                let list = kept.unwrap_or_else(|| RecentList::new(m.mask, m.stamp_mask()));
                out.lists.push((m.name.clone(), list));
            }
            let list = out.get_mut(&m.name).expect("just added");
            if m.stamp_mask() > list.stamp_mask {
                list.addrs.clear();
                list.stamp_mask = m.stamp_mask();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(opts: &[(u8, bool, &str)]) -> Result<RecentMatch, String> {
        let mut p = PendingRecent::default();
        for &(id, invert, arg) in opts {
            p.option(id, invert, arg)?;
        }
        p.finish()
    }

    #[test]
    fn saves_and_lists_as_iptables_does() {
        let m = parsed(&[
            (RCHECK, false, ""),
            (SECONDS, false, "10"),
            (REAP, false, ""),
        ])
        .unwrap();
        let m = RecentMatch {
            rttl: true,
            dest: true,
            name: "X".into(),
            ..m
        };
        let mut s = String::new();
        m.save(&mut s);
        assert_eq!(
            s,
            " -m recent --rcheck --seconds 10 --reap --rttl --name X --mask 255.255.255.255 --rdest"
        );
        let mut l = String::new();
        m.list(&mut l);
        assert_eq!(
            l,
            " recent: CHECK seconds: 10 reap TTL-Match name: X side: dest mask: 255.255.255.255"
        );
        let m = parsed(&[(RCHECK, true, ""), (MASK, false, "255.255.255.0")]).unwrap();
        let mut s = String::new();
        m.save(&mut s);
        assert_eq!(
            s,
            " -m recent ! --rcheck --name DEFAULT --mask 255.255.255.0 --rsource"
        );
    }

    #[test]
    fn refuses_what_the_kernel_refuses() {
        assert!(parsed(&[(SECONDS, false, "5")]).is_err());
        assert!(parsed(&[(SET, false, ""), (UPDATE, false, "")]).is_err());
        assert!(parsed(&[(SET, false, ""), (RTTL, false, "")]).is_err());
        assert!(parsed(&[(RCHECK, false, ""), (REAP, false, "")]).is_err());
        assert!(parsed(&[(SET, false, ""), (SECONDS, false, "5")]).is_err());
        assert!(parsed(&[(RCHECK, false, ""), (HITCOUNT, false, "256")]).is_err());
        assert!(parsed(&[(SET, false, ""), (NAME, false, "a/b")]).is_err());
        assert!(parsed(&[(RCHECK, false, ""), (HITCOUNT, false, "255")]).is_ok());
    }

    #[test]
    fn a_list_keeps_its_stamps_in_a_ring_and_evicts_the_least_recent() {
        let mut l = RecentList::new(Ipv4Addr::BROADCAST, 3);
        l.insert(1, 64, 0);
        for t in 1..6 {
            l.stamp(0, 64, t * 10);
        }
        assert_eq!(l.addrs[0].stamps, [40, 50, 20, 30]);
        for a in 2..=LIST_MAX as u32 + 1 {
            l.insert(a, 64, 100);
        }
        assert_eq!(l.len(), LIST_MAX);
        assert!(l.find(1, 0).is_none());
    }

    #[test]
    fn reloading_keeps_named_lists_and_their_first_mask() {
        let set = |name: &str, mask: [u8; 4]| RecentMatch {
            mode: RecentMode::Set,
            name: name.into(),
            mask: mask.into(),
            ..RecentMatch::default()
        };
        let a = set("A", [255, 255, 255, 0]);
        let lists = RecentLists::default().rebuild([&a, &set("A", [255, 255, 255, 255])]);
        assert_eq!(
            lists.get("A").unwrap().mask,
            Ipv4Addr::new(255, 255, 255, 0)
        );
        let mut lists = lists;
        lists.get_mut("A").unwrap().insert(7, 64, 0);
        let b = set("B", [255; 4]);
        let lists = lists.rebuild([&b, &a]);
        assert_eq!(lists.get("A").unwrap().len(), 1);
        assert!(lists.get("B").unwrap().is_empty());
        let lists = lists.rebuild([&b]);
        assert!(lists.get("A").is_none());
    }
}
