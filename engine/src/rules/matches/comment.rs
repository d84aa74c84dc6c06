//! `-m comment --comment TEXT`: always matches; the text is only kept and printed.
//! iptables-save quotes it unless it is made only of letters, digits, `_` and `-`
//! (`xtables_save_string`), escaping `"`, `\` and `'` with a backslash.

use super::OptSpec;

pub(crate) const COMMENT_OPTS: &[OptSpec] = &[OptSpec::new("comment", 1, 1, false)];

/// `XT_MAX_COMMENT_LEN` is 256 bytes including the terminating NUL.
pub(crate) fn check(text: &str) -> Result<(), String> {
    if text.len() > 255 {
        return Err("comment may not exceed 255 characters".into());
    }
    if text.contains('\0') {
        return Err("comment may not contain a NUL character".into());
    }
    Ok(())
}

pub(crate) fn save(text: &str, out: &mut String) {
    out.push_str(" -m comment --comment");
    save_string(text, out);
}

/// `xtables_save_string`.
pub(crate) fn save_string(value: &str, out: &mut String) {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    out.push(' ');
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_like_iptables_save() {
        let s = |t: &str| {
            let mut o = String::new();
            save(t, &mut o);
            o
        };
        assert_eq!(s("hello"), " -m comment --comment hello");
        assert_eq!(s("hello world"), " -m comment --comment \"hello world\"");
        assert_eq!(s("a.b"), " -m comment --comment \"a.b\"");
        assert_eq!(s(""), " -m comment --comment \"\"");
        assert_eq!(
            s("a \"b\" c's"),
            " -m comment --comment \"a \\\"b\\\" c\\'s\""
        );
        assert!(check(&"x".repeat(256)).is_err());
    }
}
