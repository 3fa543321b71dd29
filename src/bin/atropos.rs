//! `atropos`: argument parsing and wiring only; see [`vrrpd::atropos_cli`].
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use vrrpd::atropos_cli::{self, Args};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("atropos: {}", vrrpd::cli::one_line(&e));
            return ExitCode::from(2);
        }
    };
    ExitCode::from(atropos_cli::run(args))
}
