//! `-m limit --limit RATE --limit-burst N`: a token bucket that lets `N` packets
//! through at once, then one every `1/RATE`. RATE is `N[/second|/minute|/hour|/day]`
//! (any prefix of the unit; default `3/hour`), the burst defaults to 5.
//!
//! With the nf_tables backend (iptables 1.8.9, what the kernel traces were recorded
//! with) this is **not** x_tables' `xt_limit` but the native `limit` expression
//! (`nft_limit.c`), whose arithmetic is in nanoseconds:
//!
//! * iptables first turns RATE into `avg` = 10000 × seconds-per-unit / N (the
//!   `xt_rateinfo` scale), then picks the largest unit (day, hour, minute, second)
//!   that `avg` divides without too much loss and hands the kernel
//!   `rate = unit_scale / avg` packets per `unit` seconds;
//! * the kernel charges `cost = unit × 10⁹ / rate` ns per packet from a bucket of
//!   `cost × burst` ns, which starts full and refills with elapsed time; a packet
//!   matches when the bucket holds at least `cost`, which is then taken away.
//!
//! The bucket lives in the rule and refills on the engine's clock (`now_ms`).
//! iptables-save prints the rate back from `rate`/`unit`, so `--limit 7/s` is saved
//! as `7/sec`, and the burst only when it is not 5 (`--limit-burst 0` is replaced
//! by 5 by the kernel).

use super::{OptSpec, Outcome};
use crate::rules::num::parse_c_uint;
use crate::rules::view::View;

const LIMIT: u8 = 1;
const BURST: u8 = 2;

pub(crate) const LIMIT_OPTS: &[OptSpec] = &[
    OptSpec::new("limit", LIMIT, 1, false),
    OptSpec::new("limit-burst", BURST, 1, false),
];

/// `XT_LIMIT_SCALE`: `avg` is in 1/10000 s per packet.
const SCALE: u32 = 10_000;
/// (unit scale, name for saving) from the largest unit down (`rates[]`).
const UNITS: [(u32, &str); 4] = [
    (SCALE * 24 * 60 * 60, "day"),
    (SCALE * 60 * 60, "hour"),
    (SCALE * 60, "min"),
    (SCALE, "sec"),
];
const DEFAULT_BURST: u32 = 5;
const NS_PER_SEC: u64 = 1_000_000_000;

/// The bucket's run-time state. It is not part of the rule's identity: two rules
/// with the same options are equal whatever their buckets hold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    /// Nanoseconds of credit.
    pub tokens: u64,
    /// When the bucket was last looked at (ns on the engine clock); None before
    /// the first packet (the bucket is then full).
    pub last_ns: Option<u64>,
}

impl PartialEq for Bucket {
    fn eq(&self, _: &Bucket) -> bool {
        true
    }
}
impl Eq for Bucket {}

/// The `limit` match as the kernel holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitMatch {
    /// Packets per `unit_secs`.
    pub rate: u64,
    pub unit_secs: u64,
    pub burst: u32,
    pub bucket: Bucket,
}

/// A limit while its options are parsed (`xt_rateinfo`'s `avg` and `burst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingLimit {
    avg: Option<u32>,
    burst: Option<u32>,
}

/// C's `atoi`: optional blanks and sign, then digits up to the first other character.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for c in t.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// `parse_rate` of libxt_limit: `avg` for a RATE text.
fn parse_rate(text: &str) -> Result<u32, String> {
    let bad = || format!("bad rate \"{text}\"'");
    let mult: u32 = match text.split_once('/') {
        None => 1,
        Some((_, unit)) => {
            let is = |word: &str| {
                !unit.is_empty()
                    && unit.len() <= word.len()
                    && word[..unit.len()].eq_ignore_ascii_case(unit)
            };
            if is("second") {
                1
            } else if is("minute") {
                60
            } else if is("hour") {
                60 * 60
            } else if is("day") {
                24 * 60 * 60
            } else {
                return Err(bad());
            }
        }
    };
    // `uint32_t r = atoi(rate)`: a negative number wraps to a huge one.
    let r = atoi(text) as i32 as u32;
    if r == 0 {
        return Err(bad());
    }
    let avg = SCALE * mult / r;
    if avg == 0 {
        return Err(format!("Rate too fast \"{text}\""));
    }
    Ok(avg)
}

/// `print_rate`: ` N/unit` for an `avg`.
fn rate_text(avg: u32) -> String {
    if avg == 0 {
        return " inf".into();
    }
    let mut i = 1;
    while i < UNITS.len() {
        let m = UNITS[i].0;
        if avg > m || m / avg < m % avg {
            break;
        }
        i += 1;
    }
    format!(" {}/{}", UNITS[i - 1].0 / avg, UNITS[i - 1].1)
}

impl PendingLimit {
    pub(crate) fn new() -> PendingLimit {
        PendingLimit {
            avg: None,
            burst: None,
        }
    }

    pub(crate) fn option(&mut self, id: u8, arg: &str) -> Result<(), String> {
        let once = |given: bool, opt: &str| {
            if given {
                Err(format!("limit: option \"--{opt}\" can only be used once."))
            } else {
                Ok(())
            }
        };
        if id == LIMIT {
            once(self.avg.is_some(), "limit")?;
            self.avg = Some(parse_rate(arg)?);
        } else {
            once(self.burst.is_some(), "limit-burst")?;
            self.burst = Some(parse_c_uint(arg, 10_000).ok_or_else(|| {
                "limit: bad value for option \"--limit-burst\", or out of range (0-10000)"
                    .to_string()
            })?);
        }
        Ok(())
    }

    /// What iptables-nft hands the kernel (`add_nft_limit`) and the kernel keeps.
    pub(crate) fn finish(self) -> LimitMatch {
        let avg = self.avg.unwrap_or(SCALE * 60 * 60 / 3);
        let mut i = 1;
        while i < UNITS.len() {
            let m = UNITS[i].0;
            if avg > m || m / avg < m % avg {
                break;
            }
            i += 1;
        }
        let burst = match self.burst.unwrap_or(DEFAULT_BURST) {
            0 => DEFAULT_BURST,
            b => b,
        };
        LimitMatch {
            rate: u64::from(UNITS[i - 1].0 / avg),
            unit_secs: u64::from(UNITS[i - 1].0 / SCALE),
            burst,
            bucket: Bucket::default(),
        }
    }
}

impl LimitMatch {
    /// Nanoseconds one packet costs.
    pub fn cost_ns(&self) -> u64 {
        self.unit_secs * NS_PER_SEC / self.rate
    }

    /// The bucket's size.
    pub fn max_tokens(&self) -> u64 {
        self.cost_ns() * u64::from(self.burst)
    }

    /// `nft_limit_eval`.
    pub(crate) fn eval(&mut self, v: &View) -> Outcome {
        let now = v.ctx.now_ms.saturating_mul(1_000_000);
        let (cost, max) = (self.cost_ns(), self.max_tokens());
        let b = &mut self.bucket;
        let tokens = match b.last_ns {
            None => max,
            Some(last) => b.tokens.saturating_add(now.saturating_sub(last)).min(max),
        };
        b.last_ns = Some(now);
        if tokens >= cost {
            b.tokens = tokens - cost;
            Outcome::Match
        } else {
            b.tokens = tokens;
            Outcome::NoMatch
        }
    }

    /// The `avg` iptables reads back from the kernel (`nft_parse_limit`).
    fn avg(&self) -> u32 {
        (u64::from(SCALE) * self.unit_secs / self.rate) as u32
    }

    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m limit --limit");
        out.push_str(&rate_text(self.avg()));
        if self.burst != DEFAULT_BURST {
            out.push_str(&format!(" --limit-burst {}", self.burst));
        }
    }

    /// `iptables -L`: ` limit: avg N/unit burst B`.
    pub(crate) fn list(&self, out: &mut String) {
        out.push_str(" limit: avg");
        out.push_str(&rate_text(self.avg()));
        out.push_str(&format!(" burst {}", self.burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(opts: &[(u8, &str)]) -> Result<LimitMatch, String> {
        let mut p = PendingLimit::new();
        for (id, arg) in opts {
            p.option(*id, arg)?;
        }
        Ok(p.finish())
    }

    fn saved(opts: &[(u8, &str)]) -> Result<String, String> {
        let mut s = String::new();
        limit(opts)?.save(&mut s);
        Ok(s)
    }

    /// Checked against iptables-save 1.8.9 (nf_tables) in a scratch namespace.
    #[test]
    fn rates_save_like_iptables_nft() {
        let cases = [
            ("3/sec", " -m limit --limit 3/sec"),
            ("3/m", " -m limit --limit 3/min"),
            ("7/hour", " -m limit --limit 7/hour"),
            ("2/d", " -m limit --limit 2/day"),
            ("1000/s", " -m limit --limit 1000/sec"),
            ("7/s", " -m limit --limit 7/sec"),
            ("61/min", " -m limit --limit 61/min"),
            ("5", " -m limit --limit 5/sec"),
        ];
        for (arg, want) in cases {
            assert_eq!(saved(&[(LIMIT, arg)]).unwrap(), want, "{arg}");
        }
        assert_eq!(saved(&[]).unwrap(), " -m limit --limit 3/hour");
        assert_eq!(
            saved(&[(LIMIT, "10/min"), (BURST, "2")]).unwrap(),
            " -m limit --limit 10/min --limit-burst 2"
        );
        assert_eq!(
            saved(&[(LIMIT, "3/h"), (BURST, "0")]).unwrap(),
            " -m limit --limit 3/hour"
        );
    }

    #[test]
    fn bad_rates() {
        assert_eq!(
            saved(&[(LIMIT, "0/sec")]).unwrap_err(),
            "bad rate \"0/sec\"'"
        );
        assert_eq!(
            saved(&[(LIMIT, "20000/sec")]).unwrap_err(),
            "Rate too fast \"20000/sec\""
        );
        assert!(saved(&[(LIMIT, "3/x")]).is_err());
        assert!(saved(&[(LIMIT, "3/")]).is_err());
        assert!(saved(&[(LIMIT, "3abc/minutes")]).is_err());
        assert!(saved(&[(BURST, "10001")]).unwrap_err().contains("0-10000"));
        assert!(saved(&[(LIMIT, "1/s"), (LIMIT, "2/s")])
            .unwrap_err()
            .contains("only be used once"));
    }

    #[test]
    fn the_bucket_refills_with_time() {
        // 2/sec, burst 3: cost 500 ms, bucket 1.5 s.
        let mut m = limit(&[(LIMIT, "2/sec"), (BURST, "3")]).unwrap();
        assert_eq!((m.cost_ns(), m.max_tokens()), (500_000_000, 1_500_000_000));
        let pkt = crate::rules::tests::udp("192.168.1.10", 1, "203.0.113.5", 2);
        let at = |m: &mut LimitMatch, ms: u64| {
            let mut ctx = pkt.ctx(crate::conntrack::CtState::New);
            ctx.now_ms = ms;
            let v = View::new(&ctx);
            m.eval(&v)
        };
        let hits: Vec<bool> = [0, 0, 0, 0, 499, 500, 999, 1000, 5000, 5000, 5000, 5000]
            .iter()
            .map(|&t| at(&mut m, t) == Outcome::Match)
            .collect();
        assert_eq!(
            hits,
            [true, true, true, false, false, true, false, true, true, true, true, false]
        );
    }
}
