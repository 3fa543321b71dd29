//! The control protocol's client side (used by `atropos`): one request, one response, bounded
//! by timeouts so a wedged instance cannot hang the caller.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{Request, Response};

/// Send one request to one socket (3 s to answer).
pub fn call(sock: &Path, req: &Request) -> std::io::Result<Response> {
    call_within(sock, req, Duration::from_secs(3))
}

/// Send one request to one socket; reading or writing for longer than `timeout` is an error
/// (`WouldBlock` or `TimedOut`), so a stopped or wedged instance cannot hang the caller.
pub fn call_within(sock: &Path, req: &Request, timeout: Duration) -> std::io::Result<Response> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    s.write_all(&line)?;
    let mut r = BufReader::new(s);
    let mut resp = String::new();
    r.read_line(&mut resp)?;
    serde_json::from_str(&resp).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
