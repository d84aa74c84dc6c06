//! A TCP proxy on 127.0.0.1 whose policy and connection table are the wasmwall component.
//!
//! ```text
//! wasmwall-proxy --rules RULES --route 127.0.0.1:8080=127.0.0.1:9000 [--route ...]
//!                [--control 127.0.0.1:0] [--table-every N] [--max-connections N]
//!                [--run-ms MS] [--idle-ms MS] [--max-entries N] [--set NAME=VALUE]...
//!                [--component FILE]
//! ```
//!
//! The proxy is the router between its clients (the `lan` side) and the upstreams (the
//! `wan` side). Every connection it joins is described to the component as the IPv4
//! packets a router would see between the client and the upstream, each loopback
//! address standing in as a host of the router's networks (client 127.0.0.1 is
//! 192.168.1.11, upstream 127.0.0.1 is 203.0.113.11; see `as_routed`): the SYN
//! when a client connects, the SYN-ACK and ACK once the upstream accepts, a PSH-ACK data
//! segment (at most 1460 bytes, with real sequence numbers) for every piece of data and
//! the receiver's ACK, FIN-ACK and ACK when a side closes, RST when one fails. The proxy
//! forwards bytes only after the component forwarded their packets: a SYN it drops is
//! refused by closing the client's socket, one it rejects by resetting it.
//!
//! Control: a client of `--control` sends one line and gets the answer, then the
//! connection closes: `table` (the `/proc/net/nf_conntrack` text), `counters`
//! (`iptables-save -c`), `stats`, `quit`. `--table-every N` prints the table after every
//! N closed connections. Everything stops by itself: after `--max-connections`
//! connections have come and gone, at `--run-ms`, or on `quit`; idle connections are
//! reset after `--idle-ms`. The final table is printed on exit.

use socket2::SockRef;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};
use wasmwall::wire::{IpSpec, PacketSpec, TcpOptionsSpec, TcpSpec, Transport};
use wasmwall_host::{component_path, Config, Decision, Firewall, Iface, Outcome, Packet, Runtime};

const USAGE: &str = "usage: wasmwall-proxy --rules FILE --route LISTEN=UPSTREAM [--route ...] \
[--control ADDR] [--table-every N] [--max-connections N] [--run-ms MS] [--idle-ms MS] \
[--max-entries N] [--set NAME=VALUE]... [--component FILE]";
/// The payload of one synthesized segment (an Ethernet MTU's worth).
const MSS: usize = 1460;
/// How much is read at once; it stays well inside the 65535-byte window the packets announce.
const CHUNK: usize = 16 * 1024;
/// How often blocked reads and the accept loop look at the clock.
const TICK: Duration = Duration::from_millis(50);

struct Options {
    rules: String,
    routes: Vec<(SocketAddrV4, SocketAddrV4)>,
    control: Option<SocketAddrV4>,
    table_every: usize,
    max_connections: usize,
    run: Duration,
    idle: Duration,
    config: Config,
    component: PathBuf,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        rules: String::new(),
        routes: Vec::new(),
        control: None,
        table_every: 0,
        max_connections: usize::MAX,
        run: Duration::from_secs(60),
        idle: Duration::from_secs(5),
        config: wasmwall_host::config(65536),
        component: component_path(),
    };
    let mut rules_file = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        let addr = |v: &str| {
            let a: SocketAddrV4 = v
                .parse()
                .map_err(|_| format!("{flag}: not an address: {v}"))?;
            if !a.ip().is_loopback() {
                return Err(format!("{flag}: only 127.0.0.0/8 addresses: {v}"));
            }
            Ok(a)
        };
        match flag.as_str() {
            "--rules" => rules_file = Some(value()?.clone()),
            "--route" => {
                let v = value()?;
                let (l, u) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--route LISTEN=UPSTREAM, not {v}"))?;
                o.routes.push((addr(l)?, addr(u)?));
            }
            "--control" => o.control = Some(addr(value()?)?),
            "--table-every" => o.table_every = num(value()?)? as usize,
            "--max-connections" => o.max_connections = num(value()?)? as usize,
            "--run-ms" => o.run = Duration::from_millis(num(value()?)?),
            "--idle-ms" => o.idle = Duration::from_millis(num(value()?)?),
            "--max-entries" => o.config.max_entries = num(value()?)? as u32,
            "--set" => {
                let v = value()?;
                let (name, value) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--set NAME=VALUE, not {v}"))?;
                o.config.settings.push(wasmwall_host::Setting {
                    name: name.into(),
                    value: value.into(),
                });
            }
            "--component" => o.component = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let file = rules_file.ok_or("--rules is required")?;
    o.rules = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
    if o.routes.is_empty() {
        return Err("at least one --route is required".into());
    }
    Ok(o)
}

/// Sequence-number bookkeeping of one proxied connection.
struct Flow {
    client: SocketAddrV4,
    upstream: SocketAddrV4,
    /// The next sequence number each side sends: `[client, upstream]`.
    next: [u32; 2],
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client = 0,
    Upstream = 1,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Upstream,
            Side::Upstream => Side::Client,
        }
    }
    fn iface(self) -> Iface {
        match self {
            Side::Client => Iface::Lan,
            Side::Upstream => Iface::Wan,
        }
    }
}

/// The address the component sees for a loopback endpoint. A router drops packets
/// from or to 127.0.0.0/8 as martians, so the proxy's endpoints stand in as hosts of
/// the router's networks, ports kept: a client 127.x.y.C is 192.168.1.(10 + C mod 240)
/// on `lan`, an upstream 127.x.y.C is 203.0.113.(10 + C mod 240) beyond `wan`.
fn as_routed(side: Side, addr: SocketAddrV4) -> SocketAddrV4 {
    let host = 10 + addr.ip().octets()[3] % 240;
    let ip = match side {
        Side::Client => Ipv4Addr::new(192, 168, 1, host),
        Side::Upstream => Ipv4Addr::new(203, 0, 113, host),
    };
    SocketAddrV4::new(ip, addr.port())
}

/// What the proxy shares between its threads: the component and the clock.
struct Shared {
    fw: Mutex<Firewall>,
    start: Instant,
    ip_id: AtomicUsize,
    stop: AtomicBool,
    closed: AtomicUsize,
    table_every: usize,
    idle: Duration,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Firewall> {
        self.fw.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The packet `from` sends with `flags` and `payload`, advancing its sequence number.
    fn segment(&self, flow: &mut Flow, from: Side, flags: &str, payload: &[u8]) -> Packet {
        let (client, upstream) = (
            as_routed(Side::Client, flow.client),
            as_routed(Side::Upstream, flow.upstream),
        );
        let (src, dst) = match from {
            Side::Client => (client, upstream),
            Side::Upstream => (upstream, client),
        };
        let seq = flow.next[from as usize];
        let ack = if flags.contains('A') {
            flow.next[from.other() as usize]
        } else {
            0
        };
        let consumed = payload.len() + usize::from(flags.contains('S') || flags.contains('F'));
        flow.next[from as usize] = seq.wrapping_add(consumed as u32);
        let mut ip = IpSpec::new(*src.ip(), *dst.ip());
        ip.id = self.ip_id.fetch_add(1, Ordering::Relaxed) as u16;
        ip.df = true;
        let options = if flags.contains('S') {
            TcpOptionsSpec {
                mss: Some(MSS as u16),
                ..TcpOptionsSpec::default()
            }
        } else {
            TcpOptionsSpec::default()
        };
        let spec = PacketSpec {
            ip,
            transport: Transport::Tcp(TcpSpec {
                sport: src.port(),
                dport: dst.port(),
                flags: flags.into(),
                seq,
                ack,
                win: 65535,
                urg: 0,
                options,
                payload: payload.to_vec(),
                bad_csum: false,
            }),
        };
        Packet {
            now_ms: self.now_ms(),
            ingress: from.iface(),
            // A TCP segment of at most MSS bytes always builds.
            bytes: spec.build().unwrap_or_default(),
        }
    }

    /// Sends packets through the component; Ok when it forwarded every one, else why not.
    fn pass(&self, packets: &[Packet]) -> Result<(), String> {
        let results = self
            .lock()
            .process_batch(packets)
            .map_err(|e| format!("the component failed: {e:#}"))?;
        for r in results {
            match r {
                Ok(d) if d.outcome == Outcome::Forwarded => {}
                Ok(d) => return Err(describe(&d)),
                Err(e) => return Err(format!("bad packet: {e:?}")),
            }
        }
        Ok(())
    }

    /// The table as of now.
    fn table(&self) -> Result<String, String> {
        let mut fw = self.lock();
        fw.advance(self.now_ms()).map_err(|e| format!("{e:#}"))?;
        fw.render_table().map_err(|e| format!("{e:#}"))
    }

    fn print_table(&self, why: &str) {
        let table = self.table().unwrap_or_else(|e| format!("{e}\n"));
        let mut out = io::stdout().lock();
        let _ = write!(out, "conntrack table ({why}):\n{table}--\n");
        let _ = out.flush();
    }
}

/// One line about a decision that was not "forwarded".
fn describe(d: &Decision) -> String {
    let mut s = match d.outcome {
        Outcome::Forwarded => "forwarded",
        Outcome::Local => "delivered locally",
        Outcome::Dropped => "dropped",
        Outcome::Rejected => "rejected",
    }
    .to_string();
    if let Some(f) = &d.filter {
        match f.rule {
            Some(r) => s += &format!(" by {} rule {r}", f.chain),
            None => s += &format!(" by the {} policy", f.chain),
        }
    }
    if let Some(r) = &d.reason {
        s += &format!(" ({r})");
    }
    s
}

fn say(line: String) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

/// One client connection, from its SYN to its last packet.
fn serve(shared: &Shared, id: usize, client: TcpStream, upstream: SocketAddrV4) {
    let Some(peer) = client.peer_addr().ok().and_then(v4) else {
        return;
    };
    let mut flow = Flow {
        client: peer,
        upstream,
        next: [1_000_000u32.wrapping_mul(id as u32 + 1), 0],
    };
    let syn = shared.segment(&mut flow, Side::Client, "S", &[]);
    let verdict = shared.lock().process(syn.now_ms, syn.ingress, &syn.bytes);
    let decision = match verdict {
        Ok(Ok(d)) => d,
        other => {
            say(format!(
                "conn {id}: the component failed on the SYN: {other:?}"
            ));
            return;
        }
    };
    if decision.outcome != Outcome::Forwarded {
        let reset = decision.outcome == Outcome::Rejected;
        say(format!(
            "conn {id} {peer} -> {upstream}: refused: {}",
            describe(&decision)
        ));
        if reset {
            let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
        }
        drop(client);
        return;
    }
    let up = match TcpStream::connect_timeout(&upstream.into(), shared.idle) {
        Ok(s) => s,
        Err(e) => {
            // The upstream refused: it answers the SYN with a RST.
            flow.next[1] = 0;
            let rst = shared.segment(&mut flow, Side::Upstream, "RA", &[]);
            let _ = shared.pass(&[rst]);
            say(format!(
                "conn {id} {peer} -> {upstream}: upstream failed: {e}"
            ));
            let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
            return;
        }
    };
    for s in [&client, &up] {
        let _ = s.set_write_timeout(Some(shared.idle));
    }
    flow.next[1] = 2_000_000u32.wrapping_mul(id as u32 + 1);
    let syn_ack = shared.segment(&mut flow, Side::Upstream, "SA", &[]);
    let ack = shared.segment(&mut flow, Side::Client, "A", &[]);
    if let Err(why) = shared.pass(&[syn_ack, ack]) {
        say(format!("conn {id} {peer} -> {upstream}: handshake {why}"));
        let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
        return;
    }
    say(format!("conn {id} {peer} -> {upstream}: established"));
    let flow = Mutex::new(flow);
    let (moved_up, moved_down) = thread::scope(|s| {
        let (c, u) = (&client, &up);
        let down = s.spawn(|| relay(shared, &flow, Side::Upstream, u, c));
        let moved_up = relay(shared, &flow, Side::Client, c, u);
        (moved_up, down.join().unwrap_or(Err(0)))
    });
    let bytes = |r: Result<u64, u64>| match r {
        Ok(n) => format!("{n} bytes, closed"),
        Err(n) => format!("{n} bytes, reset"),
    };
    say(format!(
        "conn {id} {peer} -> {upstream}: done: client->upstream {}, upstream->client {}",
        bytes(moved_up),
        bytes(moved_down)
    ));
    let n = shared.closed.fetch_add(1, Ordering::SeqCst) + 1;
    if shared.table_every > 0 && n.is_multiple_of(shared.table_every) {
        shared.print_table(&format!("after {n} connections"));
    }
}

/// Copies `from`'s bytes to `to` after the component forwarded their segments. Ok with
/// the byte count after a clean close, Err with it after a reset.
fn relay(
    shared: &Shared,
    flow: &Mutex<Flow>,
    side: Side,
    from: &TcpStream,
    to: &TcpStream,
) -> Result<u64, u64> {
    let (mut reader, mut writer) = (from, to);
    let lock = || flow.lock().unwrap_or_else(|p| p.into_inner());
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = vec![0u8; CHUNK];
    let mut moved = 0u64;
    let mut idle_since = Instant::now();
    let fail = |why: String| {
        {
            let mut f = lock();
            let rst = shared.segment(&mut f, side, "RA", &[]);
            let _ = shared.pass(&[rst]);
        }
        for s in [from, to] {
            let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
            let _ = s.shutdown(Shutdown::Both);
        }
        say(format!("reset: {why}"));
    };
    loop {
        match reader.read(&mut buf) {
            Ok(0) => {
                // Segments are built and passed under the flow's lock, so the component
                // sees both directions' segments in the order of their sequence numbers.
                let passed = {
                    let mut f = lock();
                    let fin = shared.segment(&mut f, side, "FA", &[]);
                    let ack = shared.segment(&mut f, side.other(), "A", &[]);
                    shared.pass(&[fin, ack])
                };
                if let Err(why) = passed {
                    say(format!("FIN {why}"));
                }
                let _ = to.shutdown(Shutdown::Write);
                return Ok(moved);
            }
            Ok(n) => {
                idle_since = Instant::now();
                let data = &buf[..n];
                let passed = {
                    let mut f = lock();
                    let mut packets: Vec<Packet> = data
                        .chunks(MSS)
                        .map(|piece| shared.segment(&mut f, side, "PA", piece))
                        .collect();
                    packets.push(shared.segment(&mut f, side.other(), "A", &[]));
                    shared.pass(&packets)
                };
                if let Err(why) = passed {
                    fail(format!("data {why}"));
                    return Err(moved);
                }
                if writer.write_all(data).is_err() {
                    fail("the receiver went away".into());
                    return Err(moved);
                }
                moved += n as u64;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if shared.stop.load(Ordering::SeqCst) || idle_since.elapsed() >= shared.idle {
                    fail("idle or stopping".into());
                    return Err(moved);
                }
            }
            Err(e) => {
                fail(format!("{e}"));
                return Err(moved);
            }
        }
    }
}

/// Answers one control command.
fn control(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let answer = match line.trim() {
        "table" => shared.table(),
        "counters" => shared.lock().save_rules(true).map_err(|e| e.to_string()),
        "stats" => shared
            .lock()
            .stats()
            .map(|s| format!("{s:?}\n"))
            .map_err(|e| e.to_string()),
        "quit" => {
            shared.stop.store(true, Ordering::SeqCst);
            Ok("stopping\n".into())
        }
        other => Ok(format!(
            "unknown command {other:?}: table, counters, stats, quit\n"
        )),
    };
    let text = answer.unwrap_or_else(|e| format!("error: {e}\n"));
    let mut stream = &stream;
    let _ = stream.write_all(text.as_bytes());
}

fn run(o: Options) -> Result<(), String> {
    let runtime = Runtime::load(&o.component).map_err(|e| format!("{e:#}"))?;
    let mut fw = runtime
        .instantiate(&o.config)
        .map_err(|e| format!("{e:#}"))?
        .map_err(|e| format!("bad setting: {e:?}"))?;
    let info = fw
        .load_rules(&o.rules)
        .map_err(|e| format!("{e:#}"))?
        .map_err(|e| format!("rules: line {}, column {}: {}", e.line, e.column, e.message))?;
    say(format!(
        "rules loaded: {} chains, connection tracking {}",
        info.chains.len(),
        if info.tracking { "on" } else { "off" }
    ));
    let shared = Shared {
        fw: Mutex::new(fw),
        start: Instant::now(),
        ip_id: AtomicUsize::new(1),
        stop: AtomicBool::new(false),
        closed: AtomicUsize::new(0),
        table_every: o.table_every,
        idle: o.idle,
    };
    let mut listeners = Vec::new();
    for (listen, upstream) in &o.routes {
        let l = TcpListener::bind(listen).map_err(|e| format!("{listen}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        say(format!("listening {local} -> {upstream}"));
        listeners.push((l, *upstream));
    }
    let control_listener = match o.control {
        Some(a) => {
            let l = TcpListener::bind(a).map_err(|e| format!("{a}: {e}"))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            say(format!(
                "control {}",
                l.local_addr().map_err(|e| e.to_string())?
            ));
            Some(l)
        }
        None => None,
    };
    say("ready".into());
    let deadline = Instant::now() + o.run;
    let accepted = AtomicUsize::new(0);
    thread::scope(|s| {
        let mut workers = Vec::new();
        loop {
            let mut busy = false;
            for (l, upstream) in &listeners {
                if accepted.load(Ordering::SeqCst) >= o.max_connections {
                    break;
                }
                if let Ok((stream, _)) = l.accept() {
                    busy = true;
                    let _ = stream.set_nonblocking(false);
                    let id = accepted.fetch_add(1, Ordering::SeqCst);
                    let (shared, upstream) = (&shared, *upstream);
                    workers.push(s.spawn(move || serve(shared, id, stream, upstream)));
                }
            }
            if let Some(l) = &control_listener {
                if let Ok((stream, _)) = l.accept() {
                    busy = true;
                    let _ = stream.set_nonblocking(false);
                    control(&shared, stream);
                }
            }
            workers.retain(|w| !w.is_finished());
            let all_served =
                accepted.load(Ordering::SeqCst) >= o.max_connections && workers.is_empty();
            if all_served || Instant::now() >= deadline {
                shared.stop.store(true, Ordering::SeqCst);
            }
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            if !busy {
                thread::sleep(Duration::from_millis(10));
            }
        }
        // Workers notice `stop` within one tick and reset what is still open.
    });
    shared.print_table("final");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmwall-proxy: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
