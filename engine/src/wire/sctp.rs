//! SCTP (RFC 9260) as conntrack reads it: a 12-byte common header (ports, the
//! verification tag, a CRC32c checksum) followed by chunks. Each chunk starts with
//! type, flags and a length that covers the chunk header but not the padding to the
//! next 4-byte boundary.

/// Chunk types the connection tracker acts on (`SCTP_CID_*`).
pub mod chunk {
    pub const DATA: u8 = 0;
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const SACK: u8 = 3;
    pub const HEARTBEAT: u8 = 4;
    pub const HEARTBEAT_ACK: u8 = 5;
    pub const ABORT: u8 = 6;
    pub const SHUTDOWN: u8 = 7;
    pub const SHUTDOWN_ACK: u8 = 8;
    pub const ERROR: u8 = 9;
    pub const COOKIE_ECHO: u8 = 10;
    pub const COOKIE_ACK: u8 = 11;
    pub const SHUTDOWN_COMPLETE: u8 = 14;
    /// The T bit of ABORT and SHUTDOWN COMPLETE: the sender reflected the receiver's
    /// own tag because it had none of its own (no association).
    pub const FLAG_T: u8 = 0x01;
}

/// The common header of an SCTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpInfo {
    pub sport: u16,
    pub dport: u16,
    /// The verification tag: the receiver's own tag, which it chose in its INIT or
    /// INIT ACK. Zero only in an INIT.
    pub vtag: u32,
    /// Offset of the SCTP header in the packet.
    pub offset: u16,
}

/// One chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub kind: u8,
    pub flags: u8,
    /// The length field (header included, padding excluded).
    pub length: u16,
    /// Offset of the chunk in the SCTP segment.
    pub offset: usize,
}

/// The chunks of an SCTP segment (common header included), walked the way the
/// kernel's `for_each_sctp_chunk` does: from byte 12, while a whole 4-byte chunk
/// header is there, stepping by the length rounded up to 4. A zero length does not
/// advance; callers stop at it.
pub fn chunks(seg: &[u8]) -> impl Iterator<Item = Chunk> + '_ {
    let mut offset = 12usize;
    core::iter::from_fn(move || {
        if offset + 4 > seg.len() {
            return None;
        }
        let c = Chunk {
            kind: seg[offset],
            flags: seg[offset + 1],
            length: u16::from_be_bytes([seg[offset + 2], seg[offset + 3]]),
            offset,
        };
        if c.length == 0 {
            offset = usize::MAX - 4;
        } else {
            offset += (usize::from(c.length) + 3) & !3;
        }
        Some(c)
    })
}

/// The initiate tag of an INIT or INIT ACK chunk, if its fixed part (16 bytes after
/// the chunk header) is in the segment.
pub fn init_tag(seg: &[u8], c: &Chunk) -> Option<u32> {
    let at = c.offset + 4;
    (seg.len() >= at + 16)
        .then(|| u32::from_be_bytes([seg[at], seg[at + 1], seg[at + 2], seg[at + 3]]))
}

/// The CRC32c (Castagnoli) lookup table, reflected polynomial 0x82F63B78.
const CRC32C: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Whether the segment's checksum field holds the CRC32c of the segment computed with
/// that field zeroed. The CRC is stored least significant byte first.
pub fn checksum_ok(seg: &[u8]) -> bool {
    if seg.len() < 12 {
        return false;
    }
    let mut crc = !0u32;
    for (i, &b) in seg.iter().enumerate() {
        let b = if (8..12).contains(&i) { 0 } else { b };
        crc = CRC32C[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    (!crc).to_le_bytes() == seg[8..12]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_of_an_init() {
        // An INIT recorded against Linux (sctp_handshake_shutdown, step 0).
        let mut seg = crate::wire::decode_hex(
            "9c40960c0000000045d2b0e6010000141a2b3c4d0000ffff000a000a000003e8",
        )
        .expect("hex");
        assert!(checksum_ok(&seg));
        assert_eq!(
            init_tag(&seg, &chunks(&seg).next().expect("INIT")),
            Some(0x1a2b_3c4d)
        );
        seg[20] ^= 1;
        assert!(!checksum_ok(&seg));
    }

    #[test]
    fn chunk_walk_stops_at_truncation_and_zero_length() {
        let mut seg = vec![0u8; 12];
        seg.extend_from_slice(&[0, 3, 0, 5, 1, 2, 3, 0]); // DATA, length 5, padded to 8
        seg.extend_from_slice(&[11, 0, 0, 4]); // COOKIE ACK
        seg.extend_from_slice(&[9, 9]); // half a header
        let kinds: Vec<u8> = chunks(&seg).map(|c| c.kind).collect();
        assert_eq!(kinds, [0, 11]);
        seg.truncate(24);
        seg.extend_from_slice(&[0x40, 0, 0, 0, 7, 0, 0, 4]);
        let v: Vec<Chunk> = chunks(&seg).collect();
        assert_eq!((v.len(), v[2].length), (3, 0));
    }
}
