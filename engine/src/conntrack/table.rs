//! The connection table: a slab of entries indexed by both of their tuples.
//!
//! Like the kernel's hash table, every entry is reachable from its original and its
//! reply tuple (one lookup finds a packet's connection whichever way it travels).
//! Entries also sit in emulated hash *buckets* (one chain per direction) because early
//! drop works bucket by bucket: when the table is full, the kernel scans up to 8
//! consecutive buckets starting at the new packet's bucket and evicts every
//! non-ASSURED entry of the first bucket where it finds any.

use super::entry::Entry;
use super::tuple::{Direction, Tuple};
use hashbrown::HashMap;

/// Where an entry lives in the slab.
pub type Slot = u32;

/// A tuple's place: the entry's slot and which of its tuples matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub slot: Slot,
    pub dir: Direction,
}

const NONE: u32 = u32::MAX;

/// Packs (slot, direction) into one word for the index and the bucket chains.
fn node(slot: Slot, dir: Direction) -> u32 {
    slot << 1 | dir as u32
}
fn unnode(n: u32) -> Hit {
    Hit {
        slot: n >> 1,
        dir: if n & 1 == 0 {
            Direction::Original
        } else {
            Direction::Reply
        },
    }
}

/// The kernel's `NF_CT_EVICTION_RANGE`.
pub const EVICTION_RANGE: u32 = 8;

#[derive(Debug, Clone)]
pub struct Table {
    slots: Vec<Option<Entry>>,
    free: Vec<Slot>,
    index: HashMap<Tuple, u32>,
    /// First node of each bucket's chain.
    heads: Vec<u32>,
    /// Next node in the chain, per slot and direction.
    next: Vec<[u32; 2]>,
    len: usize,
}

impl Table {
    pub fn new(buckets: u32) -> Table {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            heads: vec![NONE; buckets.max(1) as usize],
            next: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn bucket_count(&self) -> u32 {
        self.heads.len() as u32
    }

    /// A tuple's bucket: a fixed, well-mixed hash so runs are reproducible.
    pub fn bucket_of(&self, t: &Tuple) -> u32 {
        let mut h = u64::from(u32::from(t.src)) << 32 | u64::from(u32::from(t.dst));
        h ^= (u64::from(t.sport) << 24 | u64::from(t.dport) << 8 | u64::from(t.protocol))
            .rotate_left(17);
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        ((h as u128 * self.heads.len() as u128) >> 64) as u32
    }

    pub fn find(&self, t: &Tuple) -> Option<Hit> {
        self.index.get(t).map(|&n| unnode(n))
    }

    pub fn get(&self, slot: Slot) -> Option<&Entry> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut Entry> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// Inserts an entry under both tuples. The caller guarantees neither tuple is present.
    pub fn insert(&mut self, entry: Entry) -> Slot {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.next.push([NONE; 2]);
                (self.slots.len() - 1) as Slot
            }
        };
        for dir in [Direction::Original, Direction::Reply] {
            let t = *entry.tuple(dir);
            let b = self.bucket_of(&t) as usize;
            self.next[slot as usize][dir.index()] = self.heads[b];
            self.heads[b] = node(slot, dir);
            self.index.insert(t, node(slot, dir));
        }
        self.slots[slot as usize] = Some(entry);
        self.len += 1;
        slot
    }

    /// Removes an entry, returning it.
    pub fn remove(&mut self, slot: Slot) -> Option<Entry> {
        let entry = self.slots.get_mut(slot as usize)?.take()?;
        for dir in [Direction::Original, Direction::Reply] {
            let t = entry.tuple(dir);
            self.index.remove(t);
            let b = self.bucket_of(t) as usize;
            let me = node(slot, dir);
            let mut cur = self.heads[b];
            let mut prev: Option<u32> = None;
            while cur != NONE {
                let h = unnode(cur);
                let nxt = self.next[h.slot as usize][h.dir.index()];
                if cur == me {
                    match prev {
                        None => self.heads[b] = nxt,
                        Some(p) => {
                            let ph = unnode(p);
                            self.next[ph.slot as usize][ph.dir.index()] = nxt;
                        }
                    }
                    break;
                }
                prev = Some(cur);
                cur = nxt;
            }
        }
        self.free.push(slot);
        self.len -= 1;
        Some(entry)
    }

    /// The slots chained in one bucket (an entry can appear once per direction).
    pub fn bucket_slots(&self, bucket: u32) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut cur = self.heads[bucket as usize];
        while cur != NONE {
            let h = unnode(cur);
            if !out.contains(&h.slot) {
                out.push(h.slot);
            }
            cur = self.next[h.slot as usize][h.dir.index()];
        }
        out
    }

    /// Occupied slots in slab order.
    pub fn slots(&self) -> impl Iterator<Item = (Slot, &Entry)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as Slot, e)))
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        let buckets = self.heads.len() as u32;
        *self = Table::new(buckets);
    }
}
