//! `iptables -L`: the rules as a table, in the exact layout of iptables 1.8.9
//! (nf_tables backend), checked against its output in a scratch namespace.
//!
//! ```text
//! Chain FORWARD (policy DROP 3 packets, 180 bytes)
//!     pkts      bytes target     prot opt in     out     source               destination
//!        5      300 ACCEPT     6    --  lan    *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22
//! ```
//!
//! * `-v` adds the counters and the `in`/`out` columns; without `-x` the counters
//!   are abbreviated (`100K`, `988M`: rounded to the nearest thousand each step).
//! * `-n` prints addresses, ports and protocols as numbers (iptables 1.8.9 prints
//!   the protocol *number* then, `0` for "all"). Without it, `0.0.0.0/0` is
//!   `anywhere`, protocols and ports get their `/etc/protocols` and
//!   `/etc/services` names; host names are never looked up (addresses stay
//!   numeric, as iptables prints them when the lookup fails).
//! * Built-in chains show their policy and its counters; user chains show how many
//!   rules jump (or go) to them.

use super::addr::Net;
use super::iface::Iface;
use super::rule::{Neg, Rule};
use super::table::Table;
use super::target::Target;
use std::fmt::Write;

/// The options of `iptables -L` that change the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListFormat {
    /// `-v`: counters and interfaces.
    pub verbose: bool,
    /// `-n`: numbers instead of names.
    pub numeric: bool,
    /// `-x`: exact counters (no K/M/G).
    pub exact: bool,
    /// `--line-numbers`.
    pub line_numbers: bool,
}

/// `xtables_print_num`: a counter in its column (`table`) or inline.
fn num(out: &mut String, n: u64, f: &ListFormat, table: bool) {
    if f.exact {
        if table {
            let _ = write!(out, "{n:>8} ");
        } else {
            let _ = write!(out, "{n} ");
        }
        return;
    }
    if n <= 99_999 {
        if table {
            let _ = write!(out, "{n:>5} ");
        } else {
            let _ = write!(out, "{n} ");
        }
        return;
    }
    let mut n = n;
    for unit in ['K', 'M', 'G'] {
        n = (n + 500) / 1000;
        if n <= 9999 {
            if table {
                let _ = write!(out, "{n:>4}{unit} ");
            } else {
                let _ = write!(out, "{n}{unit} ");
            }
            return;
        }
    }
    n = (n + 500) / 1000;
    if table {
        let _ = write!(out, "{n:>4}T ");
    } else {
        let _ = write!(out, "{n}T ");
    }
}

/// `print_header`.
fn header(out: &mut String, table: &Table, ci: usize, f: &ListFormat) {
    let c = &table.chains[ci];
    let _ = write!(out, "Chain {}", c.name);
    match c.policy {
        Some(p) => {
            let _ = write!(out, " (policy {}", p.name());
            if f.verbose {
                out.push(' ');
                num(out, c.packets, f, false);
                out.push_str("packets, ");
                num(out, c.bytes, f, false);
                out.push_str("bytes");
            }
            out.push_str(")\n");
        }
        None => {
            let _ = writeln!(out, " ({} references)", references(table, ci));
        }
    }
    if f.line_numbers {
        let _ = write!(out, "{:<4} ", "num");
    }
    if f.verbose {
        if f.exact {
            let _ = write!(out, "{:>8} {:>10} ", "pkts", "bytes");
        } else {
            let _ = write!(out, "{:>5} {:>5} ", "pkts", "bytes");
        }
    }
    let _ = write!(out, "{:<9} ", "target");
    out.push_str(" prot ");
    out.push_str("opt");
    if f.verbose {
        let _ = write!(out, " {:<6} {:<6} ", "in", "out");
    }
    let _ = write!(out, " {:<19} ", "source");
    let _ = writeln!(out, " {:<19} ", "destination");
}

/// Rules anywhere in the table that jump or go to chain `ci`.
fn references(table: &Table, ci: usize) -> usize {
    table
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .filter(|r| matches!(&r.target, Target::Jump(t) | Target::Goto(t) if t.index == ci))
        .count()
}

fn iface_text(i: &Option<Neg<Iface>>, f: &ListFormat) -> String {
    match i {
        Some(n) => format!("{}{}", if n.invert { "!" } else { "" }, n.value.as_str()),
        None if f.numeric => "*".into(),
        None => "any".into(),
    }
}

/// `print_ipv4_addresses` for one side: `!` or a blank, then the padded address.
fn addr_text(out: &mut String, n: &Option<Neg<Net>>, f: &ListFormat) {
    let invert = n.as_ref().is_some_and(|n| n.invert);
    out.push(if invert { '!' } else { ' ' });
    let text = match n {
        None if !f.numeric => "anywhere".to_string(),
        None => "0.0.0.0/0".to_string(),
        Some(n) => {
            let m = u32::from(n.value.mask);
            if m == u32::MAX {
                n.value.addr.to_string()
            } else {
                n.value.to_save()
            }
        }
    };
    let _ = write!(out, "{text:<19} ");
}

/// One rule line (`print_rule_details`, `print_fragment`, `print_ifaces`,
/// `print_ipv4_addresses`, then the matches and the target).
fn rule_line(out: &mut String, r: &Rule, index: usize, f: &ListFormat) {
    if f.line_numbers {
        let _ = write!(out, "{index:<4} ");
    }
    if f.verbose {
        num(out, r.packets, f, true);
        num(out, r.bytes, f, true);
    }
    let _ = write!(out, "{:<9} ", r.target.list_name());
    let (proto, pinv) =
        r.ip.proto
            .as_ref()
            .map_or((0, false), |p| (p.value, p.invert));
    out.push(if pinv { '!' } else { ' ' });
    let pname = if f.numeric {
        proto.to_string()
    } else if proto == 0 {
        "all".to_string()
    } else {
        super::proto::name(proto)
    };
    let _ = write!(out, "{pname:<4} ");
    match r.ip.fragment {
        None => out.push_str("-- "),
        Some(false) => out.push_str("-f "),
        Some(true) => out.push_str("!f "),
    }
    if f.verbose {
        let _ = write!(
            out,
            " {:<6} {:<6} ",
            iface_text(&r.ip.in_iface, f),
            iface_text(&r.ip.out_iface, f)
        );
    }
    addr_text(out, &r.ip.src, f);
    addr_text(out, &r.ip.dst, f);
    if matches!(r.target, Target::Goto(_)) {
        out.push_str("[goto] ");
    }
    for m in r.shown_matches() {
        m.list(out, f.numeric, proto);
    }
    r.target.list(out, f.numeric);
    out.push('\n');
}

/// The whole table, chains in iptables' order, separated by blank lines.
pub(crate) fn list_table(table: &Table, f: &ListFormat) -> String {
    let mut out = String::new();
    for (n, ci) in table.save_order().into_iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        header(&mut out, table, ci, f);
        for (i, r) in table.chains[ci].rules.iter().enumerate() {
            rule_line(&mut out, r, i + 1, f);
        }
    }
    out
}

/// One chain (`iptables -L CHAIN`), or None if the table has no such chain.
pub(crate) fn list_chain(table: &Table, chain: &str, f: &ListFormat) -> Option<String> {
    let ci = table.index_of(chain)?;
    let mut out = String::new();
    header(&mut out, table, ci, f);
    for (i, r) in table.chains[ci].rules.iter().enumerate() {
        rule_line(&mut out, r, i + 1, f);
    }
    Some(out)
}
