//! The `nft` tool (nftables), run with a script on its standard input (`nft -f -`), for the
//! Accept_Mode packet filter ([`crate::proto::accept`] writes the scripts). Every run is
//! bounded: a run still going after its timeout is killed and reported as
//! [`NftError::TimedOut`], so a stuck `nft` can delay the caller by the timeout at most.
//!
//! Why the tool rather than nf_tables netlink from Rust: the netlink crates either are GPL
//! (`rustables`), need the C libraries libnftnl and libmnl through `unsafe` bindings (`nftnl`),
//! or only fill existing sets (`nftnl-rs`); the `nftables` crate models `nft -j` JSON but runs
//! the same binary with an unbounded wait. The filter is one small table written once at
//! start-up, which a ten-line script states plainly. Only the question every start-up asks,
//! whether a crashed predecessor left a table ([`table_exists`]), is one nf_tables netlink
//! request of our own: a message of three fields, where running `nft` cost milliseconds before
//! the first advert.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How an `nft` run failed.
#[derive(Debug)]
pub enum NftError {
    /// No `nft` program was found (the nftables package is not installed).
    Missing,
    /// `nft` ran and failed (a kernel without nf_tables, a rejected script): its exit status
    /// and first line of error output.
    Failed {
        /// Exit status (None: killed by a signal).
        status: Option<i32>,
        /// What it printed on stderr, first line.
        stderr: String,
    },
    /// `nft` did not finish within the timeout and was killed.
    TimedOut(Duration),
    /// It could not be started or talked to.
    Io(io::Error),
}

impl core::fmt::Display for NftError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NftError::Missing => write!(f, "nft not found (install the nftables package)"),
            NftError::Failed { status, stderr } => {
                match status {
                    Some(s) => write!(f, "nft exited with status {s}")?,
                    None => write!(f, "nft was killed by a signal")?,
                }
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                Ok(())
            }
            NftError::TimedOut(t) => write!(f, "nft did not finish in {t:?} (killed)"),
            NftError::Io(e) => write!(f, "nft: {e}"),
        }
    }
}

impl std::error::Error for NftError {}

/// Where `nft` is: `$VRRPD_TEST_NFT` when set (tests point it at a missing file), else the first
/// `nft` on `$PATH`, else `/usr/sbin/nft` or `/sbin/nft` (a daemon's `PATH` may lack sbin).
pub fn locate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VRRPD_TEST_NFT") {
        let p = PathBuf::from(p);
        return is_executable(&p).then_some(p);
    }
    let from_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("nft"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nft"), PathBuf::from("/sbin/nft")])
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Run `nft -f -` with `script` on its standard input; wait at most `timeout`.
pub fn run_script(nft: &Path, script: &str, timeout: Duration) -> Result<(), NftError> {
    run(nft, &["-f", "-"], Some(script), timeout)
}

/// Whether table `name` of nftables family `family` (`ip`, `ip6`) exists, asked of the kernel
/// directly: one nf_tables netlink request (`NFT_MSG_GETTABLE` on a `NETLINK_NETFILTER` socket,
/// what `nft list table FAMILY NAME` itself sends) instead of running `nft`. Every start-up
/// asks (a table a crashed predecessor left), and starting `nft` took 3-13 ms of the time to
/// the first advert (BENCHMARKS.md "Start-up"). A reply later than `timeout` is an error, as is
/// a kernel without nf_tables (the caller then knows nothing of ours can be there).
pub fn table_exists(family: &str, name: &str, timeout: Duration) -> Result<bool, NftError> {
    let fam = nfproto(family).ok_or_else(|| {
        NftError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown nftables family {family}"),
        ))
    })?;
    let sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_NETFILTER)
        .map_err(NftError::Io)?;
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
    };
    super::setsockopt(sock.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
        .map_err(NftError::Io)?;
    let seq = std::process::id() | 1;
    let req = get_table_request(fam, name, seq);
    let kernel = netlink_sys::SocketAddr::new(0, 0);
    sock.send_to(&req, &kernel, 0).map_err(NftError::Io)?;
    // The reply's first message is all that is read: the table (NFT_MSG_NEWTABLE, its name
    // and a few attributes, well under 512 bytes; a longer one is cut, its header read) or an
    // error. Anything that is not the answer to this request is skipped.
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + timeout;
    loop {
        let n = super::retry_libc(|| {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
            unsafe {
                libc::recv(
                    sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            }
        })
        .map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => NftError::TimedOut(timeout),
            _ => NftError::Io(e),
        })?;
        let got = &buf[..usize::try_from(n).unwrap_or(0).min(buf.len())];
        if let Some(answer) = table_reply(got, seq) {
            return answer.map_err(NftError::Io);
        }
        if Instant::now() >= deadline {
            return Err(NftError::TimedOut(timeout));
        }
    }
}

/// nfnetlink's nf_tables subsystem (`NFNL_SUBSYS_NFTABLES`): a message type is the subsystem
/// shifted left by 8, or'ed with the command (linux/netfilter/nfnetlink.h, nf_tables.h).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFT_MSG_NEWTABLE`: a table (the answer to a get).
const NFT_MSG_NEWTABLE: u16 = 0;
/// `NFT_MSG_GETTABLE`: ask for one table by name.
const NFT_MSG_GETTABLE: u16 = 1;
/// `NFTA_TABLE_NAME`: the table's name, a NUL-terminated string.
const NFTA_TABLE_NAME: u16 = 1;
/// `NLMSG_ERROR` (netlink(7)): an error code, 0 for an acknowledgement.
const NLMSG_ERROR: u16 = 2;

/// The `NFPROTO_*` number of an nftables family name (linux/netfilter.h).
fn nfproto(family: &str) -> Option<u8> {
    match family {
        "inet" => Some(1),
        "ip" => Some(2),
        "arp" => Some(3),
        "netdev" => Some(5),
        "bridge" => Some(7),
        "ip6" => Some(10),
        _ => None,
    }
}

/// `NFT_MSG_GETTABLE` for table `name` of family `fam`: `nlmsghdr` (netlink(7)), `nfgenmsg`
/// (family, `NFNETLINK_V0`, resource id 0) and the `NFTA_TABLE_NAME` attribute, padded to 4.
fn get_table_request(fam: u8, name: &str, seq: u32) -> Vec<u8> {
    let attr_len = 4 + name.len() + 1;
    let total = 16 + 4 + attr_len.next_multiple_of(4);
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE).to_ne_bytes());
    m.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[fam, 0, 0, 0]);
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&NFTA_TABLE_NAME.to_ne_bytes());
    m.extend_from_slice(name.as_bytes());
    m.push(0);
    m.resize(total, 0);
    m
}

/// What the first netlink message in `reply` says about a [`get_table_request`] numbered `seq`:
/// `Some(Ok(true))` the table, `Some(Ok(false))` `ENOENT` (no such table), `Some(Err)` another
/// error; `None` when it is no answer to that request (another sequence number, too short).
fn table_reply(reply: &[u8], seq: u32) -> Option<io::Result<bool>> {
    let word = |at: usize| -> Option<[u8; 4]> { reply.get(at..at + 4)?.try_into().ok() };
    let ty = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if u32::from_ne_bytes(word(8)?) != seq {
        return None;
    }
    if ty == NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE {
        return Some(Ok(true));
    }
    if ty != NLMSG_ERROR {
        return None;
    }
    Some(match i32::from_ne_bytes(word(16)?) {
        // An acknowledgement alone: nothing was said about the table.
        0 => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "nf_tables answered a table query with an acknowledgement only",
        )),
        e if e == -libc::ENOENT => Ok(false),
        e => Err(io::Error::from_raw_os_error(e.saturating_neg())),
    })
}

/// Start `nft args…`, feed `input`, and wait at most `timeout` for it, polling every
/// millisecond (a run takes a few milliseconds). Standard output is discarded.
fn run(nft: &Path, args: &[&str], input: Option<&str>, timeout: Duration) -> Result<(), NftError> {
    let start = Instant::now();
    let mut child = Command::new(nft)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                NftError::Missing
            } else {
                NftError::Io(e)
            }
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A script is a few hundred bytes: it fits the pipe, so this write does not wait on nft.
        if let Err(e) = stdin.write_all(text.as_bytes()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(NftError::Io(e));
        }
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NftError::TimedOut(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NftError::Io(e));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        // The child has exited: the pipe holds all it wrote (nft's messages are short).
        let _ = e.by_ref().take(4096).read_to_string(&mut err);
    }
    let first = err
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    Err(NftError::Failed {
        status: status.code(),
        stderr: first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_table_request_is_what_nft_list_table_sends() {
        // strace of `nft list table ip vrrpd_eth0_1_v4`: type 0xa01 (NFNL_SUBSYS_NFTABLES << 8
        // | NFT_MSG_GETTABLE), nfgenmsg AF_INET (2), then NFTA_TABLE_NAME (1), 20 bytes.
        let m = get_table_request(2, "vrrpd_eth0_1_v4", 7);
        assert_eq!(m.len(), 40);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 40);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), 0x0a01);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 1); // NLM_F_REQUEST
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        assert_eq!(&m[16..20], &[2, 0, 0, 0]);
        assert_eq!(u16::from_ne_bytes(m[20..22].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(m[22..24].try_into().unwrap()), 1);
        assert_eq!(&m[24..40], b"vrrpd_eth0_1_v4\0");
        // Padded to 4 bytes.
        let m = get_table_request(10, "t", 1);
        assert_eq!(m.len(), 28);
        assert_eq!(&m[24..28], b"t\0\0\0");
        assert_eq!(nfproto("ip"), Some(2));
        assert_eq!(nfproto("ip6"), Some(10));
        assert_eq!(nfproto("ipx"), None);
    }

    fn reply(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn table_reply_reads_the_table_enoent_and_other_errors() {
        let table = reply(0x0a00, 5, &[2, 0, 0, 0]);
        assert!(table_reply(&table, 5).unwrap().unwrap());
        let enoent = reply(2, 5, &(-libc::ENOENT).to_ne_bytes());
        assert!(!table_reply(&enoent, 5).unwrap().unwrap());
        let eperm = reply(2, 5, &(-libc::EPERM).to_ne_bytes());
        let e = table_reply(&eperm, 5).unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert!(table_reply(&reply(2, 5, &0i32.to_ne_bytes()), 5)
            .unwrap()
            .is_err());
        // Not the answer: another request's number, a short or unknown message.
        assert!(table_reply(&table, 6).is_none());
        assert!(table_reply(&table[..10], 5).is_none());
        assert!(table_reply(&reply(2, 5, &[0, 0]), 5).is_none());
        assert!(table_reply(&reply(0x0a03, 5, &[]), 5).is_none());
    }

    #[test]
    fn a_missing_program_is_missing() {
        let e = run_script(
            Path::new("/nonexistent/nft"),
            "list ruleset\n",
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, NftError::Missing), "{e}");
    }

    #[test]
    fn a_slow_program_is_killed_at_the_timeout() {
        // `sleep 5` stands in for an nft that hangs.
        let t = Instant::now();
        let r = run(
            Path::new("/bin/sleep"),
            &["5"],
            None,
            Duration::from_millis(100),
        );
        assert!(matches!(r, Err(NftError::TimedOut(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_failing_program_reports_its_status_and_first_line() {
        let r = run(
            Path::new("/bin/sh"),
            &["-c", "echo; echo 'Error: nope' >&2; exit 3"],
            None,
            Duration::from_secs(5),
        );
        match r {
            Err(NftError::Failed { status, stderr }) => {
                assert_eq!(status, Some(3));
                assert_eq!(stderr, "Error: nope");
            }
            other => panic!("{other:?}"),
        }
    }
}
