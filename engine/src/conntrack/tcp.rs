//! TCP connection tracking: the kernel's state table and window tracking.
//!
//! This follows `net/netfilter/nf_conntrack_proto_tcp.c` (Linux 6.x) step for step.
//! A packet is classified (SYN, SYN-ACK, FIN, ACK, RST, none), the class and the
//! direction pick the new state from [`TRANSITIONS`], special cases handle reopening,
//! ignored packets and RSTs, then [`TcpConn::in_window`] checks the sequence numbers
//! against what each side has seen (van Rooij's "Real Stateful TCP Packet Filtering").

use super::reason::Reason;
use super::settings::Settings;
use super::tuple::Direction;
use crate::wire::{tcp_flags, TcpInfo};

/// The kernel's TCP conntrack states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TcpState {
    None = 0,
    SynSent = 1,
    SynRecv = 2,
    Established = 3,
    FinWait = 4,
    CloseWait = 5,
    LastAck = 6,
    TimeWait = 7,
    Close = 8,
    SynSent2 = 9,
}

impl TcpState {
    /// The name `/proc/net/nf_conntrack` prints.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    /// The state's timeout setting.
    pub fn timeout_secs(self, s: &Settings) -> u32 {
        match self {
            TcpState::None => 0,
            TcpState::SynSent | TcpState::SynSent2 => s.tcp_timeout_syn_sent,
            TcpState::SynRecv => s.tcp_timeout_syn_recv,
            TcpState::Established => s.tcp_timeout_established,
            TcpState::FinWait => s.tcp_timeout_fin_wait,
            TcpState::CloseWait => s.tcp_timeout_close_wait,
            TcpState::LastAck => s.tcp_timeout_last_ack,
            TcpState::TimeWait => s.tcp_timeout_time_wait,
            TcpState::Close => s.tcp_timeout_close,
        }
    }

    /// Closing states, from which the GC may early-drop even ASSURED entries.
    pub fn is_closing(self) -> bool {
        matches!(
            self,
            TcpState::FinWait
                | TcpState::CloseWait
                | TcpState::LastAck
                | TcpState::TimeWait
                | TcpState::Close
        )
    }
}

/// The packet classes that index the state table (`get_conntrack_index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PacketClass {
    Syn = 0,
    SynAck = 1,
    Fin = 2,
    Ack = 3,
    Rst = 4,
    None = 5,
}

impl PacketClass {
    /// RST wins over everything, then SYN (SYN-ACK with ACK), then FIN, then ACK.
    pub fn of(flags: u8) -> PacketClass {
        use tcp_flags::*;
        if flags & RST != 0 {
            PacketClass::Rst
        } else if flags & SYN != 0 {
            if flags & ACK != 0 {
                PacketClass::SynAck
            } else {
                PacketClass::Syn
            }
        } else if flags & FIN != 0 {
            PacketClass::Fin
        } else if flags & ACK != 0 {
            PacketClass::Ack
        } else {
            PacketClass::None
        }
    }
}

/// A cell of the state table: a new state, "invalid", or "ignore".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    To(TcpState),
    Iv,
    Ig,
}

/// The largest window-scale shift (RFC 7323); a stored scale is never trusted beyond it.
const MAX_WSCALE: u8 = 14;

use Next::{Ig as IG, Iv as IV};
const NO: Next = Next::To(TcpState::None);
const SS: Next = Next::To(TcpState::SynSent);
const SR: Next = Next::To(TcpState::SynRecv);
const ES: Next = Next::To(TcpState::Established);
const FW: Next = Next::To(TcpState::FinWait);
const CW: Next = Next::To(TcpState::CloseWait);
const LA: Next = Next::To(TcpState::LastAck);
const TW: Next = Next::To(TcpState::TimeWait);
const CL: Next = Next::To(TcpState::Close);
const S2: Next = Next::To(TcpState::SynSent2);

/// `tcp_conntracks[direction][packet class][old state]`, columns in [`TcpState`] order:
/// NO SS SR ES FW CW LA TW CL S2.
#[rustfmt::skip]
const TRANSITIONS: [[[Next; 10]; 6]; 2] = [
    // ORIGINAL direction (from the connection's initiator)
    [
        /* syn    */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack    */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
    // REPLY direction
    [
        /* syn    */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack    */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
];

// `NO` only appears to document the table's shape.
const _: Next = NO;

fn lookup(dir: Direction, class: PacketClass, old: TcpState) -> Next {
    TRANSITIONS[dir.index()][class as usize][old as usize]
}

/// Per-direction flags (`IP_CT_TCP_FLAG_*`).
pub mod dir_flags {
    pub const WINDOW_SCALE: u8 = 0x01;
    pub const SACK_PERM: u8 = 0x02;
    pub const CLOSE_INIT: u8 = 0x04;
    pub const BE_LIBERAL: u8 = 0x08;
    pub const DATA_UNACKNOWLEDGED: u8 = 0x10;
    pub const MAXACK_SET: u8 = 0x20;
    /// In `last_flags`: a challenge ACK may follow an ignored SYN in LAST_ACK.
    pub const EXP_CHALLENGE_ACK: u8 = 0x40;
    /// In `last_flags`: the connection is a simultaneous open.
    pub const SIMULTANEOUS_OPEN: u8 = 0x80;
}

/// What one side has sent and what the other allows it to send (`ip_ct_tcp_state`).
///
/// Packed to 2-byte alignment (18 bytes instead of 20), so that a TCP entry's state
/// is 56 bytes: the fields are read and written by value, never borrowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(C, packed(2))]
pub struct Side {
    /// Highest sequence number sent, plus length (`td_end`).
    pub end: u32,
    /// Highest sequence number the peer allows (ack + window) (`td_maxend`).
    pub maxend: u32,
    /// Largest window seen, scaled (`td_maxwin`).
    pub maxwin: u32,
    /// Highest ack sent (`td_maxack`).
    pub maxack: u32,
    /// Window-scale shift (`td_scale`).
    pub scale: u8,
    /// [`dir_flags`].
    pub flags: u8,
}

impl Side {
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    /// Reads window scale and SACK-permitted from a SYN's options (`tcp_options`).
    /// A header without options leaves everything as it was; otherwise the scale and
    /// every flag but BE_LIBERAL are reset first.
    fn take_options(&mut self, tcp: &TcpInfo) {
        if tcp.header_len <= 20 {
            return;
        }
        self.scale = 0;
        self.flags &= dir_flags::BE_LIBERAL;
        if tcp.options.sack_permitted {
            self.flags |= dir_flags::SACK_PERM;
        }
        if let Some(ws) = tcp.options.wscale {
            self.scale = ws;
            self.flags |= dir_flags::WINDOW_SCALE;
        }
    }
}

/// The TCP part of a connection entry (`struct ip_ct_tcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TcpConn {
    pub state: TcpState,
    /// Indexed by [`Direction`].
    pub seen: [Side; 2],
    pub last_dir: Direction,
    pub last_index: PacketClass,
    pub last_seq: u32,
    pub last_ack: u32,
    pub last_end: u32,
    pub last_win: u16,
    pub last_wscale: u8,
    pub last_flags: u8,
    pub retrans: u8,
}

/// The result of window tracking (`enum nf_ct_tcp_action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowVerdict {
    Accept,
    /// Let the packet pass with its entry, but change nothing.
    Ignore(Reason),
    Invalid(Reason),
}

/// What the ignore path decided.
enum Ignore {
    Ignored(TcpOutcome),
    /// A SYN-ACK matched an ignored SYN: continue as SYN_SENT → SYN_RECV.
    Resync,
}

/// What the RST checks decided (the `TCP_CONNTRACK_CLOSE` case).
struct RstCheck {
    /// The RST does not match exactly: keep the state, wait for a challenge ACK.
    keep_state: bool,
    /// The RST answers something we let through: skip the window check.
    skip_window: bool,
}

/// What the tracker did with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOutcome {
    /// Accepted; refresh the entry to `timeout_secs` (unless `keep_timer`).
    Accepted {
        old: TcpState,
        new: TcpState,
        timeout_secs: u32,
        /// A retransmitted SYN does not refresh the timer.
        keep_timer: bool,
        /// Set ASSURED now.
        assure: bool,
        /// Delete the entry (an RST answering an unreplied connection).
        kill: bool,
    },
    /// Passed with the entry attached, nothing changed (`NF_ACCEPT` without update).
    Ignored { reason: Reason },
    /// The packet is INVALID (no entry attached). An out-of-window FIN/RST answering
    /// one from the other side cuts an ASSURED entry's timeout to `shrink_timeout_secs`.
    Invalid {
        reason: Reason,
        shrink_timeout_secs: Option<u32>,
    },
    /// A SYN reopening a closed connection: delete the entry and look up again.
    Reopen,
}

/// The flag combinations the kernel allows after masking ECE, CWR and PSH (`tcp_valid_flags`).
pub fn valid_flag_combination(flags: u8) -> bool {
    use tcp_flags::*;
    let f = flags & !(ECE | CWR | PSH);
    matches!(
        f,
        x if x == SYN || x == SYN | URG || x == SYN | ACK || x == RST || x == RST | ACK
            || x == FIN | ACK || x == FIN | ACK | URG || x == ACK || x == ACK | URG
    )
}

/// `seq + payload + SYN + FIN` (`segment_seq_plus_len`).
fn segment_end(tcp: &TcpInfo) -> u32 {
    tcp.seq
        .wrapping_add(u32::from(tcp.payload_len))
        .wrapping_add(u32::from(tcp.has(tcp_flags::SYN)))
        .wrapping_add(u32::from(tcp.has(tcp_flags::FIN)))
}

/// Sequence-space comparisons (`before()` / `after()`): a < b modulo 2^32.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// The window a delayed ACK may lag behind by (`MAXACKWINDOW`).
fn max_ack_window(sender: &Side) -> u32 {
    sender.maxwin.max(66_000)
}

impl TcpConn {
    /// The tracker for a connection's first packet (`tcp_new`), or `None` when such a
    /// packet may not create one: anything but SYN, or an ACK with `tcp_loose` off.
    pub fn new(tcp: &TcpInfo, settings: &Settings) -> Option<TcpConn> {
        let mut conn = TcpConn {
            state: TcpState::None,
            seen: [Side::default(); 2],
            last_dir: Direction::Original,
            last_index: PacketClass::None,
            last_seq: 0,
            last_ack: 0,
            last_end: 0,
            last_win: 0,
            last_wscale: 0,
            last_flags: 0,
            retrans: 0,
        };
        let class = PacketClass::of(tcp.flags);
        let end = segment_end(tcp);
        let s = &mut conn.seen[0];
        match lookup(Direction::Original, class, TcpState::None) {
            Next::To(TcpState::SynSent) => {
                s.end = end;
                s.maxwin = u32::from(tcp.window).max(1);
                s.maxend = end;
                s.take_options(tcp);
            }
            Next::To(_) if settings.tcp_loose => {
                // Mid-stream pickup: the history is lost, trust the packet and be liberal.
                s.end = end;
                s.maxwin = u32::from(tcp.window).max(1);
                s.maxend = end.wrapping_add(s.maxwin);
                conn.seen[0].flags = dir_flags::SACK_PERM | dir_flags::BE_LIBERAL;
                conn.seen[1].flags = dir_flags::SACK_PERM | dir_flags::BE_LIBERAL;
            }
            _ => return None,
        }
        Some(conn)
    }

    /// Tracks one packet (`nf_conntrack_tcp_packet` after `tcp_error`/`tcp_new`).
    /// `seen_reply` and `assured` are the entry's status before this packet.
    pub fn packet(
        &mut self,
        dir: Direction,
        tcp: &TcpInfo,
        seen_reply: bool,
        assured: bool,
        remaining_ms: u64,
        settings: &Settings,
    ) -> TcpOutcome {
        let old = self.state;
        let class = PacketClass::of(tcp.flags);
        let d = dir.index();
        let r = 1 - d;
        let mut new = match lookup(dir, class, old) {
            Next::To(s) => Some(s),
            Next::Iv => {
                return TcpOutcome::Invalid {
                    reason: Reason::TcpInvalid {
                        class,
                        dir,
                        state: old,
                    },
                    shrink_timeout_secs: None,
                }
            }
            Next::Ig => None,
        };
        let mut skip_window = false;

        if new == Some(TcpState::SynSent) && old >= TcpState::TimeWait {
            // A SYN in TIME_WAIT or CLOSE: reopen if the old connection was closed or aborted.
            let closing = (self.seen[d].flags | self.seen[r].flags) & dir_flags::CLOSE_INIT != 0;
            if closing || (self.last_dir == dir && self.last_index == PacketClass::Rst) {
                return TcpOutcome::Reopen;
            }
            new = None; // otherwise handled like an ignored packet
        }

        let (old, mut new) = match new {
            Some(new) => (old, new),
            None => match self.ignore(dir, class, old, tcp) {
                Ignore::Resync => (TcpState::SynSent, TcpState::SynRecv),
                Ignore::Ignored(outcome) => return outcome,
            },
        };

        match new {
            TcpState::TimeWait
                if old == TcpState::LastAck
                    && class == PacketClass::Ack
                    && self.last_dir != dir
                    && self.last_index == PacketClass::Syn
                    && self.last_flags & dir_flags::EXP_CHALLENGE_ACK != 0 =>
            {
                // RFC 5961: an ACK answering a spurious SYN does not ack the last FIN.
                self.last_flags &= !dir_flags::EXP_CHALLENGE_ACK;
                return TcpOutcome::Ignored {
                    reason: Reason::Text("challenge-ack ignored"),
                };
            }
            TcpState::SynSent2 => self.last_flags |= dir_flags::SIMULTANEOUS_OPEN,
            TcpState::SynRecv
                if dir == Direction::Reply
                    && class == PacketClass::Ack
                    && self.last_flags & dir_flags::SIMULTANEOUS_OPEN != 0 =>
            {
                new = TcpState::Established;
            }
            TcpState::Close if class == PacketClass::Rst => {
                let Some(check) = self.check_rst(dir, tcp, old, seen_reply, assured, settings)
                else {
                    return TcpOutcome::Invalid {
                        reason: Reason::Text("invalid rst"),
                        shrink_timeout_secs: None,
                    };
                };
                if check.keep_state {
                    new = old;
                }
                skip_window = check.skip_window;
            }
            _ => {}
        }

        if !skip_window {
            match self.in_window(dir, class, tcp, settings) {
                WindowVerdict::Accept => {}
                WindowVerdict::Ignore(reason) => return TcpOutcome::Ignored { reason },
                WindowVerdict::Invalid(reason) => {
                    let shrink_timeout_secs =
                        self.handle_invalid(dir, class, assured, remaining_ms, settings);
                    return TcpOutcome::Invalid {
                        reason,
                        shrink_timeout_secs,
                    };
                }
            }
        }

        // In-window from here on.
        self.last_index = class;
        self.last_dir = dir;
        self.state = new;
        if old != new && new == TcpState::FinWait {
            self.seen[d].flags |= dir_flags::CLOSE_INIT;
        }

        let state_timeout = new.timeout_secs(settings);
        let unacked =
            (self.seen[0].flags | self.seen[1].flags) & dir_flags::DATA_UNACKNOWLEDGED != 0;
        let mut timeout = if u32::from(self.retrans) >= settings.tcp_max_retrans
            && state_timeout > settings.tcp_timeout_max_retrans
        {
            settings.tcp_timeout_max_retrans
        } else if class == PacketClass::Rst {
            settings.tcp_timeout_close
        } else if unacked && state_timeout > settings.tcp_timeout_unacknowledged {
            settings.tcp_timeout_unacknowledged
        } else if self.last_win == 0 && state_timeout > settings.tcp_timeout_max_retrans {
            settings.tcp_timeout_max_retrans
        } else {
            state_timeout
        };

        let mut keep_timer = false;
        let mut assure = false;
        let mut kill = false;
        if !seen_reply {
            if tcp.has(tcp_flags::RST) {
                // The only answer was a RST: not a connection worth keeping.
                kill = true;
            } else if class == PacketClass::Syn && old == TcpState::SynSent {
                // A retransmitted SYN must not keep a stale entry alive.
                keep_timer = true;
            } else if new == TcpState::Established && timeout > settings.tcp_timeout_unacknowledged
            {
                // A picked-up connection gets no long ESTABLISHED timeout before a reply.
                timeout = settings.tcp_timeout_unacknowledged;
            }
        } else if !assured
            && matches!(old, TcpState::SynRecv | TcpState::Established)
            && new == TcpState::Established
        {
            assure = true;
        }
        TcpOutcome::Accepted {
            old,
            new,
            timeout_secs: timeout,
            keep_timer,
            assure,
            kill,
        }
    }

    /// An ignored packet: remember it so a later SYN-ACK can resync to it.
    fn ignore(
        &mut self,
        dir: Direction,
        class: PacketClass,
        old: TcpState,
        tcp: &TcpInfo,
    ) -> Ignore {
        if class == PacketClass::SynAck
            && self.last_index == PacketClass::Syn
            && self.last_dir != dir
            && tcp.ack == self.last_end
        {
            // This SYN-ACK acknowledges a SYN we ignored: client and server are in sync
            // and we are not. Resync from the values annotated then.
            let l = self.last_dir.index();
            self.seen[l].end = self.last_end;
            self.seen[l].maxend = self.last_end;
            self.seen[l].maxwin = u32::from(self.last_win).max(1);
            self.seen[l].scale = self.last_wscale;
            self.last_flags &= !dir_flags::EXP_CHALLENGE_ACK;
            self.seen[l].flags = self.last_flags;
            // `nf_ct_tcp_state_reset`: forget this side, except a liberal flag.
            let liberal = self.seen[dir.index()].flags & dir_flags::BE_LIBERAL;
            self.seen[dir.index()] = Side {
                flags: liberal,
                ..Side::default()
            };
            return Ignore::Resync;
        }
        self.last_index = class;
        self.last_dir = dir;
        self.last_seq = tcp.seq;
        self.last_end = segment_end(tcp);
        self.last_win = tcp.window;
        if class == PacketClass::Syn && dir == Direction::Original {
            let mut seen = Side::default();
            seen.take_options(tcp);
            self.last_flags = 0;
            self.last_wscale = 0;
            if seen.has(dir_flags::WINDOW_SCALE) {
                self.last_flags |= dir_flags::WINDOW_SCALE;
                self.last_wscale = seen.scale;
            }
            if seen.has(dir_flags::SACK_PERM) {
                self.last_flags |= dir_flags::SACK_PERM;
            }
            if old == TcpState::LastAck {
                self.last_flags |= dir_flags::EXP_CHALLENGE_ACK;
            }
        }
        if old == TcpState::SynSent && class == PacketClass::Ack && dir == Direction::Reply {
            // Possibly a challenge ACK answering the SYN.
            self.last_ack = tcp.ack;
        }
        Ignore::Ignored(TcpOutcome::Ignored {
            reason: Reason::TcpIgnored {
                class,
                dir,
                state: old,
            },
        })
    }
}

impl TcpConn {
    /// RST sanity checks. `None` means the RST is invalid.
    fn check_rst(
        &self,
        dir: Direction,
        tcp: &TcpInfo,
        old: TcpState,
        seen_reply: bool,
        assured: bool,
        settings: &Settings,
    ) -> Option<RstCheck> {
        let normal = RstCheck {
            keep_state: false,
            skip_window: false,
        };
        if old.is_closing() {
            // The tuple may already be reused; validation data is stale.
            return Some(RstCheck {
                keep_state: false,
                skip_window: true,
            });
        }
        let peer = &self.seen[dir.opposite().index()];
        let mut keep_state = false;
        if peer.has(dir_flags::MAXACK_SET) && self.last_index != PacketClass::Syn {
            let established = old == TcpState::Established && assured;
            if tcp.seq == 0 && !established {
                return Some(normal);
            }
            if before(tcp.seq, peer.maxack) && !settings.tcp_ignore_invalid_rst {
                return None;
            }
            if !established || tcp.seq == peer.maxack {
                return Some(normal);
            }
            if self.last_index == PacketClass::Ack
                && self.last_dir == dir
                && tcp.seq == self.last_end
            {
                // The RST ends a train of data from the same side.
                return Some(normal);
            }
            keep_state = true;
        }
        let answers_ignored = ((seen_reply && self.last_index == PacketClass::Syn)
            || (!assured && self.last_index == PacketClass::Ack))
            && tcp.ack == self.last_end;
        let answers_challenge = old == TcpState::SynSent
            && self.last_index == PacketClass::Ack
            && self.last_dir == Direction::Reply
            && tcp.seq == self.last_ack;
        Some(RstCheck {
            keep_state,
            skip_window: answers_ignored || answers_challenge,
        })
    }

    /// `nf_tcp_handle_invalid`: an ASSURED connection whose FIN/RST exchange went out
    /// of window is probably dead; shrink its timeout to the unacknowledged timeout.
    fn handle_invalid(
        &mut self,
        dir: Direction,
        class: PacketClass,
        assured: bool,
        remaining_ms: u64,
        settings: &Settings,
    ) -> Option<u32> {
        if !assured || !matches!(class, PacketClass::Rst | PacketClass::Fin) {
            return None;
        }
        if self.last_dir != dir && matches!(self.last_index, PacketClass::Fin | PacketClass::Rst) {
            let unack = settings.tcp_timeout_unacknowledged;
            if remaining_ms < 120_000 || remaining_ms <= u64::from(unack) * 1000 {
                return None;
            }
            Some(unack)
        } else {
            self.last_index = class;
            self.last_dir = dir;
            None
        }
    }

    /// Window tracking (`tcp_in_window`).
    pub fn in_window(
        &mut self,
        dir: Direction,
        class: PacketClass,
        tcp: &TcpInfo,
        settings: &Settings,
    ) -> WindowVerdict {
        let d = dir.index();
        let r = 1 - d;
        let syn = tcp.has(tcp_flags::SYN);
        let has_ack = tcp.has(tcp_flags::ACK);
        let mut seq = tcp.seq;
        let mut ack = tcp.ack;
        let win_raw = tcp.window;
        let mut win = u32::from(win_raw);
        let mut end = segment_end(tcp);
        let mut sack = ack;
        if self.seen[r].has(dir_flags::SACK_PERM) {
            for &(_, right) in tcp.options.sacks() {
                if after(right, sack) {
                    sack = right;
                }
            }
        }

        if self.seen[d].maxwin == 0 {
            if syn {
                // SYN-ACK in reply to a SYN, or a SYN from the reply side (simultaneous open).
                let (sender, receiver) = pair(&mut self.seen, d);
                sender.end = end;
                sender.maxend = end;
                sender.maxwin = win.max(1);
                sender.take_options(tcp);
                // Window scaling only when both SYNs carried the option (RFC 7323).
                if !(sender.has(dir_flags::WINDOW_SCALE) && receiver.has(dir_flags::WINDOW_SCALE)) {
                    sender.scale = 0;
                    receiver.scale = 0;
                }
                if !has_ack {
                    return WindowVerdict::Accept;
                }
            } else {
                // Mid-connection: trust what this packet says.
                let (sender, receiver) = pair(&mut self.seen, d);
                sender.end = end;
                let swin = win << sender.scale.min(MAX_WSCALE);
                sender.maxwin = swin.max(1);
                sender.maxend = end.wrapping_add(sender.maxwin);
                if receiver.maxwin == 0 {
                    // Nothing seen the other way yet: let checks III and IV pass.
                    receiver.end = sack;
                    receiver.maxend = sack;
                } else if sack == receiver.end.wrapping_add(1) {
                    // Likely a reply to a keep-alive.
                    receiver.end = receiver.end.wrapping_add(1);
                }
            }
        } else if syn
            && after(end, self.seen[d].end)
            && matches!(self.state, TcpState::SynSent | TcpState::SynRecv)
        {
            // A re-initialised SYN with a higher sequence number (RFC 793).
            let sender = &mut self.seen[d];
            sender.end = end;
            sender.maxend = end;
            sender.maxwin = win.max(1);
            sender.take_options(tcp);
        }

        if !has_ack || (tcp.has(tcp_flags::RST) && ack == 0) {
            // No ACK (or a broken stack's RST|ACK with ack 0): pretend it acks everything.
            ack = self.seen[r].end;
            sack = ack;
        }
        if tcp.has(tcp_flags::RST) && seq == 0 && self.state == TcpState::SynSent {
            // A RST answering a SYN.
            seq = self.seen[d].end;
            end = seq;
        }

        let liberal = settings.tcp_be_liberal || self.seen[d].has(dir_flags::BE_LIBERAL);
        let verdict = |v: WindowVerdict| if liberal { WindowVerdict::Accept } else { v };
        let (sender, receiver) = (self.seen[d], self.seen[r]);

        if !before(seq, sender.maxend.wrapping_add(1)) {
            let overshot = end.wrapping_sub(sender.maxend).wrapping_add(1);
            let ack_ok = after(
                sack,
                receiver
                    .end
                    .wrapping_sub(max_ack_window(&sender))
                    .wrapping_sub(1),
            );
            let in_recv_win = receiver.maxwin != 0
                && after(
                    end,
                    sender.end.wrapping_sub(receiver.maxwin).wrapping_sub(1),
                );
            if in_recv_win
                && ack_ok
                && overshot <= receiver.maxwin
                && before(sack, receiver.end.wrapping_add(1))
            {
                // Work around stacks that send more than the receive window allows:
                // note the data so that its ACK does not look like an ACK of unseen data.
                self.seen[d].end = end;
                self.seen[d].flags |= dir_flags::DATA_UNACKNOWLEDGED;
                return verdict(WindowVerdict::Ignore(Reason::OverWindow(overshot)));
            }
            return verdict(WindowVerdict::Invalid(Reason::SeqOverUpper(
                sender.maxend.wrapping_add(1),
            )));
        }
        if !before(sack, receiver.end.wrapping_add(1)) {
            return verdict(WindowVerdict::Invalid(Reason::AckOverUpper(
                receiver.end.wrapping_add(1),
            )));
        }
        let in_recv_win = receiver.maxwin == 0
            || after(
                end,
                sender.end.wrapping_sub(receiver.maxwin).wrapping_sub(1),
            );
        if !in_recv_win {
            return verdict(WindowVerdict::Ignore(Reason::SeqUnderLower(
                sender.end.wrapping_sub(receiver.maxwin).wrapping_sub(1),
            )));
        }
        let ack_floor = receiver
            .end
            .wrapping_sub(max_ack_window(&sender))
            .wrapping_sub(1);
        if !after(sack, ack_floor) {
            return verdict(WindowVerdict::Ignore(Reason::AckUnderLower(ack_floor)));
        }

        if !syn {
            win <<= sender.scale.min(MAX_WSCALE);
        }
        // Update the sender.
        let (sender, receiver) = pair(&mut self.seen, d);
        let swin = win.wrapping_add(sack.wrapping_sub(ack));
        if sender.maxwin < swin {
            sender.maxwin = swin;
        }
        if after(end, sender.end) {
            sender.end = end;
            sender.flags |= dir_flags::DATA_UNACKNOWLEDGED;
        }
        if has_ack {
            if !sender.has(dir_flags::MAXACK_SET) {
                sender.maxack = ack;
                sender.flags |= dir_flags::MAXACK_SET;
            } else if after(ack, sender.maxack) {
                sender.maxack = ack;
            }
        }
        // Update the receiver.
        if receiver.maxwin != 0 && after(end, sender.maxend) {
            receiver.maxwin = receiver
                .maxwin
                .wrapping_add(end.wrapping_sub(sender.maxend));
        }
        if after(sack.wrapping_add(win), receiver.maxend.wrapping_sub(1)) {
            receiver.maxend = sack.wrapping_add(win);
            if win == 0 {
                receiver.maxend = receiver.maxend.wrapping_add(1);
            }
        }
        if ack == receiver.end {
            receiver.flags &= !dir_flags::DATA_UNACKNOWLEDGED;
        }

        // Count retransmissions of the same ACK-class segment.
        if class == PacketClass::Ack {
            if self.last_dir == dir
                && self.last_seq == seq
                && self.last_ack == ack
                && self.last_end == end
                && self.last_win == win_raw
            {
                self.retrans = self.retrans.saturating_add(1);
            } else {
                self.last_dir = dir;
                self.last_seq = seq;
                self.last_ack = ack;
                self.last_end = end;
                self.last_win = win_raw;
                self.retrans = 0;
            }
        }
        WindowVerdict::Accept
    }
}

/// Mutable access to the sender (`d`) and the receiver (the other side).
fn pair(seen: &mut [Side; 2], d: usize) -> (&mut Side, &mut Side) {
    let (a, b) = seen.split_at_mut(1);
    if d == 0 {
        (&mut a[0], &mut b[0])
    } else {
        (&mut b[0], &mut a[0])
    }
}
