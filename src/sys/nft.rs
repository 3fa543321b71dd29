//! The `nft` tool (nftables), run with a script on its standard input (`nft -f -`), for the
//! Accept_Mode packet filter ([`crate::proto::accept`] writes the scripts). Every run is
//! bounded: a run still going after its timeout is killed and reported as
//! [`NftError::TimedOut`], so a stuck `nft` can delay the caller by the timeout at most.
//!
//! Why the tool rather than nf_tables netlink from Rust: the netlink crates either are GPL
//! (`rustables`), need the C libraries libnftnl and libmnl through `unsafe` bindings (`nftnl`),
//! or only fill existing sets (`nftnl-rs`); the `nftables` crate models `nft -j` JSON but runs
//! the same binary with an unbounded wait. The filter is one small table written once at
//! start-up, which a ten-line script states plainly.

use std::io::{self, Read, Write};
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

/// Whether table `name` of nftables family `family` (`ip`, `ip6`) exists.
pub fn table_exists(
    nft: &Path,
    family: &str,
    name: &str,
    timeout: Duration,
) -> Result<bool, NftError> {
    match run(nft, &["list", "table", family, name], None, timeout) {
        Ok(()) => Ok(true),
        // "Error: No such file or directory": the table is not there.
        Err(NftError::Failed {
            status: Some(1),
            stderr,
        }) if stderr.contains("No such file") => Ok(false),
        Err(e) => Err(e),
    }
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
