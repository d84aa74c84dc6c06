//! `wasmwall bench`: packets per second of parse + conntrack (+ the filter) over a
//! capture held in memory, and the memory each tracked connection costs.
//!
//! The capture is loaded first (not timed) into one contiguous buffer. Then, in batches
//! of `--batch` packets (each with its time from the capture), either
//!
//! * without `--rules`: every packet is parsed and tracked by a standalone
//!   [`Conntrack`] that confirms new connections at once
//!   ([`Conntrack::track_batch`] with `commit`, like Open vSwitch's `ct(commit)`), or
//! * with `--rules`: every packet goes through the whole [`Firewall`] pipeline
//!   ([`Firewall::process_batch`]), entering from `lan` when its source is in the
//!   LAN, else from `wan`, as `wasmwall replay --pcap` does.
//!
//! Checksums are verified (the kernel's default). Events are not recorded.
//!
//! Memory is measured from the allocator: the binary's global allocator counts the
//! bytes it hands out and takes back, and `bytes_per_entry` is the tracker's heap
//! growth over the run divided by the entries in the table at the end.
//!
//! The last line printed is JSON:
//! `{"packets":N,"seconds":S,"mpps":X,"entries":E,"bytes_per_entry":B}`, for the
//! fastest of `--runs` runs (each starts from an empty table).

use crate::read;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::path::Path;
use std::time::{Duration, Instant};
use wasmwall::capture::Capture;
use wasmwall::firewall::{Firewall, Iface, Topology};
use wasmwall::{Conntrack, Settings};

/// Counts every allocation of the process, so the tracker's heap can be measured.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// What to run.
pub struct Options<'a> {
    pub pcap: &'a Path,
    pub rules: Option<&'a Path>,
    pub max_entries: u32,
    pub batch: usize,
    pub runs: usize,
}

/// Reads the capture, not timed.
fn load(path: &Path) -> Result<Capture, String> {
    Capture::from_pcap(&read(path)?, &Topology::default())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`), where
/// the system tells: unlike wall time, it leaves out time spent waiting for a CPU
/// on a busy machine.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One timed pass over the capture.
struct Run {
    elapsed: Duration,
    /// Time on a CPU, when the system tells.
    cpu: Option<Duration>,
    entries: usize,
    /// Heap the tracker (or firewall) grew by, in bytes.
    heap: isize,
    /// Allocations made while packets were processed.
    allocations: usize,
}

fn live(region: &Region<'_, System>) -> isize {
    let c = region.change();
    c.bytes_allocated as isize - c.bytes_deallocated as isize
}

/// Tracks the capture with a standalone tracker. (Not inlined, so profilers can
/// attribute the timed loop.)
#[inline(never)]
fn run_conntrack(cap: &Capture, settings: &Settings, batch: usize) -> Run {
    let mut out = Vec::with_capacity(batch);
    let region = Region::new(GLOBAL);
    let mut ct = Conntrack::new(settings.clone());
    ct.set_record_events(false);
    let mut batch_pkts: Vec<(u64, &[u8])> = Vec::with_capacity(batch);
    let allocs_before = region.change().allocations;
    let (start, cpu_start) = (Instant::now(), cpu_ns());
    for chunk in (0..cap.len()).step_by(batch) {
        let end = (chunk + batch).min(cap.len());
        batch_pkts.clear();
        batch_pkts.extend((chunk..end).map(|i| {
            let (t_ms, _, bytes) = cap.get(i);
            (t_ms, bytes)
        }));
        out.clear();
        ct.track_batch(batch_pkts.iter().copied(), true, &mut out);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_ns()
        .zip(cpu_start)
        .map(|(end, start)| Duration::from_nanos(end.saturating_sub(start)));
    let allocations = region.change().allocations - allocs_before;
    let entries = ct.len();
    drop(out);
    let heap = live(&region);
    drop(ct);
    Run {
        elapsed,
        cpu,
        entries,
        heap,
        allocations,
    }
}

/// Sends the capture through the firewall pipeline with a ruleset.
#[inline(never)]
fn run_firewall(cap: &Capture, settings: &Settings, rules: &str, batch: usize) -> Run {
    let mut out = Vec::with_capacity(batch);
    let mut batch_pkts: Vec<(u64, Iface, &[u8])> = Vec::with_capacity(batch);
    let region = Region::new(GLOBAL);
    let mut fw = Firewall::with_rules(settings.clone(), rules).expect("rules were checked");
    fw.set_tracing(false);
    fw.conntrack_mut().set_record_events(false);
    let allocs_before = region.change().allocations;
    let (start, cpu_start) = (Instant::now(), cpu_ns());
    for chunk in (0..cap.len()).step_by(batch) {
        let end = (chunk + batch).min(cap.len());
        batch_pkts.clear();
        batch_pkts.extend((chunk..end).map(|i| cap.get(i)));
        out.clear();
        fw.process_batch(batch_pkts.iter().copied(), &mut out);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_ns()
        .zip(cpu_start)
        .map(|(end, start)| Duration::from_nanos(end.saturating_sub(start)));
    let allocations = region.change().allocations - allocs_before;
    let entries = fw.conntrack().len();
    drop(out);
    let heap = live(&region);
    drop(fw);
    Run {
        elapsed,
        cpu,
        entries,
        heap,
        allocations,
    }
}

/// Runs the benchmark and returns the text to print (the JSON line last).
pub fn bench(o: &Options<'_>) -> Result<String, String> {
    if o.batch == 0 || o.runs == 0 {
        return Err("--batch and --runs must be at least 1".into());
    }
    let rules = match o.rules {
        Some(p) => {
            let text = String::from_utf8(read(p)?)
                .map_err(|_| format!("{}: not UTF-8 text", p.display()))?;
            Firewall::with_rules(Settings::default(), &text)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            Some(text)
        }
        None => None,
    };
    let cap = load(o.pcap)?;
    let settings = Settings {
        max: o.max_entries,
        ..Settings::default()
    };
    let mut out = String::new();
    let mut best: Option<Run> = None;
    for i in 0..o.runs {
        let run = match &rules {
            None => run_conntrack(&cap, &settings, o.batch),
            Some(text) => run_firewall(&cap, &settings, text, o.batch),
        };
        let on_cpu = run.cpu.map_or(String::new(), |c| {
            format!(" ({:.2} Mpps on-CPU)", mpps(cap.len(), c))
        });
        out.push_str(&format!(
            "run {}: {:.3} s, {:.2} Mpps{on_cpu}, {} entries, {} heap bytes, {} allocations\n",
            i + 1,
            run.elapsed.as_secs_f64(),
            mpps(cap.len(), run.elapsed),
            run.entries,
            run.heap,
            run.allocations
        ));
        if best.as_ref().is_none_or(|b| run.elapsed < b.elapsed) {
            best = Some(run);
        }
    }
    let best = best.expect("at least one run");
    let per_entry = if best.entries == 0 {
        0.0
    } else {
        best.heap as f64 / best.entries as f64
    };
    out.push_str(&format!(
        "{{\"packets\":{},\"seconds\":{:.6},\"mpps\":{:.3},\"entries\":{},\"bytes_per_entry\":{:.1}}}\n",
        cap.len(),
        best.elapsed.as_secs_f64(),
        mpps(cap.len(), best.elapsed),
        best.entries,
        per_entry
    ));
    Ok(out)
}

fn mpps(packets: usize, t: Duration) -> f64 {
    packets as f64 / t.as_secs_f64() / 1e6
}
