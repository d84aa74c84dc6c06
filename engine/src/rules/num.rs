//! Numbers as iptables reads them: `xtables_strtoui` is `strtoul(s, &end, 0)`, so
//! `0x50` is hexadecimal and `010` is octal, and the whole string must be used.

/// Parses an unsigned number in C's base-0 notation, up to `max`.
pub(crate) fn parse_c_uint(s: &str, max: u32) -> Option<u32> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()?;
    (v <= u64::from(max)).then_some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_base_zero() {
        assert_eq!(parse_c_uint("80", 65535), Some(80));
        assert_eq!(parse_c_uint("0x50", 65535), Some(80));
        assert_eq!(parse_c_uint("032", 32), Some(26));
        assert_eq!(parse_c_uint("0", 32), Some(0));
        assert_eq!(parse_c_uint("65536", 65535), None);
        assert_eq!(parse_c_uint("-1", 255), None);
        assert_eq!(parse_c_uint("", 255), None);
        assert_eq!(parse_c_uint("08", 255), None);
        assert_eq!(parse_c_uint("99999999999999999999999", u32::MAX), None);
    }
}
