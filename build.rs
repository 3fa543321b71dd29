//! Links the binaries as position-dependent executables (`-no-pie`, issue #14).
//!
//! A position-independent executable is relocated at every start: the dynamic loader writes the
//! load address into every pointer of its `.data.rel.ro` and GOT (vtables, string tables,
//! clap's and the netlink codec's static data), so those pages (about 28 KiB in a release
//! build) become private to each process although their contents are the same everywhere.
//! vrrpd runs one process per virtual router, so that is paid per instance (28 MiB with 1000);
//! a position-dependent executable is linked at a fixed address and these pages stay shared
//! page-cache pages. The code is still compiled position-independent (rustc's default); only
//! the executable's load address is fixed (no ASLR of its own image: the stack, heap, shared
//! libraries and mappings stay randomised). `scripts/memory` measures it; the Debian package
//! overrides lintian's `hardening-no-pie` with this reason (contrib/deb/lintian-overrides).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
