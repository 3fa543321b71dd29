//! `atropos`: the control tool (stub until the host-group issue lands).

fn main() {
    eprintln!("atropos: not implemented yet");
    std::process::exit(1);
}
