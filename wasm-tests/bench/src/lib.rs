//! The capture benchmark in the browser.
//!
//! [`Bench`] holds a pcap file read into memory (`wasmwall::capture::Capture`, as the
//! native and component benchmarks read it). [`Bench::run`] sends it through a fresh
//! [`Firewall`] in batches with [`Firewall::process_batch`], the same loop as the native
//! side of `wasmwall-bench --pcap`, and times only that loop with the page's
//! `performance.now()`. `tools/bench-captures.mjs` drives it in headless Chromium.

use wasmwall::capture::Capture;
use wasmwall::firewall::{Firewall, Outcome, Topology};
use wasmwall::Settings;

/// How many packets each outcome had.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub forwarded: usize,
    pub dropped: usize,
    pub other: usize,
    pub errors: usize,
}

/// Sends `cap` through a new firewall with `rules`, `batch` packets per
/// [`Firewall::process_batch`] call, and returns the tally and the time the loop took
/// on `clock` (which gives milliseconds).
pub fn replay(
    cap: &Capture,
    rules: &str,
    max_entries: u32,
    batch: usize,
    clock: impl Fn() -> f64,
) -> Result<(Tally, f64), String> {
    let settings = Settings {
        max: max_entries,
        ..Settings::default()
    };
    let mut fw = Firewall::with_rules(settings, rules).map_err(|e| e.to_string())?;
    fw.set_tracing(false);
    fw.conntrack_mut().set_record_events(false);
    let batch = batch.max(1);
    let mut out = Vec::with_capacity(batch);
    let mut tally = Tally::default();
    let start = clock();
    for first in (0..cap.len()).step_by(batch) {
        let end = (first + batch).min(cap.len());
        out.clear();
        fw.process_batch((first..end).map(|i| cap.get(i)), &mut out);
        for r in &out {
            match r {
                Ok(d) if d.outcome == Outcome::Forwarded => tally.forwarded += 1,
                Ok(d) if d.outcome == Outcome::Dropped => tally.dropped += 1,
                Ok(_) => tally.other += 1,
                Err(_) => tally.errors += 1,
            }
        }
    }
    Ok((tally, clock() - start))
}

/// A capture loaded for benchmarking.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen::prelude::wasm_bindgen)]
pub struct Bench {
    capture: Capture,
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen::prelude::wasm_bindgen)]
impl Bench {
    /// Reads a pcap file (each packet enters by the interface its source is routed to).
    #[cfg_attr(
        target_arch = "wasm32",
        wasm_bindgen::prelude::wasm_bindgen(constructor)
    )]
    pub fn new(pcap: &[u8]) -> Result<Bench, String> {
        let capture = Capture::from_pcap(pcap, &Topology::default())?;
        Ok(Bench { capture })
    }

    /// The number of packets.
    pub fn packets(&self) -> usize {
        self.capture.len()
    }

    /// One timed replay (see [`replay`]), as JSON:
    /// `{"ms":T,"forwarded":F,"dropped":D,"other":O,"errors":E}`.
    #[cfg(target_arch = "wasm32")]
    pub fn run(&self, rules: &str, max_entries: u32, batch: usize) -> Result<String, String> {
        let (t, ms) = replay(&self.capture, rules, max_entries, batch, web::now)?;
        Ok(format!(
            "{{\"ms\":{ms:.3},\"forwarded\":{},\"dropped\":{},\"other\":{},\"errors\":{}}}",
            t.forwarded, t.dropped, t.other, t.errors
        ))
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        /// `performance.now()`: milliseconds, as precise as the page may know them.
        #[wasm_bindgen(js_namespace = performance)]
        pub fn now() -> f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_an_empty_capture() {
        let cap = Capture::default();
        let (t, _) = replay(&cap, "", 0, 32, || 0.0).unwrap();
        assert_eq!(t, Tally::default());
        assert!(replay(&cap, "-A NOPE", 0, 32, || 0.0).is_err());
    }
}
