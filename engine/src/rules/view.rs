//! What the matches see of a packet: the IP header fields, the transport bytes at
//! `thoff` (as `skb_header_pointer` would read them) and the conntrack state.

use super::matches::RecentLists;
use super::PacketContext;
use crate::conntrack::entry::Entry;
use crate::conntrack::{ctinfo::CtState, tuple::Direction};
use std::cell::RefCell;

pub(crate) struct View<'a> {
    pub ctx: &'a PacketContext<'a>,
    /// Fragment offset in 8-byte units (`par->fragoff`); transport matches skip
    /// packets with a non-zero offset, as there is no transport header to read.
    pub fragoff: u16,
    /// The transport-layer bytes, up to the IP total length.
    pub l4: &'a [u8],
    /// The packet's conntrack state (in the raw table it changes after NOTRACK / CT).
    pub ctstate: CtState,
    /// The packet mark (`skb->mark`): `-j MARK` changes it for the rules after it.
    pub mark: u32,
    /// The connection's mark (`ct->mark`), when a connection is attached: `-j
    /// CONNMARK` changes it for the rules after it.
    pub ctmark: Option<u32>,
    /// The rule set's `-m recent` lists (None outside a rule set's walk).
    pub recent: Option<&'a RefCell<RecentLists>>,
}

impl<'a> View<'a> {
    pub fn new(ctx: &'a PacketContext<'a>) -> View<'a> {
        let ip = &ctx.packet.ip;
        let end = (ip.total_len as usize).min(ctx.bytes.len());
        let start = (ip.header_len as usize).min(end);
        let mut view = View {
            ctx,
            fragoff: ip.fragment_offset,
            l4: &ctx.bytes[start..end],
            ctstate: ctx.ctstate,
            mark: ctx.mark,
            ctmark: None,
            recent: None,
        };
        view.ctmark = view.entry().map(|e| e.mark);
        view
    }

    /// `len` transport bytes from `offset`, if the packet has them.
    pub fn l4_bytes(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        self.l4.get(offset..offset.checked_add(len)?)
    }

    /// A big-endian u16 of the transport header.
    pub fn l4_u16(&self, offset: usize) -> Option<u16> {
        self.l4_bytes(offset, 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Whether a connection is attached (`nf_ct_get` returns one): NEW, ESTABLISHED
    /// or RELATED. INVALID and UNTRACKED packets have none.
    pub fn has_ct(&self) -> bool {
        matches!(
            self.ctstate,
            CtState::New | CtState::Established | CtState::Related
        )
    }

    pub fn entry(&self) -> Option<&'a Entry> {
        if self.has_ct() {
            self.ctx.ct
        } else {
            None
        }
    }

    pub fn direction(&self) -> Direction {
        self.ctx.ct_dir.unwrap_or(Direction::Original)
    }
}
