//! The long-running HTTP exporter (`atropos --metrics-listen ADDR:PORT`): one synchronous
//! thread that answers `GET /metrics` by reading every control socket anew ([`super::scrape`])
//! and rendering them ([`super::render`]). `/` tells where the metrics are; any other path is
//! 404, any other method 405. A broken or stale socket is an instance that is not running
//! (`vrrpd_up 0`), never an error of the scrape.
//!
//! The HTTP server is `tiny_http` (no async runtime); each instance may take
//! [`super::scrape::ANSWER_TIMEOUT`] to answer, so a scrape of N wedged instances takes N
//! seconds at worst.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

use super::scrape::{self, Answer, Filter, SocketId};
use super::{render, Liveness};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exporter could not start.
#[derive(Debug)]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why.
    pub reason: String,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.reason)
    }
}

impl std::error::Error for BindError {}

/// A bound exporter.
pub struct Exporter {
    server: Server,
    dir: PathBuf,
    filter: Filter,
    timeout: Duration,
    live: Liveness,
    /// What each socket answered last (running, or why not), to log changes once.
    seen: HashMap<SocketId, Option<String>>,
}

impl Exporter {
    /// Listen on `addr`; serve the instances whose sockets are in `dir` and that `filter`
    /// selects.
    pub fn bind(addr: SocketAddr, dir: PathBuf, filter: Filter) -> Result<Exporter, BindError> {
        let server = Server::http(addr).map_err(|e| BindError {
            addr,
            reason: e.to_string(),
        })?;
        Ok(Exporter {
            server,
            dir,
            filter,
            timeout: scrape::ANSWER_TIMEOUT,
            live: Liveness::default(),
            seen: HashMap::new(),
        })
    }

    /// The address listened on (the port chosen when 0 was asked).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serve until the process ends.
    pub fn serve(mut self) {
        loop {
            match self.server.recv() {
                Ok(req) => self.answer(req),
                Err(e) => {
                    eprintln!("atropos: exporter: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Serve `n` requests, or fewer if none comes for `idle` (tests).
    pub fn serve_some(mut self, n: usize, idle: Duration) {
        for _ in 0..n {
            match self.server.recv_timeout(idle) {
                Ok(Some(req)) => self.answer(req),
                _ => return,
            }
        }
    }

    fn answer(&mut self, req: Request) {
        let path = req.url().split('?').next().unwrap_or("");
        let resp = match (req.method(), path) {
            (Method::Get | Method::Head, "/metrics") => self.metrics(),
            (Method::Get | Method::Head, "/") => text(
                200,
                "vrrpd exporter (atropos --metrics-listen): the metrics are at /metrics\n".into(),
            ),
            (Method::Get | Method::Head, _) => text(404, "not found: try /metrics\n".into()),
            _ => text(405, "method not allowed: GET /metrics\n".into()),
        };
        // A client gone before the answer is nobody's error.
        let _ = req.respond(resp);
    }

    fn metrics(&mut self) -> Response<std::io::Cursor<Vec<u8>>> {
        let scraped = match scrape::scrape(&self.dir, self.timeout, &self.filter) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("cannot read {}: {e}", self.dir.display());
                eprintln!("atropos: exporter: {msg}");
                return text(500, msg + "\n");
            }
        };
        for s in &scraped {
            let now = match &s.answer {
                Answer::Running { .. } => None,
                Answer::NotRunning(why) => Some(why.clone()),
            };
            let before = self.seen.insert(s.id.clone(), now.clone());
            if before.as_ref() != Some(&now) {
                match &now {
                    Some(why) => eprintln!(
                        "atropos: exporter: {}/{} ({}): not running: {why}",
                        s.id.interface, s.id.vrid, s.id.family
                    ),
                    None if before.is_some() => eprintln!(
                        "atropos: exporter: {}/{} ({}): running",
                        s.id.interface, s.id.vrid, s.id.family
                    ),
                    None => {}
                }
            }
        }
        self.seen
            .retain(|id, _| scraped.iter().any(|s| s.id == *id));
        self.live.observe(&scraped);
        match render(&scraped, &self.live) {
            Ok(body) => with_type(Response::from_data(body.into_bytes()), CONTENT_TYPE),
            Err(e) => text(500, format!("cannot render the metrics: {e}\n")),
        }
    }
}

fn with_type(
    r: Response<std::io::Cursor<Vec<u8>>>,
    ty: &str,
) -> Response<std::io::Cursor<Vec<u8>>> {
    match Header::from_bytes(&b"Content-Type"[..], ty.as_bytes()) {
        Ok(h) => r.with_header(h),
        Err(()) => r,
    }
}

fn text(code: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    with_type(
        Response::from_data(body.into_bytes()).with_status_code(code),
        "text/plain; charset=utf-8",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, line: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "{line}\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Paths and methods: /metrics 200 with the exposition content type (a stale socket is
    /// `vrrpd_up 0`), / 200, anything else 404, POST 405; garbage does not stop it.
    #[test]
    fn paths_methods_and_a_stale_socket() {
        let dir = std::env::temp_dir().join(format!("vrrpd-exporter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        drop(std::os::unix::net::UnixListener::bind(dir.join("vrrpd_eth0_51.sock")).unwrap());
        let e = Exporter::bind(
            "127.0.0.1:0".parse().unwrap(),
            dir.clone(),
            Filter::default(),
        )
        .unwrap();
        let addr = e.local_addr().unwrap();
        // Left to end with the test process (tiny_http answers the garbage itself, uncounted).
        std::thread::spawn(move || e.serve_some(100, Duration::from_secs(30)));
        let r = get(addr, "GET /metrics HTTP/1.1");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains(CONTENT_TYPE), "{r}");
        assert!(
            r.contains(r#"vrrpd_up{family="ipv4",interface="eth0",vrid="51"} 0"#),
            "{r}"
        );
        assert!(!r.contains("vrrpd_state"), "{r}");
        assert!(get(addr, "GET /metrics?x=1 HTTP/1.1").starts_with("HTTP/1.1 200"));
        assert!(get(addr, "GET / HTTP/1.1").starts_with("HTTP/1.1 200"));
        assert!(get(addr, "GET /metricsx HTTP/1.1").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "GET /../etc/passwd HTTP/1.1").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1").starts_with("HTTP/1.1 405"));
        let _ = get(addr, "\u{1}\u{2} garbage");
        assert!(get(addr, "GET /metrics HTTP/1.1").starts_with("HTTP/1.1 200"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
