//! Splitting a rule line into arguments the way `iptables-restore` does
//! (`add_param_to_argv` in iptables' `xshared.c`).
//!
//! * Blanks (space, tab) separate arguments.
//! * A double quote starts a quoted part; inside it a backslash escapes the next
//!   character and a closing quote ends the argument (`"a b"c` is two arguments).
//! * `""` is an empty argument. Single quotes and backslashes outside double quotes
//!   are ordinary characters.

/// One argument of a rule line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    /// 1-based column (in characters) where the argument starts.
    pub column: usize,
    /// Whether any part of it was quoted (quoted arguments are never options).
    pub quoted: bool,
}

/// Splits `line`; `Err(column)` points at an unterminated quote.
pub(crate) fn split(line: &str) -> Result<Vec<Token>, usize> {
    let mut out = Vec::new();
    let mut cur: Option<Token> = None;
    let mut in_quote = false;
    let mut escaped = false;
    let mut quote_col = 0;
    for (i, ch) in line.chars().enumerate() {
        let col = i + 1;
        if in_quote {
            let tok = cur.get_or_insert_with(|| Token {
                text: String::new(),
                column: col,
                quoted: true,
            });
            if escaped {
                tok.text.push(ch);
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_quote = false;
                out.extend(cur.take());
            } else {
                tok.text.push(ch);
            }
            continue;
        }
        match ch {
            '"' => {
                in_quote = true;
                quote_col = col;
                let tok = cur.get_or_insert_with(|| Token {
                    text: String::new(),
                    column: col,
                    quoted: true,
                });
                tok.quoted = true;
            }
            ' ' | '\t' | '\r' | '\n' => out.extend(cur.take()),
            _ => cur
                .get_or_insert_with(|| Token {
                    text: String::new(),
                    column: col,
                    quoted: false,
                })
                .text
                .push(ch),
        }
    }
    if in_quote {
        return Err(quote_col);
    }
    out.extend(cur.take());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn splits_like_iptables_restore() {
        assert_eq!(
            texts("-A  FORWARD\t-j ACCEPT"),
            ["-A", "FORWARD", "-j", "ACCEPT"]
        );
        assert_eq!(
            texts(r#"--comment "a \"b\" c""#),
            ["--comment", r#"a "b" c"#]
        );
        assert_eq!(texts(r#"--comment """#), ["--comment", ""]);
        assert_eq!(texts(r#""a b"c"#), ["a b", "c"]);
        assert_eq!(texts("'ab cd'"), ["'ab", "cd'"]);
        let toks = split("-A FORWARD  -s 1.2.3.4").unwrap();
        assert_eq!(
            toks.iter().map(|t| t.column).collect::<Vec<_>>(),
            [1, 4, 13, 16]
        );
        assert_eq!(split(r#"-m comment --comment "oops"#), Err(22));
    }
}
