//! Packet captures held in memory, for replays and benchmarks (feature `pcap`).
//!
//! [`Capture::from_pcap`] reads a classic pcap file into one contiguous buffer of IPv4
//! datagrams, each with its time in milliseconds from the capture's first packet and
//! the interface it enters the router by ([`ingress`]). `wasmwall replay --pcap`,
//! `wasmwall bench`, the component benchmark and the browser benchmark all load
//! captures this way, so they feed the engine the same packets.

use crate::firewall::{Iface, Topology};
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;
use std::net::Ipv4Addr;

/// The interface a packet enters by: the one its source address is routed to (`lan`
/// for the LAN's network, else `wan`), and `wan` when it is too short to have one.
pub fn ingress(topology: &Topology, bytes: &[u8]) -> Iface {
    // The source address sits at bytes 12..16 of the IPv4 header.
    match bytes.get(12..16) {
        Some(a) => topology.route(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
        None => Iface::Wan,
    }
}

/// Where one packet is in [`Capture`], and when and where it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    start: usize,
    end: usize,
    time_ms: u64,
    ingress: Iface,
}

/// A capture in memory: every packet's IPv4 bytes back to back.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    data: Vec<u8>,
    records: Vec<Record>,
}

impl Capture {
    /// Reads a pcap file whose link type is raw IPv4, Ethernet or Linux cooked
    /// capture (the link header is cut off). Each packet's interface is decided by
    /// [`ingress`] with `topology`.
    pub fn from_pcap(file: &[u8], topology: &Topology) -> Result<Capture, String> {
        let mut reader = PcapReader::new(file).map_err(|e| format!("not a pcap file: {e}"))?;
        let skip = match reader.header().datalink {
            DataLink::RAW | DataLink::IPV4 => 0,
            DataLink::ETHERNET => 14,
            DataLink::LINUX_SLL => 16,
            other => return Err(format!("unsupported link type {other:?}")),
        };
        let mut capture = Capture {
            data: Vec::with_capacity(file.len()),
            records: Vec::new(),
        };
        let mut first_us = None;
        while let Some(pkt) = reader.next_packet() {
            let pkt = pkt.map_err(|e| format!("corrupt packet record: {e}"))?;
            let us = pkt.timestamp.as_micros() as u64;
            let t0 = *first_us.get_or_insert(us);
            let bytes = pkt.data.get(skip..).unwrap_or(&[]);
            capture.push(
                us.saturating_sub(t0) / 1000,
                ingress(topology, bytes),
                bytes,
            );
        }
        Ok(capture)
    }

    /// Appends a packet.
    pub fn push(&mut self, time_ms: u64, ingress: Iface, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.records.push(Record {
            start,
            end: self.data.len(),
            time_ms,
            ingress,
        });
    }

    /// The number of packets.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no packets.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Packet `i`: its time in milliseconds, its interface and its IPv4 bytes.
    ///
    /// # Panics
    /// When `i` is not below [`len`](Self::len).
    pub fn get(&self, i: usize) -> (u64, Iface, &[u8]) {
        let r = self.records[i];
        (r.time_ms, r.ingress, &self.data[r.start..r.end])
    }

    /// Every packet in order, as [`get`](Self::get) gives it.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u64, Iface, &[u8])> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap file (little-endian, microseconds) of raw IPv4 packets, 1.5 ms apart.
    fn pcap(link_type: u32, packets: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, link_type] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for (i, p) in packets.iter().enumerate() {
            let us = 1_000_000 + 1500 * i as u32;
            let len = p.len() as u32;
            for word in [us / 1_000_000, us % 1_000_000, len, len] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            out.extend_from_slice(p);
        }
        out
    }

    fn header(src: [u8; 4]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0];
        h.extend_from_slice(&src);
        h.extend_from_slice(&[203, 0, 113, 9]);
        h
    }

    #[test]
    fn reads_times_interfaces_and_bytes() {
        let lan = header([192, 168, 1, 20]);
        let wan = header([10, 0, 0, 1]);
        let short = [0x45u8, 0];
        let cap =
            Capture::from_pcap(&pcap(101, &[&lan, &wan, &short]), &Topology::default()).unwrap();
        assert_eq!(cap.len(), 3);
        assert_eq!(cap.get(0), (0, Iface::Lan, &lan[..]));
        assert_eq!(cap.get(1), (1, Iface::Wan, &wan[..]));
        assert_eq!(cap.get(2), (3, Iface::Wan, &short[..]));
        assert_eq!(cap.iter().count(), 3);
    }

    #[test]
    fn cuts_off_the_ethernet_header() {
        let mut frame = vec![0u8; 14];
        let ip = header([192, 168, 1, 20]);
        frame.extend_from_slice(&ip);
        let cap = Capture::from_pcap(&pcap(1, &[&frame]), &Topology::default()).unwrap();
        assert_eq!(cap.get(0), (0, Iface::Lan, &ip[..]));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(Capture::from_pcap(b"not a pcap", &Topology::default()).is_err());
        let err = Capture::from_pcap(&pcap(105, &[]), &Topology::default()).unwrap_err();
        assert!(err.contains("unsupported link type"), "{err}");
    }
}
