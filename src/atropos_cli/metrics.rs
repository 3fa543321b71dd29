//! `atropos --metrics` (the instances in the Prometheus text format, once, for node_exporter's
//! textfile collector) and `atropos --metrics-listen ADDR:PORT` (the same over HTTP, read anew
//! at each scrape); the work is in [`crate::metrics`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use crate::metrics::exporter::Exporter;
use crate::metrics::scrape::{self, Filter};
use crate::metrics::{render, Liveness};

/// Print the metrics once. 0 when written, whatever the instances' states (a cron job must
/// replace the file also when a daemon died); 1 when the run directory cannot be read.
pub fn print(dir: &Path, filter: Filter) -> u8 {
    let scraped = match scrape::scrape(dir, scrape::ANSWER_TIMEOUT, &filter) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("atropos: --metrics: cannot read {}: {e}", dir.display());
            return 1;
        }
    };
    let mut live = Liveness::default();
    live.observe(&scraped);
    let text = match render(&scraped, &live) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("atropos: --metrics: {e}");
            return 1;
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("atropos: --metrics: cannot write: {e}");
            1
        }
    }
}

/// Serve the metrics on `addr` until killed; 1 when it cannot listen.
pub fn listen(addr: SocketAddr, dir: &Path, filter: Filter) -> u8 {
    match Exporter::bind(addr, dir.to_path_buf(), filter) {
        Ok(e) => {
            eprintln!(
                "atropos: serving the metrics of {} on http://{}/metrics",
                dir.display(),
                e.local_addr().unwrap_or(addr)
            );
            e.serve();
            0
        }
        Err(e) => {
            eprintln!("atropos: --metrics-listen {addr}: {e}");
            1
        }
    }
}
