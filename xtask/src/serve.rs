//! A small static file server on 127.0.0.1, with `std::net` only.
//!
//! It serves the files under one root directory (the repository) for `cargo xtask demo` and
//! the end-to-end browser check: GET and HEAD only, one thread per connection, one request per
//! connection, and the MIME types a wasm-bindgen app needs (`.wasm` as `application/wasm`).
//! Paths that would leave the root (`..`, encoded or not, or a symlink pointing outside) and
//! hidden files (`.git`, `.cargo`) are refused.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Longest request head (request line and headers) accepted.
const MAX_HEAD: u64 = 16 * 1024;

/// A bound server: its listening socket and the directory it serves.
pub struct Server {
    listener: TcpListener,
    root: Arc<PathBuf>,
    log: bool,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0 picks a free port) to serve the files under `root`.
    /// With `log`, each request is printed to stderr.
    pub fn bind(root: &Path, port: u16, log: bool) -> io::Result<Server> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", root.display()),
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        Ok(Server {
            listener,
            root: Arc::new(root),
            log,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The page address of the served root, such as `http://127.0.0.1:8080/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr())
    }

    /// Serves connections until the process ends.
    pub fn run(self) {
        for stream in self.listener.incoming() {
            match stream {
                Ok(stream) => {
                    let root = Arc::clone(&self.root);
                    let log = self.log;
                    thread::spawn(move || handle(stream, &root, log));
                }
                Err(e) => eprintln!("serve: accept failed: {e}"),
            }
        }
    }

    /// Serves connections on a background thread, for as long as the process runs.
    pub fn spawn(self) {
        thread::spawn(move || self.run());
    }
}

/// A response to send: status, content type and body.
struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    location: Option<String>,
}

impl Response {
    fn error(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status} {reason}\n").into_bytes(),
            location: None,
        }
    }
}

fn handle(stream: TcpStream, root: &Path, log: bool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let (method, target, response) = match read_head(&mut reader) {
        Ok((method, target)) => {
            let response = respond(&method, &target, root);
            (method, target, response)
        }
        Err(_) => (
            String::from("?"),
            String::from("?"),
            Response::error(400, "Bad Request"),
        ),
    };
    if log {
        eprintln!("serve: {method} {target} -> {}", response.status);
    }
    let _ = write_response(stream, &method, &response);
}

/// Reads the request line and headers; returns the method and the request target.
fn read_head(reader: &mut impl BufRead) -> io::Result<(String, String)> {
    let mut limited = reader.take(MAX_HEAD);
    let mut request_line = String::new();
    limited.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        let n = limited.read_line(&mut header)?;
        if n == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(version)) if version.starts_with("HTTP/1.") => {
            Ok((method.to_string(), target.to_string()))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        )),
    }
}

fn respond(method: &str, target: &str, root: &Path) -> Response {
    if method != "GET" && method != "HEAD" {
        return Response::error(405, "Method Not Allowed");
    }
    let path = match target.split(['?', '#']).next() {
        Some(p) if p.starts_with('/') => p,
        _ => return Response::error(400, "Bad Request"),
    };
    let file = match resolve(root, path) {
        Ok(file) => file,
        Err(status) => return status_response(status),
    };
    if file.is_dir() {
        if !path.ends_with('/') {
            let mut r = Response::error(301, "Moved Permanently");
            r.location = Some(format!("{path}/"));
            return r;
        }
        return serve_file(&file.join("index.html"), root);
    }
    serve_file(&file, root)
}

fn status_response(status: u16) -> Response {
    match status {
        403 => Response::error(403, "Forbidden"),
        404 => Response::error(404, "Not Found"),
        _ => Response::error(400, "Bad Request"),
    }
}

fn serve_file(file: &Path, root: &Path) -> Response {
    // Symlinks may point anywhere: check where the file really is.
    let real = match file.canonicalize() {
        Ok(real) => real,
        Err(_) => return Response::error(404, "Not Found"),
    };
    if !real.starts_with(root) {
        return Response::error(403, "Forbidden");
    }
    match fs::read(&real) {
        Ok(body) => Response {
            status: 200,
            reason: "OK",
            content_type: mime_type(&real),
            body,
            location: None,
        },
        Err(_) => Response::error(404, "Not Found"),
    }
}

/// Maps a URL path (already without query) to a path under `root`, or an HTTP status:
/// 400 for undecodable paths, 403 for paths that climb out of the root, 404 for hidden files.
pub fn resolve(root: &Path, url_path: &str) -> Result<PathBuf, u16> {
    let decoded = percent_decode(url_path).ok_or(400u16)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(400);
    }
    let mut path = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(403),
            s if s.starts_with('.') => return Err(404),
            s => path.push(s),
        }
    }
    Ok(path)
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The Content-Type for a file, by its extension.
pub fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("wasm") => "application/wasm",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("txt" | "md" | "wit" | "ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn write_response(mut stream: TcpStream, method: &str, r: &Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
        r.status,
        r.reason,
        r.content_type,
        r.body.len()
    );
    if r.status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if let Some(location) = &r.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A new empty directory under the system's temp dir.
    fn temp_dir() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-serve-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Sends `request` and returns (status line, headers, body).
    fn send(addr: SocketAddr, request: &str) -> (String, String, Vec<u8>) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let body = raw[split + 4..].to_vec();
        let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
        (status.to_string(), headers.to_string(), body)
    }

    fn get(addr: SocketAddr, path: &str) -> (String, String, Vec<u8>) {
        send(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
    }

    fn site() -> (PathBuf, SocketAddr) {
        let root = temp_dir();
        fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
        fs::create_dir_all(root.join("pkg")).unwrap();
        fs::write(root.join("pkg/app.wasm"), b"\0asm\x01\0\0\0").unwrap();
        fs::write(root.join("pkg/app.js"), "export default 1;").unwrap();
        fs::write(root.join("a b.css"), "body{}").unwrap();
        fs::write(root.join(".secret"), "no").unwrap();
        let server = Server::bind(&root, 0, false).unwrap();
        let addr = server.addr();
        assert!(addr.ip().is_loopback());
        server.spawn();
        (root, addr)
    }

    #[test]
    fn mime_types_by_extension() {
        for (name, mime) in [
            ("a.wasm", "application/wasm"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.html", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.PNG", "image/png"),
            ("Makefile", "application/octet-stream"),
        ] {
            assert_eq!(mime_type(Path::new(name)), mime, "{name}");
        }
    }

    #[test]
    fn resolve_refuses_paths_out_of_the_root() {
        let root = Path::new("/srv/site");
        assert_eq!(resolve(root, "/pkg/a.js"), Ok(root.join("pkg/a.js")));
        assert_eq!(resolve(root, "/./pkg//a.js"), Ok(root.join("pkg/a.js")));
        assert_eq!(resolve(root, "/a%20b.css"), Ok(root.join("a b.css")));
        for bad in [
            "/../etc/passwd",
            "/pkg/../../x",
            "/%2e%2e/x",
            "/pkg/%2E%2E/%2e%2e/x",
        ] {
            assert_eq!(resolve(root, bad), Err(403), "{bad}");
        }
        assert_eq!(resolve(root, "/..%5cx"), Err(400));
        assert_eq!(resolve(root, "/a%00"), Err(400));
        assert_eq!(resolve(root, "/%zz"), Err(400));
        assert_eq!(resolve(root, "/%ff"), Err(400));
        assert_eq!(resolve(root, "/.git/config"), Err(404));
    }

    #[test]
    fn serves_files_with_their_types() {
        let (root, addr) = site();

        let (status, headers, body) = get(addr, "/");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("Content-Type: text/html; charset=utf-8"),
            "{headers}"
        );
        assert_eq!(body, b"<h1>hi</h1>");

        let (status, headers, body) = get(addr, "/pkg/app.wasm?v=1");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("Content-Type: application/wasm"),
            "{headers}"
        );
        assert!(headers.contains("Content-Length: 8"), "{headers}");
        assert_eq!(body, b"\0asm\x01\0\0\0");

        let (_, headers, _) = get(addr, "/pkg/app.js");
        assert!(
            headers.contains("Content-Type: text/javascript"),
            "{headers}"
        );

        let (status, _, _) = get(addr, "/a%20b.css");
        assert_eq!(status, "HTTP/1.1 200 OK");

        let (status, headers, _) = get(addr, "/pkg");
        assert_eq!(status, "HTTP/1.1 301 Moved Permanently");
        assert!(headers.contains("Location: /pkg/"), "{headers}");

        let (status, headers, body) = send(addr, "HEAD /index.html HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains("Content-Length: 11"), "{headers}");
        assert!(body.is_empty());

        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn refuses_what_it_must_not_serve() {
        let (root, addr) = site();
        assert_eq!(get(addr, "/missing.js").0, "HTTP/1.1 404 Not Found");
        assert_eq!(get(addr, "/.secret").0, "HTTP/1.1 404 Not Found");
        assert_eq!(get(addr, "/../etc/passwd").0, "HTTP/1.1 403 Forbidden");
        assert_eq!(get(addr, "/%2e%2e/etc/passwd").0, "HTTP/1.1 403 Forbidden");
        let (status, headers, _) = send(addr, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
        assert!(headers.contains("Allow: GET, HEAD"), "{headers}");
        assert_eq!(send(addr, "nonsense\r\n\r\n").0, "HTTP/1.1 400 Bad Request");
        fs::remove_dir_all(root).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlinks_that_leave_the_root() {
        let outside = temp_dir();
        fs::write(outside.join("private.txt"), "secret").unwrap();
        let (root, addr) = site();
        std::os::unix::fs::symlink(outside.join("private.txt"), root.join("link.txt")).unwrap();
        assert_eq!(get(addr, "/link.txt").0, "HTTP/1.1 403 Forbidden");
        fs::remove_dir_all(root).unwrap();
        fs::remove_dir_all(outside).unwrap();
    }
}
