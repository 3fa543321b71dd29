//! Project tasks, run as `cargo xtask TASK` (alias in `.cargo/config.toml`).
//!
//! - `cargo xtask man [DIR]`: write `vrrpd.8` and `atropos.8` (default DIR: `man/` at the top of
//!   the workspace, where the pages are committed; `tests/kit.rs` fails when they drift). Without
//!   DIR it also writes the completions committed in `contrib/completions/`, which the Debian
//!   package ships (so a plain `cargo deb` needs no generation step; the same test checks them).
//! - `cargo xtask completions DIR`: write bash, zsh and fish completions for both commands.
//! - `cargo xtask bench ...`: the benchmark beside keepalived and FRR (root; run it through
//!   `scripts/bench`, see `bench/mod.rs` and BENCHMARKS.md).
//! - `cargo xtask vectors [OUT.json]`: capture keepalived's frames into `tests/data/` (root; see
//!   `vectors.rs`).
//! - `cargo xtask carp-vectors [OUT.json]`: capture ucarp's frames into `tests/data/` (root; see
//!   `carp_vectors.rs`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
mod carp_vectors;
mod frame_capture;
mod gen;
mod vectors;

const USAGE: &str =
    "usage: cargo xtask man [DIR]         write vrrpd.8 and atropos.8 (default: man/, and then
                                    also the completions in contrib/completions/)
       cargo xtask completions DIR  write bash, zsh and fish completions
       cargo xtask bench ...        benchmark beside keepalived and FRR (see scripts/bench)
       cargo xtask vectors [OUT]    capture keepalived's frames into tests/data/ (root)
       cargo xtask carp-vectors [OUT]  capture ucarp's frames into tests/data/ (root)";

fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

fn run(args: &[String]) -> Result<Vec<PathBuf>, String> {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["man"] => {
            let mut written = gen::write_man_pages(&workspace_root().join("man"))
                .map_err(|e| format!("man: {e}"))?;
            let comp = workspace_root().join("contrib/completions");
            written.extend(
                gen::write_completions(&comp)
                    .map_err(|e| format!("completions: {}: {e}", comp.display()))?,
            );
            Ok(written)
        }
        ["man", dir] => {
            gen::write_man_pages(Path::new(dir)).map_err(|e| format!("man: {dir}: {e}"))
        }
        ["completions", dir] => {
            gen::write_completions(Path::new(dir)).map_err(|e| format!("completions: {dir}: {e}"))
        }
        ["bench", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            if rest.iter().any(|a| a == "-h" || a == "--help") {
                println!("usage: {}", bench::USAGE);
                return Ok(Vec::new());
            }
            bench::main(&rest, &workspace_root()).map_err(|e| format!("bench: {e}"))
        }
        ["vectors", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            vectors::main(&rest, &workspace_root()).map_err(|e| format!("vectors: {e}"))
        }
        ["carp-vectors", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            carp_vectors::main(&rest, &workspace_root()).map_err(|e| format!("carp-vectors: {e}"))
        }
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}
