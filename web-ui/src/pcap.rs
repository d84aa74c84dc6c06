//! Reading and writing classic libpcap files.
//!
//! Written files hold raw IPv4 packets (`LINKTYPE_IPV4`, 228) with microsecond
//! timestamps, which Wireshark and tcpdump read as they are. Read files may use
//! either byte order, microsecond or nanosecond timestamps, and the link types
//! `LINKTYPE_IPV4` (228), `LINKTYPE_RAW` (101, IPv4 only) or Ethernet (1, with up to
//! two VLAN tags); frames that do not carry IPv4 are skipped and counted.

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: raw IPv4 or IPv6, told apart by the version nibble.
pub const LINKTYPE_RAW: u32 = 101;
/// `LINKTYPE_IPV4`: raw IPv4.
pub const LINKTYPE_IPV4: u32 = 228;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const SNAPLEN: u32 = 65535;

/// One captured packet: its time from the capture's first packet, and IPv4 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub time_us: u64,
    pub bytes: Vec<u8>,
}

/// What [`read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub packets: Vec<Captured>,
    /// Frames that held no IPv4 packet (ARP, IPv6...).
    pub skipped: usize,
    pub link_type: u32,
}

/// Writes packets, each with its time in microseconds, as a pcap file.
pub fn write(packets: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + packets.iter().map(|(_, b)| 16 + b.len()).sum::<usize>());
    out.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_IPV4.to_le_bytes());
    for (time_us, bytes) in packets {
        let secs = (time_us / 1_000_000) as u32;
        let micros = (time_us % 1_000_000) as u32;
        let len = bytes.len() as u32;
        for word in [secs, micros, len, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(bytes);
    }
    out
}

/// Reads a pcap file.
pub fn read(data: &[u8]) -> Result<Capture, String> {
    if data.len() < 24 {
        return Err("too short for a pcap file header (24 bytes)".into());
    }
    let magic_le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let magic_be = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let (little, nanos) = match (magic_le, magic_be) {
        (MAGIC_MICROS, _) => (true, false),
        (MAGIC_NANOS, _) => (true, true),
        (_, MAGIC_MICROS) => (false, false),
        (_, MAGIC_NANOS) => (false, true),
        _ if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) => {
            return Err("this is a pcapng file; save it as pcap (tcpdump -w, or Wireshark's \"Wireshark/tcpdump - pcap\")".into());
        }
        _ => return Err(format!("not a pcap file (magic 0x{magic_be:08x})")),
    };
    let word = |at: usize| -> u32 {
        let b = [data[at], data[at + 1], data[at + 2], data[at + 3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link_type = word(20) & 0x0fff_ffff;
    if !matches!(link_type, LINKTYPE_ETHERNET | LINKTYPE_RAW | LINKTYPE_IPV4) {
        return Err(format!(
            "link type {link_type} is not supported (Ethernet 1, raw 101 or IPv4 228 are)"
        ));
    }
    let mut packets = Vec::new();
    let mut skipped = 0;
    let mut first: Option<u64> = None;
    let mut at = 24;
    while at < data.len() {
        if at + 16 > data.len() {
            return Err(format!("packet record at byte {at} is cut short"));
        }
        let (secs, frac, incl) = (word(at), word(at + 4), word(at + 8) as usize);
        let start = at + 16;
        let Some(frame) = data.get(start..start + incl) else {
            return Err(format!(
                "packet at byte {at} claims {incl} bytes past the end of the file"
            ));
        };
        at = start + incl;
        let micros = if nanos {
            u64::from(frac) / 1000
        } else {
            u64::from(frac)
        };
        let stamp = u64::from(secs) * 1_000_000 + micros;
        match ipv4_of(link_type, frame) {
            Some(bytes) => {
                let base = *first.get_or_insert(stamp);
                packets.push(Captured {
                    time_us: stamp.saturating_sub(base),
                    bytes: bytes.to_vec(),
                });
            }
            None => skipped += 1,
        }
    }
    Ok(Capture {
        packets,
        skipped,
        link_type,
    })
}

/// The IPv4 packet a frame carries.
fn ipv4_of(link_type: u32, frame: &[u8]) -> Option<&[u8]> {
    let ip = match link_type {
        LINKTYPE_ETHERNET => {
            let mut at = 12;
            let mut ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
            // 802.1Q and 802.1ad tags.
            while matches!(ethertype, 0x8100 | 0x88a8) && at < 20 {
                at += 4;
                ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
            }
            if ethertype != 0x0800 {
                return None;
            }
            frame.get(at + 2..)?
        }
        _ => frame,
    };
    (ip.first()? >> 4 == 4).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: [u8; 20] = [
        0x45, 0, 0, 20, 0, 1, 0, 0, 64, 6, 0, 0, 192, 168, 1, 10, 203, 0, 113, 5,
    ];

    #[test]
    fn written_files_read_back() {
        let file = write(&[(0, &SYN), (1_500_000, &SYN[..])]);
        assert_eq!(&file[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(file[20..24].try_into().unwrap()), 228);
        let cap = read(&file).unwrap();
        assert_eq!(cap.link_type, LINKTYPE_IPV4);
        assert_eq!(cap.skipped, 0);
        assert_eq!(
            cap.packets,
            vec![
                Captured {
                    time_us: 0,
                    bytes: SYN.to_vec()
                },
                Captured {
                    time_us: 1_500_000,
                    bytes: SYN.to_vec()
                },
            ]
        );
    }

    /// A big-endian, nanosecond, Ethernet capture with a VLAN-tagged IPv4 frame,
    /// an untagged one and an ARP frame.
    #[test]
    fn ethernet_big_endian_nanosecond_files_are_read() {
        let mut f = Vec::new();
        f.extend_from_slice(&MAGIC_NANOS.to_be_bytes());
        f.extend_from_slice(&[0, 2, 0, 4]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&SNAPLEN.to_be_bytes());
        f.extend_from_slice(&LINKTYPE_ETHERNET.to_be_bytes());
        let frame = |tag: bool, ethertype: u16, payload: &[u8]| {
            let mut fr = vec![0u8; 12];
            if tag {
                fr.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
            }
            fr.extend_from_slice(&ethertype.to_be_bytes());
            fr.extend_from_slice(payload);
            fr
        };
        for (secs, nanos, fr) in [
            (100u32, 5_000u32, frame(true, 0x0800, &SYN)),
            (100, 2_005_000, frame(false, 0x0806, &[0; 28])),
            (101, 5_000, frame(false, 0x0800, &SYN)),
        ] {
            f.extend_from_slice(&secs.to_be_bytes());
            f.extend_from_slice(&nanos.to_be_bytes());
            f.extend_from_slice(&(fr.len() as u32).to_be_bytes());
            f.extend_from_slice(&(fr.len() as u32).to_be_bytes());
            f.extend_from_slice(&fr);
        }
        let cap = read(&f).unwrap();
        assert_eq!(cap.skipped, 1);
        let times: Vec<u64> = cap.packets.iter().map(|p| p.time_us).collect();
        assert_eq!(times, [0, 1_000_000]);
        assert!(cap.packets.iter().all(|p| p.bytes == SYN));
    }

    #[test]
    fn broken_files_are_errors() {
        assert!(read(&[0; 10]).unwrap_err().contains("too short"));
        assert!(read(&[0; 24]).unwrap_err().contains("not a pcap"));
        let mut ng = vec![0x0a, 0x0d, 0x0d, 0x0a];
        ng.resize(32, 0);
        assert!(read(&ng).unwrap_err().contains("pcapng"));
        let mut cut = write(&[(0, &SYN)]);
        cut.truncate(cut.len() - 1);
        assert!(read(&cut).unwrap_err().contains("past the end"));
        let mut other = write(&[]);
        other[20] = 105;
        assert!(read(&other).unwrap_err().contains("link type 105"));
    }
}
