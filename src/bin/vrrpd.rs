//! `vrrpd`: argument parsing and wiring only; see the library for the daemon.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use vrrpd::cli;
use vrrpd::daemon::{self, Daemon};

/// Everything vrrpd allocates in Rust: dlmalloc on a region of its own, not glibc's malloc
/// and its per-thread cache (issue #14; see sys::alloc).
#[global_allocator]
static ALLOCATOR: vrrpd::sys::alloc::Allocator = vrrpd::sys::alloc::Allocator;

fn main() -> ExitCode {
    // Before any thread exists that could fork while holding the allocator's lock.
    vrrpd::sys::alloc::prepare_fork();
    // glibc malloc's limits, for what libc allocates itself (issue #14; see sys::mem).
    vrrpd::sys::mem::tune_allocator();
    let mut d = match start_up() {
        Ok(d) => d,
        Err(code) => return code,
    };
    let status = d.run().clamp(0, 255) as u8;
    // The pid file and control socket go with the daemon; then their directory, if empty.
    drop(d);
    vrrpd::sys::pidfile::remove_empty_ns_dir();
    ExitCode::from(status)
}

/// Everything before the event loop: the command line, detaching, the daemon's start-up. Out
/// of line, and the daemon boxed, so that `main`'s frame (on the stack under the event loop for
/// the whole run) stays small: inlined, start-up's locals made it 10 KiB, pages every process
/// kept resident (issue #14). `Err` is the exit status of a run that ends here.
#[inline(never)]
fn start_up() -> Result<Box<Daemon>, ExitCode> {
    // stderr only for now (and the journal's priority prefixes when it is the journal).
    daemon::log::init(false, false);
    let args = match cli::parse(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Err(ExitCode::SUCCESS);
            }
            daemon::log::fatal(&cli::one_line(&e));
            return Err(ExitCode::from(2));
        }
    };
    let settings = match args.validate() {
        Ok(s) => s,
        Err(e) => {
            daemon::log::fatal(&e.to_string());
            return Err(ExitCode::from(2));
        }
    };
    if let Err(e) = daemon::check_capabilities() {
        daemon::log::fatal(&e);
        return Err(ExitCode::from(1));
    }
    daemon::log::init(false, settings.debug);
    daemon::log::install_panic_hook();
    if args.cleanup {
        return match daemon::cleanup::run(&settings) {
            Ok(_) => Err(ExitCode::SUCCESS),
            Err(e) => {
                daemon::log::fatal(&e.to_string());
                Err(ExitCode::from(1))
            }
        };
    }
    // --realtime: refused at once, before detaching, when the kernel would refuse it (the
    // policy itself is set just before the event loop).
    if let Some(prio) = settings.realtime {
        if let Err(e) = daemon::realtime::check(prio) {
            daemon::log::fatal(&e);
            return Err(ExitCode::from(1));
        }
    }
    let foreground = settings.foreground;
    let debug = settings.debug;
    // Detached with no syslog daemon listening, syslog(3) would drop every line: say so while
    // stderr is still seen, and log to a file in the run directory instead.
    let log_file = if !foreground && !vrrpd::sys::syslog::available() {
        let path = vrrpd::sys::pidfile::run_dir().join("vrrpd.log");
        eprintln!(
            "vrrpd: warning: no syslog daemon listens on {}: logging to {} instead",
            vrrpd::sys::syslog::SOCKET,
            path.display()
        );
        Some(path)
    } else {
        None
    };
    // Detaching forks first: the process that runs the loop creates the pid file and joins the
    // host group; the parent exits with the child's start-up status.
    let detached = if foreground {
        None
    } else {
        match vrrpd::sys::process::fork_and_wait() {
            Ok(d) => Some(d),
            Err(e) => {
                daemon::log::fatal(&format!("cannot detach: {e}"));
                return Err(ExitCode::from(1));
            }
        }
    };
    let d = match Daemon::start(settings) {
        Ok(d) => Box::new(d),
        Err(e) => {
            daemon::log::fatal(&e.to_string());
            vrrpd::sys::pidfile::remove_empty_ns_dir();
            let status = e.status();
            if let Some(det) = detached {
                det.fail(status);
            }
            return Err(ExitCode::from(status));
        }
    };
    if let Some(det) = detached {
        if let Err(e) = det.finish() {
            daemon::log::fatal(&format!("cannot detach: {e}"));
            return Err(ExitCode::from(1));
        }
        match &log_file {
            Some(path) => {
                let opened = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| daemon::log::init_file(path, debug));
                if opened.is_err() {
                    daemon::log::init(true, debug);
                }
            }
            None => daemon::log::init(true, debug),
        }
    }
    Ok(d)
}
