//! Interface names for `-i` / `-o`. A trailing `+` is a wildcard: `lan+` matches every
//! interface whose name starts with `lan`, and `+` alone matches any interface.
//! Names must be shorter than IFNAMSIZ (16 bytes with the terminating NUL).

/// An interface pattern, kept as written (iptables-save prints it unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface(String);

impl Iface {
    pub(crate) fn parse(arg: &str) -> Result<Iface, String> {
        if arg.len() + 1 > 16 {
            return Err(format!(
                "interface name `{arg}' must be shorter than IFNAMSIZ (15)"
            ));
        }
        if arg.is_empty() {
            return Err("empty interface name".into());
        }
        // `!' alone is iptables' (deprecated) inversion, which needs a name after it;
        // a name with blanks (possible with quotes) could not be saved and read back.
        if arg == "!" {
            return Err("no argument following `!'".into());
        }
        if arg.contains(char::is_whitespace) {
            return Err(format!("interface name `{arg}' contains blanks"));
        }
        Ok(Iface(arg.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a packet on `dev` (None: no such device at this hook) matches.
    pub fn matches(&self, dev: Option<&str>) -> bool {
        let dev = dev.unwrap_or("");
        match self.0.strip_suffix('+') {
            Some(prefix) => dev.starts_with(prefix),
            None => dev == self.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_exact_names() {
        let lan = Iface::parse("lan").unwrap();
        assert!(lan.matches(Some("lan")) && !lan.matches(Some("lan0")) && !lan.matches(None));
        let any_lan = Iface::parse("lan+").unwrap();
        assert!(any_lan.matches(Some("lan0")) && any_lan.matches(Some("lan")));
        assert!(!any_lan.matches(Some("wan")));
        assert!(Iface::parse("+").unwrap().matches(Some("wan")));
        assert!(Iface::parse("abcdefghijklmno").is_ok());
        assert!(Iface::parse("abcdefghijklmnop").is_err());
    }
}
