//! vrrpd: a VRRP (RFC 3768 / RFC 9568) daemon for Linux in the tradition of Advanced Vrrpd.
//!
//! Layers:
//! - [`proto`]: the protocol, pure and deterministic (packet codec, state machine, receive checks,
//!   counters). No sockets, no clocks, no logging.
//! - [`sys`]: the thin Linux shell (raw sockets, netlink, ARP/NA, pid files).
//! - [`daemon`]: the synchronous event loop that feeds the state machine and carries out its actions.
//!
//! Only [`sys`] may hold raw system calls: the lint below denies them crate-wide, `sys` alone
//! allows them, and [`proto`], [`daemon`] and the binaries forbid them outright.
#![deny(unsafe_code)]

pub mod atropos_cli;
pub mod cli;
pub mod control;
pub mod daemon;
pub mod metrics;
pub mod proto;
pub mod sys;
