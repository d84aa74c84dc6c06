//! The SCTP tracker (`nf_conntrack_proto_sctp.c`).
//!
//! An SCTP association opens with a four-way handshake: INIT (the client's tag),
//! INIT ACK (the server's tag and a state cookie), COOKIE ECHO, COOKIE ACK. Every
//! later packet carries the *receiver's* tag in its common header, so conntrack
//! learns one tag per direction from the INIT / INIT ACK and checks it on every
//! packet (RFC 9260 8.5). The connection's state moves with the chunks: a table
//! indexed by direction, chunk and state, as in the kernel. Chunks without a row
//! (DATA, SACK, unknown types) leave the state alone.
//!
//! A packet is INVALID when its chunks break the bundling rules, its tag is wrong, or
//! a chunk has no transition from the current state. As in the kernel, chunks already
//! applied before a failing one keep their effect.

use super::tuple::Direction;
use super::Settings;
use crate::wire::sctp::{self, chunk};

/// The connection states (`enum sctp_conntrack`), in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SctpState {
    /// Nothing seen yet (only while the first packet is processed).
    None,
    /// An INIT was seen, or the association was shut down or aborted.
    Closed,
    /// The INIT ACK came back.
    CookieWait,
    /// A COOKIE ECHO was seen.
    CookieEchoed,
    /// The COOKIE ACK came back (or a HEARTBEAT was answered): the association is up.
    Established,
    /// SHUTDOWN in the original direction.
    ShutdownSent,
    /// SHUTDOWN in the reply direction.
    ShutdownRecd,
    /// The SHUTDOWN was acknowledged; SHUTDOWN COMPLETE closes it.
    ShutdownAckSent,
    /// The entry was opened by a HEARTBEAT (an association already running, e.g. on
    /// a second path of a multi-homed peer).
    HeartbeatSent,
}

use SctpState::{
    Closed as CL, CookieEchoed as CE, CookieWait as CW, Established as ES, HeartbeatSent as HS,
    None as NO, ShutdownAckSent as SA, ShutdownRecd as SR, ShutdownSent as SS,
};

/// "No transition": the packet is INVALID (`sIV`).
const IV: Option<SctpState> = None;

/// Columns: the current state, in [`SctpState`] order.
type Row = [Option<SctpState>; 9];

const fn row(r: [SctpState; 9]) -> Row {
    let mut out = [None; 9];
    let mut i = 0;
    while i < 9 {
        out[i] = Some(r[i]);
        i += 1;
    }
    out
}

/// A reply-direction row: no entry is ever in NONE when a reply arrives, and only
/// the HEARTBEAT chunks have a transition from HEARTBEAT_SENT.
const fn reply_row(r: [SctpState; 7], from_heartbeat_sent: Option<SctpState>) -> Row {
    let mut out = [IV; 9];
    let mut i = 0;
    while i < 7 {
        out[i + 1] = Some(r[i]);
        i += 1;
    }
    out[8] = from_heartbeat_sent;
    out
}

/// `sctp_conntracks[dir][chunk][state]`. Rows: INIT, INIT ACK, ABORT, SHUTDOWN,
/// SHUTDOWN ACK, ERROR, COOKIE ECHO, COOKIE ACK, SHUTDOWN COMPLETE, HEARTBEAT,
/// HEARTBEAT ACK. Columns: NONE, CLOSED, COOKIE_WAIT, COOKIE_ECHOED, ESTABLISHED,
/// SHUTDOWN_SENT, SHUTDOWN_RECD, SHUTDOWN_ACK_SENT, HEARTBEAT_SENT.
const TRANSITIONS: [[Row; 11]; 2] = [
    [
        row([CL, CL, CW, CE, ES, CL, CL, SA, CW]),
        row([CL, CL, CW, CE, ES, SS, SR, SA, CL]),
        row([CL, CL, CL, CL, CL, CL, CL, CL, CL]),
        row([CL, CL, CW, CE, SS, SS, SR, SA, CL]),
        row([SA, CL, CW, CE, ES, SA, SA, SA, SA]),
        row([CL, CL, CW, CE, ES, SS, SR, SA, CL]),
        row([CL, CL, CE, CE, ES, SS, SR, SA, CL]),
        row([CL, CL, CW, ES, ES, SS, SR, SA, CL]),
        row([CL, CL, CW, CE, ES, SS, SR, CL, CL]),
        row([HS, CL, CW, CE, ES, SS, SR, SA, HS]),
        row([CL, CL, CW, CE, ES, SS, SR, SA, HS]),
    ],
    [
        reply_row([CL, CW, CE, ES, SS, SR, SA], IV),
        reply_row([CW, CW, CE, ES, SS, SR, SA], IV),
        reply_row([CL, CL, CL, CL, CL, CL, CL], IV),
        reply_row([CL, CW, CE, SR, SS, SR, SA], IV),
        reply_row([CL, CW, CE, ES, SA, SA, SA], IV),
        reply_row([CL, CW, CL, ES, SS, SR, SA], IV),
        reply_row([CL, CE, CE, ES, SS, SR, SA], IV),
        reply_row([CL, CW, ES, ES, SS, SR, SA], IV),
        reply_row([CL, CW, CE, ES, SS, SR, CL], IV),
        reply_row([CL, CW, CE, ES, SS, SR, SA], Some(HS)),
        reply_row([CL, CW, CE, ES, SS, SR, SA], Some(ES)),
    ],
];

impl SctpState {
    /// The name `/proc/net/nf_conntrack` prints.
    pub fn name(self) -> &'static str {
        match self {
            NO => "NONE",
            CL => "CLOSED",
            CW => "COOKIE_WAIT",
            CE => "COOKIE_ECHOED",
            ES => "ESTABLISHED",
            SS => "SHUTDOWN_SENT",
            SR => "SHUTDOWN_RECD",
            SA => "SHUTDOWN_ACK_SENT",
            HS => "HEARTBEAT_SENT",
        }
    }

    /// The timeout of an entry in this state (`nf_conntrack_sctp_timeout_*`); NONE
    /// uses CLOSED's.
    pub fn timeout_secs(self, s: &Settings) -> u32 {
        match self {
            NO | CL => s.sctp_timeout_closed,
            CW => s.sctp_timeout_cookie_wait,
            CE => s.sctp_timeout_cookie_echoed,
            ES => s.sctp_timeout_established,
            SS => s.sctp_timeout_shutdown_sent,
            SR => s.sctp_timeout_shutdown_recd,
            SA => s.sctp_timeout_shutdown_ack_sent,
            HS => s.sctp_timeout_heartbeat_sent,
        }
    }

    /// Shutting down: the GC may evict such an entry even when ASSURED
    /// (`sctp_can_early_drop`).
    pub fn is_closing(self) -> bool {
        matches!(self, SS | SR | SA)
    }

    /// The state after `kind` in direction `dir` (`sctp_new_state`); None is INVALID.
    fn next(self, dir: Direction, kind: u8) -> Option<SctpState> {
        let Some(i) = row_of(kind) else {
            return Some(self);
        };
        TRANSITIONS[dir.index()][i][self as usize]
    }
}

/// The table row of a chunk type, None for chunks that do not move the state.
fn row_of(kind: u8) -> Option<usize> {
    Some(match kind {
        chunk::INIT => 0,
        chunk::INIT_ACK => 1,
        chunk::ABORT => 2,
        chunk::SHUTDOWN => 3,
        chunk::SHUTDOWN_ACK => 4,
        chunk::ERROR => 5,
        chunk::COOKIE_ECHO => 6,
        chunk::COOKIE_ACK => 7,
        chunk::SHUTDOWN_COMPLETE => 8,
        chunk::HEARTBEAT => 9,
        chunk::HEARTBEAT_ACK => 10,
        _ => return None,
    })
}

/// The chunk types present in a packet (`map` in the kernel).
#[derive(Debug, Default)]
pub struct ChunkSet([u64; 4]);

impl ChunkSet {
    fn insert(&mut self, kind: u8) {
        self.0[usize::from(kind >> 6)] |= 1 << (kind & 63);
    }
    fn has(&self, kind: u8) -> bool {
        self.0[usize::from(kind >> 6)] & (1 << (kind & 63)) != 0
    }
}

/// The bundling rules (`do_basic_checks`): at least one chunk, no zero-length chunk,
/// COOKIE ECHO and COOKIE ACK only first, INIT, INIT ACK and SHUTDOWN COMPLETE alone.
fn basic_checks(seg: &[u8]) -> Option<ChunkSet> {
    let mut set = ChunkSet::default();
    let mut alone = false;
    let mut count = 0;
    for c in sctp::chunks(seg) {
        alone |= matches!(
            c.kind,
            chunk::INIT | chunk::INIT_ACK | chunk::SHUTDOWN_COMPLETE
        );
        let must_be_first = alone || matches!(c.kind, chunk::COOKIE_ACK | chunk::COOKIE_ECHO);
        if (must_be_first && count != 0) || c.length == 0 {
            return None;
        }
        set.insert(c.kind);
        count += 1;
    }
    (count > 0).then_some(set)
}

/// What the tracker made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SctpOutcome {
    /// Accepted; refresh the timer for `new` unless `keep_timer`.
    Accepted {
        old: SctpState,
        new: SctpState,
        /// The state moved to ESTABLISHED: the entry becomes ASSURED.
        assure: bool,
        /// A retransmitted INIT or a HEARTBEAT with an unknown tag: let it through
        /// without renewing the timer.
        keep_timer: bool,
    },
    Invalid(&'static str),
}

/// Per-connection SCTP state (`struct ip_ct_sctp`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SctpConn {
    pub state: SctpState,
    /// The tag packets travelling in each direction must carry (0 = not learnt yet).
    pub vtag: [u32; 2],
    /// An INIT was seen from this direction since the last COOKIE ACK (collisions).
    pub init: [bool; 2],
    /// A HEARTBEAT came with an unknown tag: the peer may have restarted. A
    /// HEARTBEAT ACK from the other side with a new tag then replaces both tags.
    pub heartbeat_vtag_failed: bool,
    /// The direction of that HEARTBEAT.
    pub last_dir: Direction,
}

impl SctpConn {
    /// The entry a first packet opens (`sctp_new`), or why it cannot: every chunk
    /// must be able to open one from NONE, and the tag to expect back is learnt from
    /// the INIT's initiate tag, a HEARTBEAT's own tag, or any other chunk's tag.
    pub fn new(seg: &[u8], vtag: u32) -> Result<SctpConn, &'static str> {
        let mut conn = SctpConn {
            state: NO,
            vtag: [0; 2],
            init: [false; 2],
            heartbeat_vtag_failed: false,
            last_dir: Direction::Original,
        };
        for c in sctp::chunks(seg) {
            if !matches!(NO.next(Direction::Original, c.kind), Some(s) if s != NO) {
                return Err("invalid new");
            }
            match c.kind {
                chunk::INIT => {
                    if vtag != 0 {
                        return Err("invalid new: INIT with a non-zero tag");
                    }
                    conn.vtag[1] = sctp::init_tag(seg, &c).ok_or("truncated INIT")?;
                }
                chunk::HEARTBEAT => conn.vtag[0] = vtag,
                _ => conn.vtag[1] = vtag,
            }
        }
        Ok(conn)
    }

    /// One packet whose chunks passed [`check_chunks`] (`nf_conntrack_sctp_packet`).
    /// `vtag` is the common header's tag, `confirmed` false for the packet that
    /// opened the entry.
    pub fn packet(
        &mut self,
        seg: &[u8],
        vtag: u32,
        dir: Direction,
        set: &ChunkSet,
        confirmed: bool,
    ) -> SctpOutcome {
        let d = dir.index();
        // Sec 8.5: chunks with their own tag rules are checked one by one below.
        let own_rules = [
            chunk::INIT,
            chunk::SHUTDOWN_COMPLETE,
            chunk::COOKIE_ECHO,
            chunk::ABORT,
            chunk::SHUTDOWN_ACK,
            chunk::HEARTBEAT,
            chunk::HEARTBEAT_ACK,
        ];
        if !own_rules.iter().any(|&k| set.has(k)) && vtag != self.vtag[d] {
            return SctpOutcome::Invalid("verification tag check failed");
        }
        let (mut old, mut new) = (NO, NO);
        let mut keep_timer = false;
        let mut assure = false;
        for c in sctp::chunks(seg) {
            match self.tag_rules(&c, vtag, dir, set) {
                TagCheck::Pass => {}
                TagCheck::Skip => {
                    keep_timer = true;
                    continue;
                }
                TagCheck::Fail(reason) => return SctpOutcome::Invalid(reason),
            }
            old = self.state;
            let Some(next) = old.next(dir, c.kind) else {
                return SctpOutcome::Invalid("invalid state transition");
            };
            new = next;
            match c.kind {
                chunk::INIT => {
                    let Some(tag) = sctp::init_tag(seg, &c) else {
                        return SctpOutcome::Invalid("truncated INIT");
                    };
                    if self.init[d] && self.init[1 - d] {
                        self.init[1 - d] = false;
                    }
                    self.init[d] = true;
                    self.vtag[1 - d] = tag;
                    // A retransmitted INIT must not keep a stale entry alive.
                    keep_timer |= new == CL && old == CL && confirmed;
                }
                chunk::INIT_ACK => {
                    let Some(tag) = sctp::init_tag(seg, &c) else {
                        return SctpOutcome::Invalid("truncated INIT ACK");
                    };
                    let known = self.vtag[1 - d];
                    if !self.init[1 - d] && known != 0 && known != tag {
                        return SctpOutcome::Invalid("INIT ACK with another tag");
                    }
                    if self.init[d] && self.init[1 - d] && known != tag {
                        return SctpOutcome::Invalid("INIT ACK with another tag (collision)");
                    }
                    self.vtag[1 - d] = tag;
                }
                _ => {}
            }
            self.state = new;
            if old != new && new == ES {
                assure = true;
            }
        }
        SctpOutcome::Accepted {
            old,
            new,
            assure,
            keep_timer,
        }
    }

    /// The per-chunk tag rules (RFC 9260 8.5.1) and the tag learning of HEARTBEAT
    /// and HEARTBEAT ACK. A HEARTBEAT ACK after a skipped HEARTBEAT of the same
    /// packet always fails: that HEARTBEAT set `last_dir` to this direction.
    fn tag_rules(
        &mut self,
        c: &sctp::Chunk,
        vtag: u32,
        dir: Direction,
        set: &ChunkSet,
    ) -> TagCheck {
        let d = dir.index();
        let t_bit = c.flags & chunk::FLAG_T != 0;
        match c.kind {
            // (A) an INIT carries tag 0: the sender knows no tag yet.
            chunk::INIT if vtag != 0 => TagCheck::Fail("INIT with a non-zero tag"),
            // (B), (C) the receiver's tag, or with the T bit the sender's own.
            chunk::ABORT | chunk::SHUTDOWN_COMPLETE => {
                let want = if t_bit {
                    self.vtag[1 - d]
                } else {
                    self.vtag[d]
                };
                if vtag == want {
                    TagCheck::Pass
                } else {
                    TagCheck::Fail("verification tag check failed")
                }
            }
            // (D) the tag of the INIT ACK.
            chunk::COOKIE_ECHO if vtag != self.vtag[d] => {
                TagCheck::Fail("verification tag check failed")
            }
            chunk::COOKIE_ACK => {
                self.init = [false; 2];
                TagCheck::Pass
            }
            chunk::HEARTBEAT | chunk::HEARTBEAT_ACK => {
                if self.vtag[d] == 0 {
                    self.vtag[d] = vtag;
                } else if vtag != self.vtag[d] {
                    // Linux 6.18 lets several such HEARTBEATs through in one packet
                    // (recorded); with DATA bundled the tag must be right.
                    if set.has(chunk::DATA) {
                        return TagCheck::Fail("verification tag check failed");
                    }
                    if c.kind == chunk::HEARTBEAT {
                        // Perhaps a restarted peer: wait for its HEARTBEAT ACK.
                        self.heartbeat_vtag_failed = true;
                        self.last_dir = dir;
                        return TagCheck::Skip;
                    }
                    if !self.heartbeat_vtag_failed || self.last_dir == dir {
                        return TagCheck::Fail("verification tag check failed");
                    }
                    // The other side answered with a new tag: adopt it, forget ours.
                    self.heartbeat_vtag_failed = false;
                    self.vtag[d] = vtag;
                    self.vtag[1 - d] = 0;
                } else {
                    self.heartbeat_vtag_failed = false;
                }
                TagCheck::Pass
            }
            _ => TagCheck::Pass,
        }
    }
}

/// The outcome of [`SctpConn::tag_rules`] for one chunk.
enum TagCheck {
    Pass,
    /// Accept the packet but skip this chunk and keep the timer.
    Skip,
    Fail(&'static str),
}

/// The checks before any state is touched: the bundling rules and, for a packet
/// that would open an entry, no ABORT, SHUTDOWN COMPLETE or COOKIE ACK (an
/// out-of-the-blue packet with those is discarded, Sec 8.4).
pub fn check_chunks(seg: &[u8], is_new: bool) -> Result<ChunkSet, &'static str> {
    let set = basic_checks(seg).ok_or("bad chunk bundling")?;
    let ootb = [chunk::ABORT, chunk::SHUTDOWN_COMPLETE, chunk::COOKIE_ACK];
    if is_new && ootb.iter().any(|&k| set.has(k)) {
        return Err("invalid new: out of the blue");
    }
    Ok(set)
}
