//! A tiny static file server for the built page.
//!
//! Every response carries the project's Content-Security-Policy (see CONTRACT.md) and a few
//! other hardening headers, `Cache-Control: no-store`, and a correct MIME type (`.wasm` must be
//! `application/wasm`, scripts `text/javascript`). Paths containing `..` are rejected, `/` (and any
//! directory) serves its `index.html`.
//!
//! The server (plain `std::net`, one thread per connection) runs in background threads. [`Server::stop`] closes the listening socket, so that
//! the port refuses new connections, and the server records every request (method, path, time) so
//! tests can assert that nothing was requested after a given point.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The Content-Security-Policy every served document and worker carries (CONTRACT.md, "Privacy").
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
worker-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'none'; frame-src 'none'; \
frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

/// Headers sent with every response, whatever its status.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
];

/// One request the server received.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// The status code the server answered with.
    pub status: u16,
    /// When the request was received.
    pub at: Instant,
}

/// MIME type for a file name, from its extension.
pub fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
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

/// Maps a request target to a relative file path under the served root.
///
/// Returns `Err(400)` for anything that could escape the root (`..` segments, backslashes, NUL,
/// malformed escapes, targets that are not absolute paths).
pub fn resolve_target(target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path).ok_or(400u16)?;
    if decoded.contains('\\') || decoded.contains('\0') {
        return Err(400);
    }
    let mut rel = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(400),
            s if s.contains(':') => return Err(400),
            s => rel.push(s),
        }
    }
    Ok(rel)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Answers one request line: (status, content type, body).
fn respond(root: &Path, method: &str, target: &str) -> (u16, &'static str, Vec<u8>) {
    let text = "text/plain; charset=utf-8";
    if method != "GET" && method != "HEAD" {
        return (405, text, b"method not allowed\n".to_vec());
    }
    let rel = match resolve_target(target) {
        Ok(rel) => rel,
        Err(code) => return (code, text, b"bad request\n".to_vec()),
    };
    let mut file = root.join(rel);
    if file.is_dir() {
        file.push("index.html");
    }
    match std::fs::read(&file) {
        Ok(data) => (200, mime_type(&file), data),
        Err(_) => (404, text, b"not found\n".to_vec()),
    }
}

struct Shared {
    root: PathBuf,
    /// A tripwire records requests and answers 503 without serving anything.
    trap: bool,
    stopping: AtomicBool,
    log: Mutex<Vec<RequestRecord>>,
    /// Open connections, so that stop() can cut them.
    conns: Mutex<HashMap<u64, TcpStream>>,
}

/// A running static file server; stopped on [`Server::stop`] or drop.
///
/// HTTP/1.1 with `Connection: close` on every response: each request uses a fresh connection,
/// so once stopped, any later request fails at once (connection refused) instead of lingering
/// on a kept-alive connection. (This is why it is built on `std::net` alone: tiny_http, for
/// one, cannot close kept-alive connections.)
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `root` on `127.0.0.1:port` (port 0 = an ephemeral port; see [`Server::addr`]).
    pub fn start(root: impl Into<PathBuf>, port: u16) -> io::Result<Server> {
        Server::start_on(root, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Serves `root` on the given address.
    pub fn start_on(root: impl Into<PathBuf>, addr: SocketAddr) -> io::Result<Server> {
        let root = root.into();
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("not a directory: {}", root.display()),
            ));
        }
        Server::spawn(root, addr, false)
    }

    /// A tripwire on `addr`: records every request it receives and serves nothing (503).
    ///
    /// Tests put one on a stopped server's address: connections there are then recorded instead
    /// of merely refused, which also catches requests the browser's logs do not show (e.g. from
    /// workers).
    pub fn tripwire(addr: SocketAddr) -> io::Result<Server> {
        Server::spawn(PathBuf::new(), addr, true)
    }

    fn spawn(root: PathBuf, addr: SocketAddr, trap: bool) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            root,
            trap,
            stopping: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            conns: Mutex::new(HashMap::new()),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("serve {addr}"))
                .spawn(move || accept_loop(listener, shared))?
        };
        Ok(Server { addr, shared, thread: Some(thread) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        self.shared.log.lock().unwrap().len()
    }

    /// All requests received so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The requests received at or after `t`.
    pub fn requests_since(&self, t: Instant) -> Vec<RequestRecord> {
        self.shared.log.lock().unwrap().iter().filter(|r| r.at >= t).cloned().collect()
    }

    /// Whether [`Server::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.thread.is_none()
    }

    /// Stops serving: closes the listening socket (the port then refuses connections) and cuts
    /// any open connection. The request log stays readable. Idempotent.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); the loop sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = thread.join();
        for (_, conn) in self.shared.conns.lock().unwrap().drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            shared.conns.lock().unwrap().insert(id, clone);
        }
        let shared = shared.clone();
        let spawned = std::thread::Builder::new().name("serve conn".into()).spawn(move || {
            handle(stream, &shared);
            shared.conns.lock().unwrap().remove(&id);
        });
        if spawned.is_err() {
            // Out of threads: the connection is dropped (closed) with the closure.
            continue;
        }
    }
    // The listener is dropped here: new connections are refused.
}

/// Serves one request on a connection, then closes it.
fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let complete = loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
        if head.len() > 64 * 1024 {
            break false;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return, // closed (or the connection-less wake-up from stop())
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let at = Instant::now();
    let line = String::from_utf8_lossy(head.split(|&b| b == b'\n').next().unwrap_or(&[]))
        .trim_end()
        .to_string();
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (method, target) = (method.unwrap_or("").to_string(), target.unwrap_or("").to_string());
    let (status, mime, body) = if !complete {
        (431, "text/plain; charset=utf-8", b"request header too large\n".to_vec())
    } else if !version.is_some_and(|v| v.starts_with("HTTP/1.")) || parts.next().is_some() {
        (400, "text/plain; charset=utf-8", b"bad request\n".to_vec())
    } else if shared.trap {
        (503, "text/plain; charset=utf-8", b"stopped\n".to_vec())
    } else {
        respond(&shared.root, &method, &target)
    };
    shared.log.lock().unwrap().push(RequestRecord {
        method: method.clone(),
        path: target,
        status,
        at,
    });
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(&body);
    }
    let _ = stream.write_all(&out);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    // Let the client read everything before the socket closes (avoids a reset losing data).
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, target: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn resolves_and_rejects() {
        assert_eq!(resolve_target("/").unwrap(), PathBuf::new());
        assert_eq!(resolve_target("/pkg/a.js?x=1").unwrap(), PathBuf::from("pkg/a.js"));
        assert_eq!(resolve_target("/a%20b.txt").unwrap(), PathBuf::from("a b.txt"));
        assert!(resolve_target("/../etc/passwd").is_err());
        assert!(resolve_target("/a/%2e%2e/%2e%2e/x").is_err());
        assert!(resolve_target("/a/..%2f..%2fx").is_err());
        assert!(resolve_target("/a\\..\\x").is_err());
        assert!(resolve_target("/%5c..").is_err());
        assert!(resolve_target("/C:/x").is_err());
        assert!(resolve_target("relative").is_err());
        assert!(resolve_target("/%zz").is_err());
    }

    #[test]
    fn serves_with_headers_records_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html>hi").unwrap();
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/x.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.path().join("app.js"), "1").unwrap();
        let mut server = Server::start(dir.path(), 0).unwrap();
        let addr = server.addr();
        assert_ne!(addr.port(), 0);

        let index = get(addr, "/");
        assert!(index.starts_with("HTTP/1.1 200"), "{index}");
        assert!(index.contains("text/html"), "{index}");
        assert!(index.contains(CONTENT_SECURITY_POLICY), "{index}");
        assert!(index.contains("no-store"));
        assert!(index.ends_with("hi"));
        let wasm = get(addr, "/pkg/x.wasm");
        assert!(wasm.contains("Content-Type: application/wasm"), "{wasm}");
        let js = get(addr, "/app.js");
        assert!(js.contains("Content-Type: text/javascript"), "{js}");
        let missing = get(addr, "/nope.js");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(missing.contains(CONTENT_SECURITY_POLICY), "{missing}");
        assert!(missing.contains("nosniff"), "{missing}");
        let bad = get(addr, "/%2e%2e/secret");
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
        assert!(bad.contains(CONTENT_SECURITY_POLICY), "{bad}");

        let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/", "/pkg/x.wasm", "/app.js", "/nope.js", "/%2e%2e/secret"]);
        let mark = Instant::now();
        assert!(server.requests_since(mark).is_empty());

        let mut idle = TcpStream::connect(addr).unwrap(); // open, no request yet
        std::thread::sleep(Duration::from_millis(50));
        server.stop();
        assert!(server.is_stopped());
        idle.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(idle.read(&mut [0u8; 16]).unwrap_or(0), 0, "open connection not closed by stop()");
        assert!(TcpStream::connect(addr).is_err(), "port still accepts after stop()");
        assert_eq!(server.request_count(), 5);

        let trap = Server::tripwire(addr).unwrap();
        let late = get(addr, "/late.js");
        assert!(late.starts_with("HTTP/1.1 503"), "{late}");
        assert_eq!(trap.requests().iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/late.js"]);
    }
}
