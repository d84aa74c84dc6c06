//! The options of an iptables command line, and how a `--name` is resolved.
//!
//! iptables uses `getopt_long` over its own options plus those of every match and
//! target loaded so far (newest first). So a long option may be abbreviated to any
//! unambiguous prefix (`--dp 80`), and `--name=value` works too. An option nobody
//! knows makes iptables load the match named after `-p` (`-p tcp --dport 80` loads
//! `-m tcp` at that point) — once.

use crate::rules::matches::OptSpec;

/// iptables' own options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Append,
    Insert,
    Delete,
    Replace,
    Flush,
    Zero,
    DeleteChain,
    RenameChain,
    NewChain,
    Policy,
    Source,
    Destination,
    InIface,
    OutIface,
    Protocol,
    Jump,
    Goto,
    Match,
    Fragment,
    SetCounters,
    Table,
    /// A real iptables option wasmwall's rule files do not support.
    Unsupported,
}

/// (long name, short letter, option, argument count, may be negated).
const BUILTINS: &[(&str, char, Builtin, u8, bool)] = &[
    ("append", 'A', Builtin::Append, 1, false),
    ("insert", 'I', Builtin::Insert, 1, false),
    ("new-chain", 'N', Builtin::NewChain, 1, false),
    ("policy", 'P', Builtin::Policy, 1, false),
    ("source", 's', Builtin::Source, 1, true),
    ("src", 's', Builtin::Source, 1, true),
    ("destination", 'd', Builtin::Destination, 1, true),
    ("dst", 'd', Builtin::Destination, 1, true),
    ("in-interface", 'i', Builtin::InIface, 1, true),
    ("out-interface", 'o', Builtin::OutIface, 1, true),
    ("protocol", 'p', Builtin::Protocol, 1, true),
    ("jump", 'j', Builtin::Jump, 1, false),
    ("goto", 'g', Builtin::Goto, 1, false),
    ("match", 'm', Builtin::Match, 1, false),
    ("fragment", 'f', Builtin::Fragment, 0, true),
    ("set-counters", 'c', Builtin::SetCounters, 2, false),
    ("table", 't', Builtin::Table, 1, false),
    ("delete", 'D', Builtin::Delete, 1, false),
    ("replace", 'R', Builtin::Replace, 1, false),
    ("check", 'C', Builtin::Unsupported, 0, false),
    ("list", 'L', Builtin::Unsupported, 0, false),
    ("list-rules", 'S', Builtin::Unsupported, 0, false),
    ("flush", 'F', Builtin::Flush, 0, false),
    ("zero", 'Z', Builtin::Zero, 0, false),
    ("delete-chain", 'X', Builtin::DeleteChain, 0, false),
    ("rename-chain", 'E', Builtin::RenameChain, 1, false),
    ("numeric", 'n', Builtin::Unsupported, 0, false),
    ("verbose", 'v', Builtin::Unsupported, 0, false),
    ("exact", 'x', Builtin::Unsupported, 0, false),
    ("wait", 'w', Builtin::Unsupported, 0, false),
    ("ipv4", '4', Builtin::Unsupported, 0, false),
    ("ipv6", '6', Builtin::Unsupported, 0, false),
    ("line-numbers", '\0', Builtin::Unsupported, 0, false),
    ("modprobe", '\0', Builtin::Unsupported, 0, false),
];

/// A resolved option: iptables' own, or one of a loaded extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opt {
    Builtin {
        which: Builtin,
        long: &'static str,
        args: u8,
        invert: bool,
    },
    /// `ext` indexes the loaded extensions (matches and the target, in load order).
    Ext { ext: usize, spec: &'static OptSpec },
}

impl Opt {
    pub fn args(&self) -> u8 {
        match self {
            Opt::Builtin { args, .. } => *args,
            Opt::Ext { spec, .. } => spec.args,
        }
    }
    pub fn invertible(&self) -> bool {
        match self {
            Opt::Builtin { invert, .. } => *invert,
            Opt::Ext { spec, .. } => spec.invert,
        }
    }
    pub fn long(&self) -> &'static str {
        match self {
            Opt::Builtin { long, .. } => long,
            Opt::Ext { spec, .. } => spec.long,
        }
    }
    /// Two entries are the same option (`--src` and `--source`).
    fn same(&self, other: &Opt) -> bool {
        match (self, other) {
            (Opt::Builtin { which: a, .. }, Opt::Builtin { which: b, .. }) => {
                a == b && *a != Builtin::Unsupported
            }
            (Opt::Ext { ext: a, spec: s }, Opt::Ext { ext: b, spec: t }) => a == b && s.id == t.id,
            _ => false,
        }
    }
}

fn builtin(entry: &(&'static str, char, Builtin, u8, bool)) -> Opt {
    let &(long, _, which, args, invert) = entry;
    Opt::Builtin {
        which,
        long,
        args,
        invert,
    }
}

/// Looks up `-x`.
pub(crate) fn short(letter: char) -> Option<Opt> {
    BUILTINS
        .iter()
        .find(|e| e.1 == letter && letter != '\0')
        .map(builtin)
}

/// Why a long option could not be resolved.
pub(crate) enum LookupError {
    Unknown,
    Ambiguous(Vec<&'static str>),
}

/// Looks up `--name` among the builtins and `exts` (each extension's option table,
/// in load order): an exact name first (builtins, then the newest extension), else
/// a unique prefix.
pub(crate) fn long(name: &str, exts: &[&'static [OptSpec]]) -> Result<Opt, LookupError> {
    let ext_opts = || {
        exts.iter()
            .enumerate()
            .rev()
            .flat_map(|(ext, specs)| specs.iter().map(move |spec| Opt::Ext { ext, spec }))
    };
    let all = || BUILTINS.iter().map(builtin).chain(ext_opts());
    if let Some(o) = all().find(|o| o.long() == name) {
        return Ok(o);
    }
    let mut hits: Vec<Opt> = Vec::new();
    for o in all().filter(|o| !name.is_empty() && o.long().starts_with(name)) {
        if !hits.iter().any(|h| h.same(&o)) {
            hits.push(o);
        }
    }
    match hits.len() {
        0 => Err(LookupError::Unknown),
        1 => Ok(hits[0]),
        _ => Err(LookupError::Ambiguous(hits.iter().map(Opt::long).collect())),
    }
}
