//! The connection table: a slab of entries indexed by both of their tuples.
//!
//! Like the kernel's hash table, every entry is reachable from its original and its
//! reply tuple (one lookup finds a packet's connection whichever way it travels).
//!
//! * The **slab** holds the entries in fixed-size chunks, so growing never copies
//!   entries and never holds more than one chunk of unused room. A freed slot is
//!   reused by the next insert (last freed, first reused).
//! * The **index** is one hash table of 8-byte items, one per entry: the entry's slot
//!   and 32 bits of the hash of its *key*, the one of its two tuples that orders first
//!   ([`index_key`]). A packet's tuple and its inverse have the same key, so one probe
//!   finds the entry whichever way the packet travels; the entry's own tuple then tells
//!   the direction. The index stores no keys: a probe whose hash bits match compares
//!   with the entry in the slab, and growing the index never has to visit the entries
//!   (with 4-byte items, the rehash's random reads of the slab cost more than the
//!   lookups themselves once the table outgrows the caches). One well-mixed 64-bit
//!   hash of a tuple ([`tuple_hash`]) serves the index and the buckets below.
//! * Entries also sit in emulated hash **buckets** (one chain per direction) because
//!   early drop works bucket by bucket: when the table is full, the kernel scans up to
//!   8 consecutive buckets starting at the new packet's bucket and evicts every
//!   non-ASSURED entry of the first bucket where it finds any. Only early drop reads
//!   the chains, so they are built the first time it needs them (in insertion order,
//!   as if they had been kept all along) and kept from then on: a table that never
//!   fills never pays for them.

use super::entry::Entry;
use super::tuple::{Direction, Tuple};
use hashbrown::HashTable;

/// Where an entry lives in the slab.
pub type Slot = u32;

/// A tuple's place: the entry's slot and which of its tuples matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub slot: Slot,
    pub dir: Direction,
}

const NONE: u32 = u32::MAX;

/// Entries per slab chunk.
const CHUNK: usize = 512;

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

/// The most hash buckets a table allocates (4 MiB of chain heads). A larger
/// `nf_conntrack_buckets` (the kernel refuses more than 2^28) is used as this many, so
/// an absurd setting or a corrupt snapshot cannot exhaust memory.
pub const MAX_BUCKETS: u32 = 1 << 20;

/// The bucket count a table of `buckets` uses: at least 1, at most [`MAX_BUCKETS`].
pub fn bucket_count(buckets: u32) -> u32 {
    buckets.clamp(1, MAX_BUCKETS)
}

/// The kernel's `NF_CT_EVICTION_RANGE`.
pub const EVICTION_RANGE: u32 = 8;

/// A fixed, well-mixed 64-bit hash of a tuple (so runs are reproducible): the
/// addresses and the ports/protocol packed into a word each, mixed with the
/// finaliser of MurmurHash3.
pub fn tuple_hash(t: &Tuple) -> u64 {
    let mut h = u64::from(u32::from(t.src)) << 32 | u64::from(u32::from(t.dst));
    h ^= (u64::from(t.sport) << 24 | u64::from(t.dport) << 8 | u64::from(t.protocol))
        .rotate_left(17);
    h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The tuple an entry is indexed under, for a tuple `t` and its inverse: whichever
/// orders first (by [`packed`]). Both tuples of an entry give the same key. `None` when
/// `t` has no inverse: no entry holds such a tuple.
pub fn index_key(t: &Tuple) -> Option<Tuple> {
    let inv = t.invert()?;
    Some(if packed(t) <= packed(&inv) { *t } else { inv })
}

/// A tuple's fields in one number, for a cheap total order.
fn packed(t: &Tuple) -> u128 {
    u128::from(u32::from(t.src)) << 72
        | u128::from(u32::from(t.dst)) << 40
        | u128::from(t.sport) << 24
        | u128::from(t.dport) << 8
        | u128::from(t.protocol)
}

/// One place in the slab.
type Place = Option<Entry>;

/// The emulated hash buckets: a chain of nodes per bucket, a node being one direction
/// of one entry ([`node`]).
#[derive(Debug, Clone)]
struct Chains {
    /// First node of each bucket's chain.
    heads: Vec<u32>,
    /// The next node after each slot's two nodes, indexed by slot.
    next: Vec<[u32; 2]>,
}

#[derive(Debug, Clone)]
pub struct Table {
    /// The slab, in chunks of [`CHUNK`] places.
    chunks: Vec<Vec<Place>>,
    free: Vec<Slot>,
    index: HashTable<u64>,
    buckets: u32,
    /// The bucket chains, once early drop has needed them.
    chains: Option<Chains>,
    len: usize,
    /// Inserts over the table's lifetime.
    inserts: u64,
}

/// The place of a slot in the slab.
fn place(chunks: &[Vec<Place>], slot: Slot) -> Option<&Place> {
    let s = slot as usize;
    chunks.get(s / CHUNK)?.get(s % CHUNK)
}
fn place_mut(chunks: &mut [Vec<Place>], slot: Slot) -> Option<&mut Place> {
    let s = slot as usize;
    chunks.get_mut(s / CHUNK)?.get_mut(s % CHUNK)
}

/// The hash an entry is filed under in the index: its [`index_key`]'s.
fn entry_key_hash(e: &Entry) -> u64 {
    index_key(e.original()).map_or(0, |k| tuple_hash(&k))
}

/// An index item: the slot and the upper half of its key's hash.
fn item(h: u64, slot: Slot) -> u64 {
    h & 0xffff_ffff_0000_0000 | u64::from(slot)
}
/// The hash the index files an item under, from the hash bits the item keeps.
fn item_hash(it: u64) -> u64 {
    it & 0xffff_ffff_0000_0000 | it >> 32
}

impl Chains {
    fn next(&self, n: u32) -> u32 {
        let h = unnode(n);
        self.next
            .get(h.slot as usize)
            .map_or(NONE, |links| links[h.dir.index()])
    }
    fn set_next(&mut self, n: u32, to: u32) {
        let h = unnode(n);
        let slot = h.slot as usize;
        if self.next.len() <= slot {
            self.next.resize(slot + 1, [NONE; 2]);
        }
        self.next[slot][h.dir.index()] = to;
    }

    /// Puts a node at the front of bucket `b`'s chain, as the kernel's hash insert does.
    fn push_front(&mut self, b: usize, me: u32) {
        let head = self.heads[b];
        self.set_next(me, head);
        self.heads[b] = me;
    }

    /// Takes a node out of bucket `b`'s chain.
    fn unlink(&mut self, b: usize, me: u32) {
        let mut cur = self.heads[b];
        let mut prev = NONE;
        while cur != NONE {
            let nxt = self.next(cur);
            if cur == me {
                if prev == NONE {
                    self.heads[b] = nxt;
                } else {
                    self.set_next(prev, nxt);
                }
                return;
            }
            prev = cur;
            cur = nxt;
        }
    }
}

impl Table {
    pub fn new(buckets: u32) -> Table {
        Table {
            chunks: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            buckets: buckets.max(1),
            chains: None,
            len: 0,
            inserts: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// How many entries were ever inserted: a lookup that missed stays a miss for as
    /// long as this does not change.
    pub fn inserts(&self) -> u64 {
        self.inserts
    }
    pub fn bucket_count(&self) -> u32 {
        self.buckets
    }

    /// The bucket of a tuple's hash.
    fn bucket_of_hash(&self, h: u64) -> u32 {
        ((h as u128 * u128::from(self.buckets)) >> 64) as u32
    }

    /// A tuple's bucket.
    pub fn bucket_of(&self, t: &Tuple) -> u32 {
        self.bucket_of_hash(tuple_hash(t))
    }

    pub fn find(&self, t: &Tuple) -> Option<Hit> {
        let inv = t.invert()?;
        let key = if packed(t) <= packed(&inv) { t } else { &inv };
        // The entry holding `t` has `t` or its inverse as original tuple.
        let h = tuple_hash(key);
        let chunks = &self.chunks;
        let holds = |&it: &u64| {
            it >> 32 == h >> 32
                && place(chunks, it as Slot)
                    .and_then(Option::as_ref)
                    .is_some_and(|e| e.original == *t || e.original == inv)
        };
        let slot = *self.index.find(item_hash(h), holds)? as Slot;
        let original = self.get(slot)?.original;
        // A tuple that is its own inverse (same address and port both ways) is found in
        // the reply direction, as in the kernel, where the reply node is chained in
        // front of the original one.
        let dir = if original == *t && inv != *t {
            Direction::Original
        } else {
            Direction::Reply
        };
        Some(Hit { slot, dir })
    }

    pub fn get(&self, slot: Slot) -> Option<&Entry> {
        place(&self.chunks, slot)?.as_ref()
    }
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut Entry> {
        place_mut(&mut self.chunks, slot)?.as_mut()
    }

    /// The buckets of an entry's two nodes.
    fn entry_buckets(&self, e: &Entry) -> [usize; 2] {
        [Direction::Original, Direction::Reply]
            .map(|dir| self.bucket_of_hash(tuple_hash(&e.tuple(dir))) as usize)
    }

    /// Chains an entry's nodes into their buckets, original first.
    fn link(chains: &mut Chains, slot: Slot, buckets: [usize; 2]) {
        for dir in [Direction::Original, Direction::Reply] {
            chains.push_front(buckets[dir.index()], node(slot, dir));
        }
    }

    /// The chains, built the first time they are needed.
    fn chains(&mut self) -> &mut Chains {
        let chains = match self.chains.take() {
            Some(c) => c,
            None => self.build_chains(),
        };
        self.chains.insert(chains)
    }

    /// Chains every entry in insertion order (ids count up as entries are created), as
    /// inserting them one by one would have.
    fn build_chains(&self) -> Chains {
        let mut chains = Chains {
            heads: vec![NONE; self.buckets as usize],
            next: Vec::new(),
        };
        let mut by_age: Vec<(u32, Slot, [usize; 2])> = self
            .slots()
            .map(|(slot, e)| (e.id, slot, self.entry_buckets(e)))
            .collect();
        crate::sort::sort_by_key(&mut by_age, |&(id, _, _)| id);
        for (_, slot, buckets) in by_age {
            Table::link(&mut chains, slot, buckets);
        }
        chains
    }

    /// Inserts an entry under both tuples. The caller guarantees neither tuple is present.
    pub fn insert(&mut self, entry: Entry) -> Slot {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                }
                let last = self.chunks.len() - 1;
                let chunk = &mut self.chunks[last];
                chunk.push(None);
                (last * CHUNK + chunk.len() - 1) as Slot
            }
        };
        let key_hash = entry_key_hash(&entry);
        if self.chains.is_some() {
            let buckets = self.entry_buckets(&entry);
            if let Some(chains) = &mut self.chains {
                Table::link(chains, slot, buckets);
            }
        }
        *place_mut(&mut self.chunks, slot).expect("slot was just allocated") = Some(entry);
        self.index
            .insert_unique(item_hash(key_hash), item(key_hash, slot), |&it| {
                item_hash(it)
            });
        self.len += 1;
        self.inserts += 1;
        slot
    }

    /// Removes an entry, returning it.
    pub fn remove(&mut self, slot: Slot) -> Option<Entry> {
        let entry = place_mut(&mut self.chunks, slot)?.take()?;
        let key_hash = entry_key_hash(&entry);
        if let Ok(found) = self
            .index
            .find_entry(item_hash(key_hash), |&it| it as Slot == slot)
        {
            found.remove();
        }
        if self.chains.is_some() {
            let buckets = self.entry_buckets(&entry);
            if let Some(chains) = &mut self.chains {
                for dir in [Direction::Original, Direction::Reply] {
                    chains.unlink(buckets[dir.index()], node(slot, dir));
                }
            }
        }
        self.free.push(slot);
        self.len -= 1;
        Some(entry)
    }

    /// The slots chained in one bucket (an entry can appear once per direction).
    pub fn bucket_slots(&mut self, bucket: u32) -> Vec<Slot> {
        let mut out = Vec::new();
        self.bucket_slots_into(bucket, &mut out);
        out
    }

    /// Replaces `out`'s contents with the slots chained in one bucket, each once, in
    /// chain order. Lets a caller reuse one buffer instead of allocating per bucket.
    pub fn bucket_slots_into(&mut self, bucket: u32, out: &mut Vec<Slot>) {
        out.clear();
        let chains = self.chains();
        let mut cur = chains.heads.get(bucket as usize).copied().unwrap_or(NONE);
        while cur != NONE {
            let slot = unnode(cur).slot;
            if !out.contains(&slot) {
                out.push(slot);
            }
            cur = chains.next(cur);
        }
    }

    /// Occupied slots in slab order.
    pub fn slots(&self) -> impl Iterator<Item = (Slot, &Entry)> + '_ {
        self.chunks
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|e| (i as Slot, e)))
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        let buckets = self.buckets;
        let inserts = self.inserts;
        *self = Table::new(buckets);
        self.inserts = inserts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::entry::ProtoState;

    fn entry(id: u32, t: Tuple) -> Entry {
        Entry {
            id,
            original: t,
            status: 0,
            expires_ms: 1000,
            proto: ProtoState::Generic,
            mark: 0,
            helper: None,
            master: None,
            ext: None,
        }
    }

    fn tcp(a: [u8; 4], sp: u16, b: [u8; 4], dp: u16) -> Tuple {
        Tuple::ports(6, a.into(), sp, b.into(), dp)
    }

    #[test]
    fn both_tuples_find_the_entry_until_it_is_removed() {
        let mut t = Table::new(4);
        let mut slots = Vec::new();
        for i in 0..2000u16 {
            slots.push(t.insert(entry(
                u32::from(i),
                tcp([10, 0, 0, 1], i, [10, 0, 0, 2], 80),
            )));
        }
        assert_eq!(t.len(), 2000);
        let hit = t.find(&tcp([10, 0, 0, 2], 80, [10, 0, 0, 1], 7)).unwrap();
        assert_eq!((hit.slot, hit.dir), (slots[7], Direction::Reply));
        let e = t.remove(slots[7]).unwrap();
        assert_eq!(e.id, 7);
        assert!(t.find(e.original()).is_none() && t.find(&e.reply()).is_none());
        // Every bucket chain still holds every other entry once per direction.
        let chained: usize = (0..4).map(|b| t.bucket_slots(b).len()).sum();
        assert!(chained >= 1999);
        // The freed slot is reused first.
        assert_eq!(
            t.insert(entry(9999, tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2))),
            slots[7]
        );
        assert_eq!(t.slots().count(), 2000);
        assert_eq!(t.inserts(), 2001);
    }

    #[test]
    fn chains_built_late_equal_chains_kept_all_along() {
        let mut kept = Table::new(8);
        let _ = kept.bucket_slots(0); // builds the (empty) chains now
        let mut late = Table::new(8);
        for i in 0..300u16 {
            let t = tcp([10, 0, 0, 1], i, [10, 0, 0, 2], 80);
            let a = kept.insert(entry(u32::from(i) + 1, t));
            let b = late.insert(entry(u32::from(i) + 1, t));
            assert_eq!(a, b);
            if i % 3 == 0 {
                // Freed slots are reused, so slot order is not insertion order.
                kept.remove(a / 2);
                late.remove(b / 2);
            }
        }
        for bucket in 0..8 {
            assert_eq!(kept.bucket_slots(bucket), late.bucket_slots(bucket));
        }
    }

    #[test]
    fn a_tuple_that_is_its_own_inverse_is_found_as_reply() {
        let mut t = Table::new(16);
        let same = tcp([10, 0, 0, 1], 5000, [10, 0, 0, 1], 5000);
        let slot = t.insert(entry(1, same));
        assert_eq!(t.find(&same).unwrap().dir, Direction::Reply);
        assert!(t.remove(slot).is_some());
        assert!(t.find(&same).is_none());
        assert!(t.is_empty());
    }
}
