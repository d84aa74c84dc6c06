//! Running subprocesses: echo the command, stream its output, fail with a message that says
//! which command failed and how.

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The command line of `cmd`, for messages: `cargo fmt --all -- --check`.
pub fn display(cmd: &Command) -> String {
    let mut line = String::new();
    if let Some(dir) = cmd.get_current_dir() {
        line.push_str(&format!("(cd {} && ", dir.display()));
    }
    line.push_str(&quote(cmd.get_program()));
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    if cmd.get_current_dir().is_some() {
        line.push(')');
    }
    line
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with its output going straight to ours; fails unless it exits with 0.
/// A command still running after `timeout` is killed.
pub fn run(cmd: &mut Command, timeout: Option<Duration>) -> Result<(), String> {
    let line = display(cmd);
    println!("$ {line}");
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| spawn_error(&line, e))?;
    let status = wait(&mut child, &line, timeout)?;
    check_status(&line, status)
}

/// Runs `cmd`, streaming its stdout and stderr to ours line by line, and returns everything it
/// printed (both streams, interleaved as read). Fails unless it exits with 0.
pub fn run_captured(cmd: &mut Command, timeout: Option<Duration>) -> Result<String, String> {
    let line = display(cmd);
    println!("$ {line}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(&line, e))?;
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    forward(stdout, tx.clone(), false);
    forward(stderr, tx, true);
    let status = wait(&mut child, &line, timeout);

    // Collect what was printed. A grandchild that outlives the command may keep a pipe open:
    // do not wait for it for long.
    let mut output = String::new();
    let mut open = 2;
    let deadline = Instant::now() + Duration::from_secs(5);
    while open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(text)) => output.push_str(&text),
            Ok(None) => open -= 1,
            Err(_) => break,
        }
    }
    match status.and_then(|s| check_status(&line, s)) {
        Ok(()) => Ok(output),
        Err(e) => Err(e),
    }
}

/// Runs `cmd` quietly and returns its stdout if it ran and exited with 0: for `--version`.
pub fn probe(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Copies `from` to our stdout (or stderr) line by line, sending each line down `tx`, then
/// `None` at the end.
fn forward(from: impl Read + Send + 'static, tx: mpsc::Sender<Option<String>>, to_stderr: bool) {
    thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if to_stderr {
                        eprint!("{text}");
                    } else {
                        print!("{text}");
                        let _ = io::stdout().flush();
                    }
                    if tx.send(Some(text)).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(None);
    });
}

fn wait(child: &mut Child, line: &str, timeout: Option<Duration>) -> Result<ExitStatus, String> {
    let Some(timeout) = timeout else {
        return child.wait().map_err(|e| format!("`{line}`: {e}"));
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{line}` was still running after {} s and was killed",
                    timeout.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("`{line}`: {e}")),
        }
    }
}

fn check_status(line: &str, status: ExitStatus) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        match status.code() {
            Some(code) => Err(format!("`{line}` exited with status {code}")),
            None => Err(format!("`{line}` was killed by a signal ({status})")),
        }
    }
}

fn spawn_error(line: &str, e: io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        format!("`{line}`: program not found on PATH")
    } else {
        format!("`{line}`: could not start: {e}")
    }
}

/// Removes ANSI escape sequences (colours) from `s`.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_needs_it() {
        let mut cmd = Command::new("cargo");
        cmd.args(["clippy", "--", "-D", "warnings", "a b", "it's"]);
        assert_eq!(
            display(&cmd),
            r"cargo clippy -- -D warnings 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn strip_ansi_removes_colours() {
        assert_eq!(
            strip_ansi("\u{1b}[1m\u{1b}[32mtest result: ok.\u{1b}[0m 3 passed"),
            "test result: ok. 3 passed"
        );
    }

    #[cfg(unix)]
    #[test]
    fn run_captured_returns_output_and_fails_on_nonzero_exit() {
        let out = run_captured(
            Command::new("sh").args(["-c", "echo one; echo two >&2"]),
            None,
        )
        .unwrap();
        assert!(out.contains("one\n") && out.contains("two\n"), "{out:?}");

        let err = run_captured(Command::new("sh").args(["-c", "exit 3"]), None).unwrap_err();
        assert!(err.contains("exited with status 3"), "{err}");

        let err = run(
            Command::new("sh").args(["-c", "sleep 5"]),
            Some(Duration::from_millis(200)),
        )
        .unwrap_err();
        assert!(err.contains("killed"), "{err}");

        let err = run(&mut Command::new("no-such-program-xtask"), None).unwrap_err();
        assert!(err.contains("not found"), "{err}");
    }
}
