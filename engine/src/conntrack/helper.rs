//! Application-layer helpers (the FTP helper), run on accepted packets.
//!
//! Some protocols announce, on one connection, the address and port of another
//! connection to come: FTP's control connection names its data connections. A helper
//! reads the payload of such a *master* connection and creates
//! [`Expectation`]s; when the announced connection's first packet arrives it is
//! attached to the master and its packets are RELATED.
//!
//! As in the kernel (`nf_conntrack_helper.c`), a helper runs after the filter accepted
//! the packet, only on ESTABLISHED / ESTABLISHED_REPLY packets of a connection the raw
//! table attached it to (`-j CT --helper ftp`). Current kernels never attach helpers
//! by port on their own.

#[path = "ftp.rs"]
mod ftp;

use super::entry::{Entry, Helper};
use super::expect::Expectation;
use super::tuple::Direction;
use crate::wire::Packet;

pub use ftp::{EXPECT_TIMEOUT_MS, PARTIAL_COMMAND};

/// How many "sequence number after a newline" values are kept per direction
/// (`NUM_SEQ_TO_REMEMBER`).
pub const NUM_SEQ_TO_REMEMBER: usize = 2;

/// Per-connection helper state, kept beside the entry (keyed by entry id).
///
/// This is the kernel's `struct nf_ct_ftp_master`. FTP is line-oriented and the
/// helper only parses a segment that starts a line, so for each direction it
/// remembers the sequence numbers that follow a segment ending in `'\n'`. Two are
/// kept so that a retransmission of the previous line is still recognised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HelperState {
    /// `seq_aft_nl[dir][..seq_aft_nl_num[dir]]`: where the next line starts.
    seq_aft_nl: [[u32; NUM_SEQ_TO_REMEMBER]; 2],
    /// How many of `seq_aft_nl[dir]` are set (0 until a line end was seen).
    seq_aft_nl_num: [u8; 2],
}

impl HelperState {
    /// The remembered line-start sequence numbers of one direction.
    pub fn seq_after_newline(&self, dir: Direction) -> &[u32] {
        let d = dir.index();
        let n = usize::from(self.seq_aft_nl_num[d]).min(NUM_SEQ_TO_REMEMBER);
        &self.seq_aft_nl[d][..n]
    }

    /// `find_nl_seq`: does a segment starting at `seq` start a line? Nothing
    /// remembered means no: the first data segment of each direction is never parsed.
    fn find_nl_seq(&self, seq: u32, dir: Direction) -> bool {
        self.seq_after_newline(dir).contains(&seq)
    }

    /// `update_nl_seq`: remember that a line starts at `nl_seq`. With both slots
    /// taken, the older one (in sequence space) is replaced, and only by a newer value.
    fn update_nl_seq(&mut self, nl_seq: u32, dir: Direction) {
        if self.find_nl_seq(nl_seq, dir) {
            return;
        }
        let d = dir.index();
        let n = usize::from(self.seq_aft_nl_num[d]);
        if n < NUM_SEQ_TO_REMEMBER {
            self.seq_aft_nl[d][n] = nl_seq;
            self.seq_aft_nl_num[d] += 1;
            return;
        }
        let [a, b] = self.seq_aft_nl[d];
        let oldest = if seq_before(a, b) { 0 } else { 1 };
        if seq_before(self.seq_aft_nl[d][oldest], nl_seq) {
            self.seq_aft_nl[d][oldest] = nl_seq;
        }
    }
}

/// The kernel's `before(a, b)`: `a` comes earlier in 32-bit sequence space.
fn seq_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// What the helper decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperOutcome {
    /// Nothing to do.
    Pass,
    /// Create this expectation.
    Expect(Expectation),
    /// Drop the packet (a command split across segments).
    Drop(&'static str),
}

/// Runs the connection's helper on an accepted packet.
pub fn help(
    entry: &Entry,
    state: &mut HelperState,
    dir: Direction,
    bytes: &[u8],
    packet: &Packet,
    now_ms: u64,
) -> HelperOutcome {
    match entry.helper {
        Some(Helper::Ftp) => ftp::help(entry, state, dir, bytes, packet, now_ms),
        None => HelperOutcome::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_segment_of_a_direction_is_not_a_line_start() {
        let s = HelperState::default();
        assert!(!s.find_nl_seq(0, Direction::Original));
        assert!(s.seq_after_newline(Direction::Reply).is_empty());
    }

    #[test]
    fn keeps_two_line_starts_and_replaces_the_older() {
        let mut s = HelperState::default();
        let o = Direction::Original;
        s.update_nl_seq(100, o);
        s.update_nl_seq(100, o);
        s.update_nl_seq(200, o);
        assert_eq!(s.seq_after_newline(o), &[100, 200]);
        s.update_nl_seq(300, o);
        assert_eq!(s.seq_after_newline(o), &[300, 200]);
        // Older than both: ignored.
        s.update_nl_seq(50, o);
        assert_eq!(s.seq_after_newline(o), &[300, 200]);
        assert!(s.seq_after_newline(Direction::Reply).is_empty());
    }

    #[test]
    fn sequence_space_wraps() {
        let mut s = HelperState::default();
        let r = Direction::Reply;
        s.update_nl_seq(u32::MAX - 10, r);
        s.update_nl_seq(u32::MAX - 5, r);
        s.update_nl_seq(4, r);
        assert_eq!(s.seq_after_newline(r), &[4, u32::MAX - 5]);
        assert!(s.find_nl_seq(4, r));
    }
}
