//! The capture mode: a pcap file through the component's `process-batch` and through
//! the native `Firewall::process_batch`, with the same rules, settings and batches.
//!
//! The capture is read into memory first (`wasmwall::capture::Capture`: times in ms
//! from the first packet, each packet entering by the interface its source address is
//! routed to, as `wasmwall bench` and `wasmwall replay --pcap` do), and the component's
//! packet lists are built before the clock starts, so a run times only the calls and
//! reading their results. Each run starts from a fresh firewall; the fastest of
//! `--runs` is reported. Both sides must forward and drop the same packets, or the run
//! is refused.
//!
//! The last line printed is JSON: `{"capture":..., "packets":N, "batch":B,
//! "max_entries":M, "native_mpps":X, "component_mpps":Y, "ratio":R, "forwarded":F}`.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmwall::capture::Capture;
use wasmwall::firewall::Topology;
use wasmwall_host::{component_path, Iface, Outcome, Packet, Runtime};

/// The default rule set: `engine/benches/stateful.rules`.
const DEFAULT_RULES: &str = include_str!("../../../../../engine/benches/stateful.rules");

pub struct Options {
    pcap: PathBuf,
    rules: Option<PathBuf>,
    batch: usize,
    max_entries: u32,
    runs: u32,
    component: PathBuf,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        pcap: PathBuf::new(),
        rules: None,
        batch: 32,
        max_entries: 4096,
        runs: 3,
        component: component_path(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--pcap" => o.pcap = PathBuf::from(v),
            "--rules" => o.rules = Some(PathBuf::from(v)),
            "--batch" => o.batch = num(v)?.max(1) as usize,
            "--max-entries" => o.max_entries = num(v)?,
            "--runs" => o.runs = num(v)?.max(1),
            "--component" => o.component = PathBuf::from(v),
            other => return Err(format!("unknown argument {other} (with --pcap)")),
        }
    }
    Ok(o)
}

/// How many packets each outcome had, to check both sides did the same work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    forwarded: usize,
    dropped: usize,
    other: usize,
    errors: usize,
}

/// One timed pass over the capture.
struct Run {
    elapsed: Duration,
    tally: Tally,
}

fn native(cap: &Capture, rules: &str, o: &Options) -> Result<Run, String> {
    let settings = wasmwall::Settings {
        max: o.max_entries,
        ..wasmwall::Settings::default()
    };
    let mut fw = wasmwall::Firewall::with_rules(settings, rules).map_err(|e| e.to_string())?;
    fw.set_tracing(false);
    fw.conntrack_mut().set_record_events(false);
    let mut out = Vec::with_capacity(o.batch);
    let mut tally = Tally::default();
    let start = Instant::now();
    for first in (0..cap.len()).step_by(o.batch) {
        let end = (first + o.batch).min(cap.len());
        out.clear();
        fw.process_batch((first..end).map(|i| cap.get(i)), &mut out);
        for r in &out {
            match r {
                Ok(d) if d.outcome == wasmwall::Outcome::Forwarded => tally.forwarded += 1,
                Ok(d) if d.outcome == wasmwall::Outcome::Dropped => tally.dropped += 1,
                Ok(_) => tally.other += 1,
                Err(_) => tally.errors += 1,
            }
        }
    }
    Ok(Run {
        elapsed: start.elapsed(),
        tally,
    })
}

/// The capture as the component's packet lists, `batch` packets each.
fn batches(cap: &Capture, batch: usize) -> Vec<Vec<Packet>> {
    let packets: Vec<Packet> = cap
        .iter()
        .map(|(now_ms, from, bytes)| Packet {
            now_ms,
            ingress: match from {
                wasmwall::Iface::Lan => Iface::Lan,
                wasmwall::Iface::Wan => Iface::Wan,
            },
            bytes: bytes.to_vec(),
        })
        .collect();
    packets.chunks(batch).map(<[Packet]>::to_vec).collect()
}

fn component(
    rt: &Runtime,
    batches: &[Vec<Packet>],
    rules: &str,
    o: &Options,
) -> Result<Run, String> {
    let err = |e: wasmtime::Error| format!("{e:#}");
    let mut fw = rt
        .firewall(&wasmwall_host::config(o.max_entries))
        .map_err(err)?;
    fw.load_rules(rules).map_err(err)?.map_err(|e| e.message)?;
    let mut tally = Tally::default();
    let start = Instant::now();
    for b in batches {
        for r in fw.process_batch(b).map_err(err)? {
            match r {
                Ok(d) if d.outcome == Outcome::Forwarded => tally.forwarded += 1,
                Ok(d) if d.outcome == Outcome::Dropped => tally.dropped += 1,
                Ok(_) => tally.other += 1,
                Err(_) => tally.errors += 1,
            }
        }
    }
    Ok(Run {
        elapsed: start.elapsed(),
        tally,
    })
}

fn mpps(packets: usize, t: Duration) -> f64 {
    packets as f64 / t.as_secs_f64() / 1e6
}

/// Runs `f` `runs` times, printing each run, and returns the fastest.
fn best(
    name: &str,
    packets: usize,
    runs: u32,
    mut f: impl FnMut() -> Result<Run, String>,
) -> Result<Run, String> {
    let mut best: Option<Run> = None;
    for i in 1..=runs {
        let run = f()?;
        println!(
            "{name} run {i}: {:.3} s, {:.2} Mpps ({} forwarded, {} dropped, {} other, {} errors)",
            run.elapsed.as_secs_f64(),
            mpps(packets, run.elapsed),
            run.tally.forwarded,
            run.tally.dropped,
            run.tally.other,
            run.tally.errors
        );
        if best.as_ref().is_none_or(|b| run.elapsed < b.elapsed) {
            best = Some(run);
        }
    }
    Ok(best.expect("at least one run"))
}

pub fn run(o: Options) -> Result<(), String> {
    let rules = match &o.rules {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => DEFAULT_RULES.to_string(),
    };
    let file = std::fs::read(&o.pcap).map_err(|e| format!("{}: {e}", o.pcap.display()))?;
    let cap = Capture::from_pcap(&file, &Topology::default())
        .map_err(|e| format!("{}: {e}", o.pcap.display()))?;
    drop(file);
    let n = cap.len();
    println!(
        "{}: {n} packets, batches of {}, max entries {}, rules {}",
        o.pcap.display(),
        o.batch,
        o.max_entries,
        o.rules
            .as_ref()
            .map_or("engine/benches/stateful.rules".into(), |p| p
                .display()
                .to_string())
    );
    let rt = Runtime::load(&o.component).map_err(|e| format!("{e:#}"))?;
    let native = best("native", n, o.runs, || native(&cap, &rules, &o))?;
    let batches = batches(&cap, o.batch);
    let comp = best("component", n, o.runs, || {
        component(&rt, &batches, &rules, &o)
    })?;
    if native.tally != comp.tally {
        return Err(format!(
            "the component decided differently: native {:?}, component {:?}",
            native.tally, comp.tally
        ));
    }
    let (native_mpps, comp_mpps) = (mpps(n, native.elapsed), mpps(n, comp.elapsed));
    println!(
        "native {native_mpps:.2} Mpps, component {comp_mpps:.2} Mpps: {:.0} % of native",
        100.0 * comp_mpps / native_mpps
    );
    let name = o
        .pcap
        .file_name()
        .map_or(String::new(), |f| f.to_string_lossy().into_owned());
    println!(
        "{{\"capture\":{name:?},\"packets\":{n},\"batch\":{},\"max_entries\":{},\
         \"native_mpps\":{native_mpps:.3},\"component_mpps\":{comp_mpps:.3},\
         \"ratio\":{:.3},\"forwarded\":{}}}",
        o.batch,
        o.max_entries,
        comp_mpps / native_mpps,
        native.tally.forwarded
    );
    Ok(())
}
