//! `-m helper [!] --helper NAME`: the packet's connection was expected by a helper
//! called NAME (`helper_mt`). The test is on the connection's *master*: an FTP data
//! connection (RELATED, then ESTABLISHED) matches `--helper ftp`, the control
//! connection itself, whose helper is ftp, does not. A packet without a connection,
//! or whose connection has no master, gives the inverse of the match (so it matches
//! `! --helper ftp`).
//!
//! As in the kernel, only the first `strlen(helper's name)` characters of NAME are
//! compared: `--helper ftp-21` matches ftp. An empty NAME matches any helper. The
//! only helper that expects connections here is ftp.

use super::comment::save_string;
use super::{OptSpec, Outcome};
use crate::rules::view::View;

pub(crate) const HELPER_OPTS: &[OptSpec] = &[OptSpec::new("helper", 1, 1, true)];

/// `sizeof(xt_helper_info.name) - 1`: iptables silently cuts longer names, so they
/// are refused here.
const MAX_NAME: usize = 29;

/// The name of the helper that expects every expected connection of the engine.
const FTP: &str = "ftp";

/// The `helper` match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperMatch {
    pub name: String,
    pub invert: bool,
}

impl HelperMatch {
    pub(crate) fn parse(name: &str, invert: bool) -> Result<HelperMatch, String> {
        if name.len() > MAX_NAME {
            return Err(format!(
                "helper: the name may be at most {MAX_NAME} characters (iptables would cut it)"
            ));
        }
        Ok(HelperMatch {
            name: name.to_string(),
            invert,
        })
    }

    pub(crate) fn eval(&self, v: &View) -> Outcome {
        let expected = v.entry().is_some_and(|e| e.master.is_some());
        let matched =
            expected && (self.name.is_empty() || self.name.as_bytes().starts_with(FTP.as_bytes()));
        Outcome::from(matched != self.invert)
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m helper");
        if self.invert {
            out.push_str(" !");
        }
        out.push_str(" --helper");
        save_string(&self.name, out);
    }

    /// `iptables -L`: ` helper match "ftp"` (`! "ftp"` inverted).
    pub(crate) fn list(&self, out: &mut String) {
        let not = if self.invert { "! " } else { "" };
        out.push_str(&format!(" helper match {not}\"{}\"", self.name));
    }
}
