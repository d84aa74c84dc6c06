//! IPv4 reassembly, as `nf_defrag_ipv4` does it before connection tracking.
//!
//! While conntrack is loaded, fragments are queued per (source, destination,
//! protocol, IP id) and only the complete datagram goes on; a lone fragment produces
//! nothing. The router remembers the pieces and the largest fragment it received and,
//! when it forwards the datagram, sends it in the same pieces ([`refragment`]), so
//! fragments leave as they came. A fragment wholly inside what is already queued is
//! a duplicate and ignored; any other overlap, a fragment beyond the known end or an
//! empty one discards the whole datagram; a queue not completed within 30 s
//! (`ipfrag_time`) is dropped.

use crate::wire::{ipv4_header_checksum, Packet};
use std::net::Ipv4Addr;

/// `net.ipv4.ipfrag_time`.
pub const REASSEMBLY_TIMEOUT_MS: u64 = 30_000;

type Key = (Ipv4Addr, Ipv4Addr, u8, u16);

#[derive(Debug, Clone)]
struct Queue {
    key: Key,
    started_ms: u64,
    /// (offset in bytes, payload), in offset order.
    pieces: Vec<(usize, Vec<u8>)>,
    /// Runs of contiguous fragments that arrived in order, as (start, end): the
    /// kernel keeps one tree node per run, and only a fragment wholly inside one run
    /// counts as a duplicate.
    runs: Vec<(usize, usize)>,
    /// The first fragment's IP header.
    header: Option<Vec<u8>>,
    /// The datagram's length as known so far (`q.len`), and whether the last
    /// fragment (MF clear) fixed it.
    len: usize,
    last_in: bool,
    /// Payload bytes received (`q.meat`).
    meat: usize,
    /// The largest fragment (IP header included), and the largest one with DF set.
    largest: u16,
    largest_df: u16,
}

/// A reassembled datagram and the shape it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    pub bytes: Vec<u8>,
    pub max_fragment: u16,
    /// The payload length of each fragment, in offset order: forwarding sends the
    /// datagram out in these same pieces when it can ([`refragment`]).
    pub pieces: Vec<usize>,
}

/// Where `inet_frag_queue_insert` puts a fragment.
enum Insert {
    Ok,
    /// Wholly inside a run already held: the fragment is dropped, the queue kept.
    Duplicate,
    /// Any other overlap: the whole datagram is discarded (RFC 5722).
    Overlap,
}

impl Queue {
    fn new(key: Key, now_ms: u64) -> Queue {
        Queue {
            key,
            started_ms: now_ms,
            pieces: Vec::new(),
            runs: Vec::new(),
            header: None,
            len: 0,
            last_in: false,
            meat: 0,
            largest: 0,
            largest_df: 0,
        }
    }

    /// A fragment beyond the tail starts a run or, when it continues the tail run
    /// exactly, extends it; any other fragment must not touch an existing run.
    fn insert(&mut self, offset: usize, end: usize) -> Insert {
        let tail = self.runs.iter().map(|r| r.1).max();
        match tail {
            None => self.runs.push((offset, end)),
            Some(tail_end) if tail_end < end => {
                if offset < tail_end {
                    return Insert::Overlap;
                }
                match self.runs.iter_mut().find(|r| r.1 == tail_end) {
                    Some(run) if offset == tail_end => run.1 = end,
                    _ => self.runs.push((offset, end)),
                }
            }
            Some(_) => match self.runs.iter().find(|r| offset < r.1 && r.0 < end) {
                Some(r) if r.0 <= offset && end <= r.1 => return Insert::Duplicate,
                Some(_) => return Insert::Overlap,
                None => self.runs.push((offset, end)),
            },
        }
        Insert::Ok
    }
}

/// The reassembly queues.
#[derive(Debug, Clone, Default)]
pub struct Defrag {
    queues: Vec<Queue>,
}

impl Defrag {
    pub fn pending(&self) -> usize {
        self.queues.len()
    }

    /// Adds a fragment (`ip_frag_queue`); returns the datagram once it is complete.
    pub fn add(&mut self, now_ms: u64, bytes: &[u8], pkt: &Packet) -> Option<Reassembled> {
        self.queues
            .retain(|q| now_ms < q.started_ms.saturating_add(REASSEMBLY_TIMEOUT_MS));
        let ip = &pkt.ip;
        let key = (ip.src, ip.dst, ip.protocol, ip.id);
        let i = match self.queues.iter().position(|q| q.key == key) {
            Some(i) => i,
            None => {
                self.queues.push(Queue::new(key, now_ms));
                self.queues.len() - 1
            }
        };
        let hl = ip.header_len as usize;
        let offset = usize::from(ip.fragment_offset) * 8;
        let mut data = bytes[hl..ip.total_len as usize].to_vec();
        let mut end = offset + data.len();
        let q = &mut self.queues[i];
        let corrupt = if !ip.more_fragments {
            // The last fragment fixes the length: nothing may lie beyond it, and a
            // second last fragment must agree.
            let bad = end < q.len || (q.last_in && end != q.len);
            q.last_in = true;
            q.len = end;
            bad
        } else {
            // Other fragments carry whole 8-byte blocks: a ragged end is cut off.
            end &= !7;
            let bad = end > q.len && q.last_in;
            q.len = q.len.max(end);
            bad
        };
        if corrupt || end <= offset {
            self.queues.remove(i);
            return None;
        }
        data.truncate(end - offset);
        match q.insert(offset, end) {
            Insert::Ok => {}
            Insert::Duplicate => return None,
            Insert::Overlap => {
                self.queues.remove(i);
                return None;
            }
        }
        if offset == 0 {
            q.header = Some(bytes[..hl].to_vec());
        }
        let size = (hl + data.len()) as u16;
        q.largest = q.largest.max(size);
        if ip.dont_fragment {
            q.largest_df = q.largest_df.max(size);
        }
        q.meat += data.len();
        let at = q.pieces.partition_point(|p| p.0 < offset);
        q.pieces.insert(at, (offset, data));
        if q.header.is_none() || !q.last_in || q.meat != q.len || hl + q.len > 65535 {
            return None;
        }
        let q = self.queues.remove(i);
        let mut out = q.header.expect("checked above");
        for (_, d) in &q.pieces {
            out.extend_from_slice(d);
        }
        let total = out.len() as u16;
        out[2..4].copy_from_slice(&total.to_be_bytes());
        // DF survives when the largest fragment carried it (`max_df_size`).
        out[6] = if q.largest_df == q.largest { 0x40 } else { 0 };
        out[7] = 0;
        set_header_checksum(&mut out);
        Some(Reassembled {
            bytes: out,
            max_fragment: q.largest,
            pieces: q.pieces.iter().map(|p| p.1.len()).collect(),
        })
    }
}

fn set_header_checksum(pkt: &mut [u8]) {
    let hl = (pkt[0] & 0x0f) as usize * 4;
    pkt[10] = 0;
    pkt[11] = 0;
    let c = ipv4_header_checksum(&pkt[..hl]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Sends a reassembled datagram on in fragments (`ip_do_fragment`). Its fast path
/// reuses the pieces it arrived in when each fits `max_size` (and all but the last
/// hold whole 8-byte blocks); each gets only its offset and MF, so DF is dropped.
/// Otherwise the slow path cuts it afresh ([`fragment`]).
pub fn refragment(datagram: &[u8], pieces: &[usize], max_size: usize) -> Vec<Vec<u8>> {
    let hl = (datagram[0] & 0x0f) as usize * 4;
    let room = max_size.saturating_sub(hl);
    let fits = |(k, &n): (usize, &usize)| n <= room && (n % 8 == 0 || k + 1 == pieces.len());
    if pieces.len() < 2 || !pieces.iter().enumerate().all(fits) {
        return fragment(datagram, max_size);
    }
    let mut out = Vec::with_capacity(pieces.len());
    let mut off = 0;
    for (k, &n) in pieces.iter().enumerate() {
        let mut f = datagram[..hl].to_vec();
        f.extend_from_slice(&datagram[hl + off..hl + off + n]);
        let total = f.len() as u16;
        f[2..4].copy_from_slice(&total.to_be_bytes());
        let more = if k + 1 < pieces.len() { 0x2000 } else { 0 };
        let field = (off / 8) as u16 | more;
        f[6..8].copy_from_slice(&field.to_be_bytes());
        set_header_checksum(&mut f);
        out.push(f);
        off += n;
    }
    out
}

/// Cuts a datagram into fragments of at most `max_size` bytes (`ip_fragment`).
pub fn fragment(datagram: &[u8], max_size: usize) -> Vec<Vec<u8>> {
    let hl = (datagram[0] & 0x0f) as usize * 4;
    let payload = &datagram[hl..];
    let chunk = (max_size.saturating_sub(hl) & !7).max(8);
    if datagram.len() <= max_size {
        return vec![datagram.to_vec()];
    }
    let base_flags = u16::from_be_bytes([datagram[6], datagram[7]]);
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let n = chunk.min(payload.len() - off);
        let more = off + n < payload.len() || base_flags & 0x2000 != 0;
        let mut f = datagram[..hl].to_vec();
        f.extend_from_slice(&payload[off..off + n]);
        let total = f.len() as u16;
        f[2..4].copy_from_slice(&total.to_be_bytes());
        let field = (base_flags & 0x4000)
            | if more { 0x2000 } else { 0 }
            | ((base_flags & 0x1fff) + (off / 8) as u16);
        f[6..8].copy_from_slice(&field.to_be_bytes());
        set_header_checksum(&mut f);
        out.push(f);
        off += n;
    }
    out
}
