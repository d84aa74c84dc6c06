//! Links that reproduce a scenario: `#s=` followed by the URL-safe base64 (no padding)
//! of compact JSON holding the rules, the conntrack sysctls, every event of the
//! timeline with its time, and how many events have been applied. The engine clock
//! follows from the events' times and that position, so the link reproduces it too.
//!
//! ```json
//! {"v":1,"title":"...","description":"...","rules":"-P FORWARD DROP\n...",
//!  "sysctl":[["max","16"]],
//!  "events":[[0,"lan","4500003c...","SYN"],[10250,"wait","","+10 s"]],
//!  "cursor":3}
//! ```

use serde::{Deserialize, Serialize};
use wasmwall::{wire, Iface};

use crate::dissect::hex;
use crate::session::{Event, EventKind, Scenario};

/// What a link's hash starts with.
pub const PREFIX: &str = "#s=";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Shared {
    v: u32,
    title: String,
    #[serde(default)]
    description: String,
    rules: String,
    #[serde(default)]
    sysctl: Vec<(String, String)>,
    /// `[at_ms, "lan" | "wan" | "wait", hex, note]`.
    events: Vec<(u64, String, String, String)>,
    #[serde(default)]
    cursor: usize,
}

/// The hash (with [`PREFIX`]) for a scenario stepped to `cursor`.
pub fn encode(scenario: &Scenario, cursor: usize) -> String {
    let shared = Shared {
        v: VERSION,
        title: scenario.title.clone(),
        description: scenario.description.clone(),
        rules: scenario.rules.clone(),
        sysctl: scenario.sysctl.clone(),
        events: scenario
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Packet { from, bytes } => {
                    (e.at_ms, from.name().to_string(), hex(bytes), e.note.clone())
                }
                EventKind::Wait => (e.at_ms, "wait".into(), String::new(), e.note.clone()),
            })
            .collect(),
        cursor,
    };
    let json = serde_json::to_string(&shared).expect("plain data serialises");
    format!("{PREFIX}{}", base64url_encode(json.as_bytes()))
}

/// The scenario and position a hash describes.
pub fn decode(hash: &str) -> Result<(Scenario, usize), String> {
    let data = hash
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("a shared scenario starts with {PREFIX}"))?;
    let json = base64url_decode(data)?;
    let shared: Shared = serde_json::from_slice(&json)
        .map_err(|e| format!("the link's scenario is damaged: {e}"))?;
    if shared.v != VERSION {
        return Err(format!("links of version {} are not supported", shared.v));
    }
    let mut events = Vec::with_capacity(shared.events.len());
    for (i, (at_ms, from, hexstr, note)) in shared.events.into_iter().enumerate() {
        let kind = match from.as_str() {
            "wait" => EventKind::Wait,
            name => EventKind::Packet {
                from: Iface::from_name(name)
                    .ok_or_else(|| format!("event {i}: unknown interface {name:?}"))?,
                bytes: wire::decode_hex(&hexstr).map_err(|e| format!("event {i}: {e}"))?,
            },
        };
        events.push(Event { at_ms, kind, note });
    }
    Ok((
        Scenario {
            title: shared.title,
            description: shared.description,
            rules: shared.rules,
            sysctl: shared.sysctl,
            events,
        },
        shared.cursor,
    ))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with the URL-safe alphabet (RFC 4648 §5), without padding.
pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Decodes [`base64url_encode`]'s output; padding and the standard alphabet's `+/`
/// are accepted too, so a link mangled by a mail client still opens.
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return Err(format!("{:?} is not a base64 character", char::from(c))),
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    #[test]
    fn base64url_round_trips_every_length() {
        let data: Vec<u8> = (0..=255).collect();
        for n in 0..40 {
            let enc = base64url_encode(&data[..n]);
            assert!(enc
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
            assert_eq!(base64url_decode(&enc).unwrap(), &data[..n]);
        }
        assert_eq!(
            base64url_encode(b"any carnal pleas"),
            "YW55IGNhcm5hbCBwbGVhcw"
        );
        assert_eq!(
            base64url_decode("YW55IGNhcm5hbCBwbGVhcw==").unwrap(),
            b"any carnal pleas"
        );
        assert!(base64url_decode("a*b").is_err());
    }

    #[test]
    fn every_preset_survives_a_link() {
        for p in presets::PRESETS {
            let scenario = p.scenario();
            let hash = encode(&scenario, 2);
            assert!(hash.starts_with(PREFIX));
            let (back, cursor) = decode(&hash).unwrap();
            assert_eq!(back, scenario, "{}", p.id);
            assert_eq!(cursor, 2);
        }
    }

    #[test]
    fn damaged_links_are_errors() {
        assert!(decode("#conntrack").is_err());
        assert!(decode("#s=!!!").is_err());
        assert!(decode(&format!("{PREFIX}{}", base64url_encode(b"{\"v\":1}"))).is_err());
        let bad_iface = r#"{"v":1,"title":"","rules":"","events":[[0,"dmz","45",""]]}"#;
        let err = decode(&format!(
            "{PREFIX}{}",
            base64url_encode(bad_iface.as_bytes())
        ))
        .unwrap_err();
        assert!(err.contains("dmz"), "{err}");
    }
}
