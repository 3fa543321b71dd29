//! The control socket server: non-blocking, polled from the event loop. A connection is served
//! when its request line is complete (or too long, or malformed: an error reply); at most
//! [`MAX_CONNS`] are open at once, each for at most one second, so no client can wedge the loop.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::control::{self, Request, Response, MAX_REQUEST};

/// Most connections served at once.
pub const MAX_CONNS: usize = 8;
const CONN_TIMEOUT: Duration = Duration::from_secs(1);

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    deadline: Duration,
}

/// The listening socket and the connections in progress.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    conns: Vec<Conn>,
    /// Requests refused as malformed or oversized.
    pub bad_requests: u64,
    /// Who is at the other end of a connection (`SO_PEERCRED`), given by the caller.
    peer_uid: PeerUid,
    /// The uid allowed besides root (the daemon's own).
    owner: u32,
    /// After an `accept` error other than "nothing pending" (EMFILE, ENFILE, ENOBUFS), the
    /// listener is left out of the poll set until then, so the loop does not spin.
    accept_paused_until: Option<Duration>,
    /// Connections refused because the peer is neither root nor `owner`: (count, last uid).
    pub refused: Option<(u64, u32)>,
    /// Connections whose `subscribe` was accepted, with the request and the reply line, for
    /// the daemon to take ([`Server::take_subscribed`]) into its [`super::stream::Subscribers`].
    subscribed: Vec<(UnixStream, Request, Vec<u8>)>,
}

/// Returns the uid of a connected peer (`SO_PEERCRED`).
pub type PeerUid = fn(BorrowedFd<'_>) -> io::Result<u32>;

/// How long the listener rests after an `accept` error such as EMFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

impl Server {
    /// Bind at `path` (mode 0600; the caller sets a umask of 0o177 around the call so that
    /// the socket never has a looser mode). The caller holds the instance's pid-file lock, so a
    /// socket file already there is a stale one left by a crash and is replaced. Only root and
    /// `owner` are served; `peer_uid` tells who connected.
    ///
    /// The socket is bound (and listening) under a temporary name and renamed into place, so
    /// that whoever sees `path` appear (`atropos --follow` watches the directory) can connect.
    pub fn bind(path: &Path, owner: u32, peer_uid: PeerUid) -> io::Result<Server> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp)?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            conns: Vec::new(),
            bad_requests: 0,
            peer_uid,
            owner,
            accept_paused_until: None,
            refused: None,
            subscribed: Vec::new(),
        })
    }

    /// Descriptors to poll for input.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> + '_ {
        // When full, the listener is left out: a pending connection must not make poll(2)
        // return at once, again and again, until a slot frees.
        let listen = self.conns.len() < MAX_CONNS && self.accept_paused_until.is_none();
        listen
            .then(|| self.listener.as_fd())
            .into_iter()
            .chain(self.conns.iter().map(|c| c.stream.as_fd()))
    }

    /// The earliest connection deadline.
    pub fn deadline(&self) -> Option<Duration> {
        self.conns
            .iter()
            .map(|c| c.deadline)
            .chain(self.accept_paused_until)
            .min()
    }

    /// Accept, read and answer what is ready. `handle` turns a request into a response.
    pub fn poll(&mut self, now: Duration, mut handle: impl FnMut(Request) -> Response) {
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
        }
        while self.conns.len() < MAX_CONNS && self.accept_paused_until.is_none() {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let uid = (self.peer_uid)(stream.as_fd());
                    let allowed = matches!(uid, Ok(u) if u == 0 || u == self.owner);
                    if !allowed {
                        let u = uid.unwrap_or(u32::MAX);
                        let n = self.refused.map_or(0, |(n, _)| n);
                        self.refused = Some((n + 1, u));
                        // Dropped unanswered: nothing is told to a user who may not ask.
                        continue;
                    }
                    if stream.set_nonblocking(true).is_ok() {
                        self.conns.push(Conn {
                            stream,
                            buf: Vec::new(),
                            deadline: now + CONN_TIMEOUT,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // EMFILE and the like: the connection stays queued and the listener
                    // readable; rest instead of retrying at once, for ever.
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    break;
                }
            }
        }
        let mut i = 0;
        while i < self.conns.len() {
            let done = match self.conns.get_mut(i) {
                Some(c) => serve(c, now, &mut handle, &mut self.bad_requests),
                None => Served::Done,
            };
            match done {
                Served::Done => {
                    self.conns.swap_remove(i);
                }
                Served::Subscribed(req, reply) => {
                    let c = self.conns.swap_remove(i);
                    self.subscribed.push((c.stream, req, reply));
                }
                Served::Waiting => i += 1,
            }
        }
    }

    /// The connections whose `subscribe` was accepted since the last call: the stream, the
    /// request (its `from`) and the reply line still to be written first.
    pub fn take_subscribed(&mut self) -> Vec<(UnixStream, Request, Vec<u8>)> {
        std::mem::take(&mut self.subscribed)
    }
}

/// How far a connection is.
enum Served {
    /// Answered (or failed): close it.
    Done,
    /// Its request is not complete yet.
    Waiting,
    /// An accepted `subscribe`: it stays open as a subscriber.
    Subscribed(Request, Vec<u8>),
}

fn serve(
    c: &mut Conn,
    now: Duration,
    handle: &mut impl FnMut(Request) -> Response,
    bad: &mut u64,
) -> Served {
    let mut chunk = [0u8; 1024];
    loop {
        match c.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                c.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                if c.buf.len() > MAX_REQUEST || c.buf.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if now >= c.deadline {
                    *bad += 1;
                    reply(&mut c.stream, &Response::error("request timed out"));
                    return Served::Done;
                }
                return Served::Waiting;
            }
            Err(_) => return Served::Done,
        }
    }
    let line = match c.buf.iter().position(|b| *b == b'\n') {
        Some(p) => c.buf.get(..p).unwrap_or(&[]),
        None => &c.buf[..],
    };
    let resp = match control::parse_request(line) {
        Ok(req) if req.cmd == control::Command::Subscribe => {
            let resp = handle(req.clone());
            if resp.ok {
                if let Ok(mut v) = serde_json::to_vec(&resp) {
                    v.push(b'\n');
                    return Served::Subscribed(req, v);
                }
            }
            resp
        }
        Ok(req) => handle(req),
        Err(e) => {
            *bad += 1;
            Response::error(e)
        }
    };
    reply(&mut c.stream, &resp);
    Served::Done
}

fn reply(s: &mut UnixStream, r: &Response) {
    if let Ok(mut v) = serde_json::to_vec(r) {
        v.push(b'\n');
        // The reply is small; a client that does not read it loses it (the socket is non-blocking).
        let _ = s.set_nonblocking(false);
        let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = s.write_all(&v);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
