//! IPv4 reassembly, as `nf_defrag_ipv4` does it before connection tracking.
//!
//! While conntrack is loaded, fragments are queued per (source, destination,
//! protocol, IP id) and only the complete datagram goes on; a lone fragment produces
//! nothing. The router remembers the largest fragment it received and, when it
//! forwards the datagram, cuts it again into pieces no larger than that
//! ([`fragment`]), so fragments leave as they came. Overlapping fragments discard
//! the whole datagram; a queue not completed within 30 s (`ipfrag_time`) is dropped.

use crate::wire::{ipv4_header_checksum, Packet};
use std::net::Ipv4Addr;

/// `net.ipv4.ipfrag_time`.
pub const REASSEMBLY_TIMEOUT_MS: u64 = 30_000;

type Key = (Ipv4Addr, Ipv4Addr, u8, u16);

#[derive(Debug, Clone)]
struct Queue {
    key: Key,
    started_ms: u64,
    /// (offset in bytes, payload, more fragments follow)
    pieces: Vec<(usize, Vec<u8>, bool)>,
    /// The first fragment's IP header.
    header: Option<Vec<u8>>,
    largest: u16,
}

/// A reassembled datagram and the largest fragment size it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    pub bytes: Vec<u8>,
    pub max_fragment: u16,
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

    /// Adds a fragment; returns the datagram once it is complete.
    pub fn add(&mut self, now_ms: u64, bytes: &[u8], pkt: &Packet) -> Option<Reassembled> {
        self.queues
            .retain(|q| now_ms < q.started_ms.saturating_add(REASSEMBLY_TIMEOUT_MS));
        let ip = &pkt.ip;
        let key = (ip.src, ip.dst, ip.protocol, ip.id);
        let i = match self.queues.iter().position(|q| q.key == key) {
            Some(i) => i,
            None => {
                self.queues.push(Queue {
                    key,
                    started_ms: now_ms,
                    pieces: Vec::new(),
                    header: None,
                    largest: 0,
                });
                self.queues.len() - 1
            }
        };
        let hl = ip.header_len as usize;
        let offset = usize::from(ip.fragment_offset) * 8;
        let data = bytes[hl..ip.total_len as usize].to_vec();
        let end = offset + data.len();
        let q = &mut self.queues[i];
        if q.pieces
            .iter()
            .any(|(o, d, _)| offset < o + d.len() && *o < end)
        {
            // Overlaps are an attack pattern: the kernel discards the datagram.
            self.queues.remove(i);
            return None;
        }
        if offset == 0 {
            q.header = Some(bytes[..hl].to_vec());
        }
        q.largest = q.largest.max(ip.total_len);
        q.pieces.push((offset, data, ip.more_fragments));
        crate::sort::sort_by_key(&mut q.pieces, |p| p.0);

        // Complete when the pieces are contiguous from 0 to a last fragment.
        let mut next = 0;
        for (o, d, _) in &q.pieces {
            if *o != next {
                return None;
            }
            next = o + d.len();
        }
        let last_done = q.pieces.last().is_some_and(|p| !p.2);
        let header = q.header.clone()?;
        if !last_done || header.len() + next > 65535 {
            return None;
        }
        let q = self.queues.remove(i);
        let mut out = header;
        for (_, d, _) in &q.pieces {
            out.extend_from_slice(d);
        }
        let total = out.len() as u16;
        out[2..4].copy_from_slice(&total.to_be_bytes());
        let df = out[6] & 0x40;
        out[6] = df;
        out[7] = 0;
        set_header_checksum(&mut out);
        Some(Reassembled {
            bytes: out,
            max_fragment: q.largest,
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
