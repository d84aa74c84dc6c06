//! The proxy end to end on loopback: real sockets through `wasmwall-proxy`, whose
//! policy and connection table are the component. Allowed connections carry their bytes
//! both ways; a rejected one is reset, a dropped one closed, and neither reaches its
//! upstream; the table and the counters the component reports match what happened.
//! Every wait is bounded and the proxy stops by itself.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// An upstream on 127.0.0.1 that echoes what it reads, counting its connections, until
/// `stop` (or a deadline).
struct Upstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

fn upstream(stop: &Arc<AtomicBool>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (count, stop) = (accepted.clone(), stop.clone());
    thread::spawn(move || {
        let deadline = Instant::now() + WAIT * 3;
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut s, _)) => {
                    count.fetch_add(1, Ordering::SeqCst);
                    thread::spawn(move || {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(WAIT)).unwrap();
                        let mut buf = [0u8; 8192];
                        while let Ok(n @ 1..) = s.read(&mut buf) {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    });
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Upstream { addr, accepted }
}

/// The proxy process and the lines it prints.
struct Proxy {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proxy {
    /// Waits for a line that satisfies `f`.
    fn wait_for(&mut self, what: &str, f: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| f(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if f(&l) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "the proxy never printed {what}; it printed:\n{}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn control(addr: &str, command: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Sends `data` through the proxy and reads it back; returns the client's port.
fn echo_through(addr: &str, data: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let port = s.local_addr().unwrap().port();
    let writer = {
        let mut w = s.try_clone().unwrap();
        let data = data.to_vec();
        thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back.len(), data.len(), "echoed length");
    assert!(back == data, "the echoed bytes differ");
    port
}

#[test]
fn the_proxy_passes_allowed_connections_and_refuses_the_others() {
    let stop = Arc::new(AtomicBool::new(false));
    let (allowed, rejected, dropped) = (upstream(&stop), upstream(&stop), upstream(&stop));
    let rules = format!(
        "*filter\n\
         :INPUT ACCEPT [0:0]\n\
         :FORWARD DROP [0:0]\n\
         :OUTPUT ACCEPT [0:0]\n\
         -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
         -A FORWARD -i lan -p tcp --dport {} -m conntrack --ctstate NEW -j ACCEPT\n\
         -A FORWARD -i lan -p tcp --dport {} -j REJECT --reject-with tcp-reset\n\
         COMMIT\n",
        allowed.addr.port(),
        rejected.addr.port()
    );
    let rules_file =
        std::env::temp_dir().join(format!("wasmwall-proxy-test-{}.rules", std::process::id()));
    std::fs::write(&rules_file, rules).unwrap();
    let route = |u: &Upstream| format!("127.0.0.1:0={}", u.addr);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmwall-proxy"))
        .arg("--rules")
        .arg(&rules_file)
        .args(["--route", &route(&allowed)])
        .args(["--route", &route(&rejected)])
        .args(["--route", &route(&dropped)])
        .args([
            "--control",
            "127.0.0.1:0",
            "--run-ms",
            "60000",
            "--idle-ms",
            "10000",
        ])
        .arg("--component")
        .arg(wasmwall_host::component_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the proxy starts");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut proxy = Proxy {
        child,
        lines: rx,
        seen: Vec::new(),
    };
    proxy.wait_for("ready", |l| l == "ready");
    let _ = std::fs::remove_file(&rules_file);
    let listen_for = |p: &mut Proxy, u: &Upstream| {
        let line = p.wait_for("its routes", |l| {
            l.starts_with("listening ") && l.ends_with(&format!("-> {}", u.addr))
        });
        line.split_whitespace().nth(1).unwrap().to_string()
    };
    let to_allowed = listen_for(&mut proxy, &allowed);
    let to_rejected = listen_for(&mut proxy, &rejected);
    let to_dropped = listen_for(&mut proxy, &dropped);
    let ctl = proxy.wait_for("its control address", |l| l.starts_with("control "))[8..].to_string();

    // Allowed: data both ways, in one segment, in many, and in several reads.
    let small = echo_through(&to_allowed, b"hello through the firewall\n");
    let pattern: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let big = echo_through(&to_allowed, &pattern);

    // Rejected: the client is reset.
    let mut s = TcpStream::connect(&to_rejected).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let rejected_port = s.local_addr().unwrap().port();
    let mut buf = [0u8; 16];
    let err = s
        .read(&mut buf)
        .expect_err("a rejected connection is reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

    // Dropped: the client's connection is closed without a byte.
    let mut s = TcpStream::connect(&to_dropped).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let dropped_port = s.local_addr().unwrap().port();
    assert_eq!(
        s.read(&mut buf).unwrap(),
        0,
        "a dropped connection sees EOF"
    );

    for port in [small, big] {
        proxy.wait_for("the end of an allowed connection", |l| {
            l.contains(&format!("127.0.0.1:{port} -> ")) && l.contains("done: client->upstream")
        });
    }
    let done = proxy.wait_for("the big connection's byte counts", |l| {
        l.contains(&format!("127.0.0.1:{big} -> ")) && l.contains("done:")
    });
    assert!(
        done.contains("client->upstream 100000 bytes, closed")
            && done.contains("upstream->client 100000 bytes, closed"),
        "{done}"
    );
    proxy.wait_for("the rejected connection", |l| {
        l.contains(&format!("127.0.0.1:{rejected_port} -> "))
            && l.contains("refused: rejected by FORWARD rule 3")
    });
    proxy.wait_for("the dropped connection", |l| {
        l.contains(&format!("127.0.0.1:{dropped_port} -> "))
            && l.contains("refused: dropped by the FORWARD policy")
    });

    // What reached the upstreams.
    assert_eq!(allowed.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(rejected.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(dropped.accepted.load(Ordering::SeqCst), 0);

    // The component's table: both allowed connections closed cleanly, assured, nothing else.
    let table = control(&ctl, "table");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for port in [small, big] {
        let want = format!(
            "src=192.168.1.11 dst=203.0.113.11 sport={port} dport={} src=203.0.113.11 dst=192.168.1.11 sport={} dport={port} [ASSURED]",
            allowed.addr.port(),
            allowed.addr.port()
        );
        let line = lines
            .iter()
            .find(|l| l.contains(&want))
            .unwrap_or_else(|| panic!("no entry for client port {port}:\n{table}"));
        assert!(line.starts_with("ipv4     2 tcp      6 1"), "{line}");
        assert!(line.contains(" TIME_WAIT "), "{line}");
    }

    // The rule counters: the allowed SYNs (44 bytes: 20 IP, 20 TCP, 4 MSS option), the
    // reset and the policy drop.
    let counters = control(&ctl, "counters");
    let count = |needle: &str| {
        counters
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{counters}"))
            .to_string()
    };
    assert!(
        count(&format!(
            "--dport {} -m conntrack --ctstate NEW -j ACCEPT",
            allowed.addr.port()
        ))
        .starts_with("[2:88] "),
        "{counters}"
    );
    assert!(
        count(&format!("--dport {} -j REJECT", rejected.addr.port())).starts_with("[1:44] "),
        "{counters}"
    );
    assert!(count(":FORWARD DROP").ends_with("[1:44]"), "{counters}");

    // Unknown commands are answered, then the proxy stops when told to.
    assert!(control(&ctl, "help").starts_with("unknown command"));
    assert_eq!(control(&ctl, "quit"), "stopping\n");
    proxy.wait_for("its final table", |l| l == "conntrack table (final):");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the proxy did not stop");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    stop.store(true, Ordering::SeqCst);
}

#[test]
fn the_proxy_refuses_bad_rules() {
    let rules_file =
        std::env::temp_dir().join(format!("wasmwall-proxy-bad-{}.rules", std::process::id()));
    std::fs::write(&rules_file, "-A FORWARD -p tcp --dport 99999 -j ACCEPT\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasmwall-proxy"))
        .arg("--rules")
        .arg(&rules_file)
        .args(["--route", "127.0.0.1:0=127.0.0.1:9", "--run-ms", "1000"])
        .arg("--component")
        .arg(wasmwall_host::component_path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&rules_file);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules: line 1, column"), "{err}");
    // Only loopback addresses are accepted.
    let out = Command::new(env!("CARGO_BIN_EXE_wasmwall-proxy"))
        .args(["--rules", "/dev/null", "--route", "0.0.0.0:0=127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("only 127.0.0.0/8"));
}
