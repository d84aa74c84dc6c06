//! The churn mode: the per-packet cost of the component's `process` against
//! `process-batch` at several batch sizes, next to the native engine.
//!
//! The workload is the handshake-heavy "churn" of `gen_workload.py`: short TCP
//! connections of 7 packets each (SYN, SYN-ACK, ACK, FIN-ACK, ACK, FIN-ACK, ACK) from
//! clients in 10.0.0.0/8 on `wan` to servers in 192.168.1.0/24 on `lan` port 80, in groups
//! of `--concurrency` connections interleaved step by step, 1 µs apart, through a
//! stateful rule set. Every packet must be forwarded, or the run is refused. Each
//! measurement takes a fresh firewall and reports the best of `--reps` runs.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Instant;
use wasmwall::wire::{IpSpec, PacketSpec, TcpOptionsSpec, TcpSpec, Transport};
use wasmwall_host::{component_path, Iface, Outcome, Packet, Runtime};

const RULES: &str = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i wan -o lan -p tcp --dport 80 -m conntrack --ctstate NEW -j ACCEPT
COMMIT
";

pub struct Options {
    conns: u32,
    concurrency: u32,
    batches: Vec<usize>,
    reps: u32,
    component: PathBuf,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        conns: 20_000,
        concurrency: 64,
        batches: vec![1, 16, 64, 256],
        reps: 3,
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
            "--conns" => o.conns = num(v)?.max(1),
            "--concurrency" => o.concurrency = num(v)?.max(1),
            "--reps" => o.reps = num(v)?.max(1),
            "--batches" => {
                o.batches = v
                    .split(',')
                    .map(|b| num(b).map(|n| n.max(1) as usize))
                    .collect::<Result<_, _>>()?
            }
            "--component" => o.component = PathBuf::from(v),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// The churn workload: (time, ingress, bytes) per packet.
fn workload(conns: u32, concurrency: u32) -> Vec<(u64, Iface, Vec<u8>)> {
    const STEPS: [(bool, &str); 7] = [
        (true, "S"),
        (false, "SA"),
        (true, "A"),
        (true, "FA"),
        (false, "A"),
        (false, "FA"),
        (true, "A"),
    ];
    let mut out = Vec::with_capacity(conns as usize * STEPS.len());
    let mut t_us = 0u64;
    let mut first = 0;
    while first < conns {
        let group: Vec<u32> = (first..conns.min(first + concurrency)).collect();
        // Per connection: next sequence numbers of client and server.
        let mut next: Vec<[u32; 2]> = group
            .iter()
            .map(|i| [i.wrapping_mul(7919), i.wrapping_mul(104_729)])
            .collect();
        for (from_client, flags) in STEPS {
            for (k, &i) in group.iter().enumerate() {
                let client = Ipv4Addr::from(0x0a00_0000 | (i + 1));
                let server = Ipv4Addr::new(192, 168, 1, 10 + (i % 200) as u8);
                let cport = 1024 + (i % 60_000) as u16;
                let (src, dst, sport, dport, me) = if from_client {
                    (client, server, cport, 80, 0)
                } else {
                    (server, client, 80, cport, 1)
                };
                let seq = next[k][me];
                let ack = if flags.contains('A') {
                    next[k][1 - me]
                } else {
                    0
                };
                if flags.contains('S') || flags.contains('F') {
                    next[k][me] = seq.wrapping_add(1);
                }
                let spec = PacketSpec {
                    ip: IpSpec::new(src, dst),
                    transport: Transport::Tcp(TcpSpec {
                        sport,
                        dport,
                        flags: flags.into(),
                        seq,
                        ack,
                        win: 65535,
                        urg: 0,
                        options: TcpOptionsSpec::default(),
                        payload: Vec::new(),
                        bad_csum: false,
                    }),
                };
                let ingress = if from_client { Iface::Wan } else { Iface::Lan };
                let bytes = spec.build().expect("a plain TCP segment builds");
                out.push((t_us / 1000, ingress, bytes));
                t_us += 1;
            }
        }
        first += concurrency;
    }
    out
}

fn native(packets: &[(u64, Iface, Vec<u8>)]) -> Result<f64, String> {
    let settings = wasmwall::Settings {
        max: 0,
        ..wasmwall::Settings::default()
    };
    let mut fw = wasmwall::Firewall::with_rules(settings, RULES).map_err(|e| e.to_string())?;
    fw.set_tracing(false);
    let start = Instant::now();
    let mut forwarded = 0;
    for (now, ingress, bytes) in packets {
        let from = match ingress {
            Iface::Lan => wasmwall::Iface::Lan,
            Iface::Wan => wasmwall::Iface::Wan,
        };
        if let Ok(d) = fw.process(*now, from, bytes) {
            forwarded += usize::from(d.outcome == wasmwall::Outcome::Forwarded);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / packets.len() as f64;
    check(forwarded, packets.len())?;
    Ok(ns)
}

fn check(forwarded: usize, total: usize) -> Result<(), String> {
    if forwarded != total {
        return Err(format!(
            "only {forwarded} of {total} packets were forwarded: the workload is broken"
        ));
    }
    Ok(())
}

/// ns per packet through the component, `batch` packets per call (0: `process`).
fn component(rt: &Runtime, packets: &[(u64, Iface, Vec<u8>)], batch: usize) -> Result<f64, String> {
    let err = |e: wasmtime::Error| format!("{e:#}");
    let mut fw = rt.firewall(&wasmwall_host::config(0)).map_err(err)?;
    fw.load_rules(RULES).map_err(err)?.map_err(|e| e.message)?;
    let batches: Vec<Vec<Packet>> = packets
        .chunks(batch.max(1))
        .map(|c| {
            c.iter()
                .map(|(now, ingress, bytes)| Packet {
                    now_ms: *now,
                    ingress: *ingress,
                    bytes: bytes.clone(),
                })
                .collect()
        })
        .collect();
    let mut forwarded = 0;
    let start = Instant::now();
    if batch == 0 {
        for (now, ingress, bytes) in packets {
            if let Ok(d) = fw.process(*now, *ingress, bytes).map_err(err)? {
                forwarded += usize::from(d.outcome == Outcome::Forwarded);
            }
        }
    } else {
        for b in &batches {
            for d in fw.process_batch(b).map_err(err)?.into_iter().flatten() {
                forwarded += usize::from(d.outcome == Outcome::Forwarded);
            }
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / packets.len() as f64;
    check(forwarded, packets.len())?;
    Ok(ns)
}

fn best(reps: u32, mut f: impl FnMut() -> Result<f64, String>) -> Result<f64, String> {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        best = best.min(f()?);
    }
    Ok(best)
}

pub fn run(o: Options) -> Result<(), String> {
    let packets = workload(o.conns, o.concurrency);
    println!(
        "churn workload: {} connections x 7 packets = {} packets, {} interleaved",
        o.conns,
        packets.len(),
        o.concurrency
    );
    let size = std::fs::metadata(&o.component)
        .map_err(|e| e.to_string())?
        .len();
    println!("component: {} ({size} bytes)", o.component.display());
    let rt = Runtime::load(&o.component).map_err(|e| format!("{e:#}"))?;
    println!("{:<32} {:>12}", "path", "ns/packet");
    let native_ns = best(o.reps, || native(&packets))?;
    println!("{:<32} {:>12.0}", "native engine", native_ns);
    let single = best(o.reps, || component(&rt, &packets, 0))?;
    println!("{:<32} {:>12.0}", "component process", single);
    for b in &o.batches {
        let ns = best(o.reps, || component(&rt, &packets, *b))?;
        println!(
            "{:<32} {:>12.0}   ({:.2}x process)",
            format!("component process-batch ({b})"),
            ns,
            single / ns
        );
    }
    Ok(())
}
