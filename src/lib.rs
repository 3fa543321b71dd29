//! vrrpd: a VRRP (RFC 3768 / RFC 9568) daemon for Linux in the tradition of Advanced Vrrpd.
//!
//! Layers:
//! - [`proto`]: the protocol, pure and deterministic (packet codec, state machine, receive checks,
//!   counters). No sockets, no clocks, no logging.
//! - [`sys`]: the thin Linux shell (raw sockets, netlink, ARP/NA, pid files).
//! - [`daemon`]: the synchronous event loop that feeds the state machine and carries out its actions.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod atropos_cli;
pub mod cli;
pub mod control;
pub mod daemon;
pub mod group;
pub mod proto;
pub mod sys;
