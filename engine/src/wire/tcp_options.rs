//! TCP options, walked as `nf_conntrack_proto_tcp.c` walks them.
//!
//! Kinds: 0 end of list, 1 no-op, 2 MSS (len 4), 3 window scale (len 3, shift capped
//! at 14), 4 SACK permitted (len 2), 5 SACK blocks (len 2 + 8n), 8 timestamps (len 10).
//! An option with a length below 2 or running past the header ends the walk; an option
//! of a known kind with the wrong length is skipped, exactly like the kernel does.

/// The largest window-scale shift RFC 7323 allows (`TCP_MAX_WSCALE`).
pub const MAX_WSCALE: u8 = 14;

/// What a segment's options announce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    /// The window-scale shift, already capped at [`MAX_WSCALE`].
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// Right edges are what conntrack uses; up to 4 blocks of the first SACK option.
    pub sack_blocks: [(u32, u32); 4],
    pub sack_count: u8,
}

impl TcpOptions {
    /// No options.
    pub const NONE: TcpOptions = TcpOptions {
        mss: None,
        wscale: None,
        sack_permitted: false,
        timestamps: None,
        sack_blocks: [(0, 0); 4],
        sack_count: 0,
    };

    /// The options of a TCP header's option bytes.
    pub fn parse(raw: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::NONE;
        o.read(raw);
        o
    }

    /// Reads option bytes into options that are still [`NONE`](Self::NONE), in place
    /// (the packet parser fills the options of a packet already in its place).
    pub fn read(&mut self, mut raw: &[u8]) {
        let o = self;
        let mut seen_sack = false;
        while let Some((&kind, rest)) = raw.split_first() {
            match kind {
                0 => break,
                1 => {
                    raw = rest;
                    continue;
                }
                _ => {}
            }
            let Some(&size) = rest.first() else { break };
            let size = size as usize;
            if size < 2 || size > raw.len() {
                break;
            }
            let body = &raw[2..size];
            match (kind, size) {
                (2, 4) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (3, 3) => o.wscale = Some(body[0].min(MAX_WSCALE)),
                (4, 2) => o.sack_permitted = true,
                (5, _) if size >= 10 && (size - 2).is_multiple_of(8) && !seen_sack => {
                    seen_sack = true;
                    for block in body.chunks_exact(8).take(4) {
                        let left = u32::from_be_bytes([block[0], block[1], block[2], block[3]]);
                        let right = u32::from_be_bytes([block[4], block[5], block[6], block[7]]);
                        o.sack_blocks[o.sack_count as usize] = (left, right);
                        o.sack_count += 1;
                    }
                }
                (8, 10) => {
                    let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    o.timestamps = Some((v, e));
                }
                _ => {}
            }
            raw = &raw[size..];
        }
    }

    /// The SACK blocks present.
    pub fn sacks(&self) -> &[(u32, u32)] {
        &self.sack_blocks[..self.sack_count as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_syn_options() {
        // MSS 1460, SACK_PERM, TS, NOP, WS 7
        let raw = [
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = TcpOptions::parse(&raw);
        assert_eq!(o.mss, Some(1460));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamps, Some((1, 0)));
        assert_eq!(o.wscale, Some(7));
    }

    #[test]
    fn wscale_is_capped_and_bad_lengths_skip_or_stop() {
        assert_eq!(TcpOptions::parse(&[3, 3, 20]).wscale, Some(14));
        // wrong length for window scale: skipped, walk continues
        let o = TcpOptions::parse(&[3, 4, 7, 0, 4, 2]);
        assert_eq!(o.wscale, None);
        assert!(o.sack_permitted);
        // length 1 ("silly option") ends the walk
        assert!(!TcpOptions::parse(&[9, 1, 4, 2]).sack_permitted);
        // running past the end ends the walk
        assert_eq!(TcpOptions::parse(&[2, 8, 1, 1]).mss, None);
    }

    #[test]
    fn sack_blocks() {
        let raw = [
            1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40,
        ];
        let o = TcpOptions::parse(&raw);
        assert_eq!(o.sacks(), &[(10, 20), (30, 40)]);
    }
}
