//! The "quiet Backup" socket filter (issue #14), pure: the eBPF program a Backup's VRRP socket
//! runs, the layout of the map it reads, and the pattern of the advert it expects. The shell
//! (`crate::sys::bpf`) only loads the program, creates and maps the map and writes patterns into
//! it; the daemon (`crate::daemon::quiet`) decides when.
//!
//! # Why
//! A Backup's only work for an advert that repeats the previous one is to restart its
//! Master_Down_Timer (RFC 9568 §6.4.2, "If the Priority in the ADVERTISEMENT is ... reset the
//! Master_Down_Timer"). One process per virtual router pays a whole wake-up for that
//! (ARCHITECTURE.md, "One process per instance"). With this filter the kernel compares an
//! advert with the last one the daemon saw and, when nothing but the IPv4 identification, TOS
//! and header checksum differ, notes its arrival time (`bpf_ktime_get_ns`, CLOCK_MONOTONIC, the
//! daemon's clock) and a count in the map and drops it. The daemon reads the map when it wakes
//! anyway and at the latest when its Master_Down_Timer runs out, and feeds the stored advert at
//! the noted time, so its decisions are those it would have made on each advert: it wakes once
//! per Master_Down_Interval (less the advert interval) rather than once per advert.
//!
//! # The map
//! One `BPF_MAP_TYPE_ARRAY` entry of [`VALUE_SIZE`] bytes (host byte order):
//!
//! | offset | field |
//! |---|---|
//! | [`SEQ_OFF`] | `seq`: 0 = never armed; odd = being written or disarmed; even = armed |
//! | [`LEN_OFF`] | the expected `skb->len` |
//! | [`NWORDS_OFF`] | how many `(mask, expected)` pairs are in force |
//! | [`PAIRS_OFF`] | [`MAX_WORDS`] pairs of `u32`: a word's mask and its expected value, masked |
//! | [`LAST_OFF`] | `last_ns`: `bpf_ktime_get_ns()` of the last advert dropped as a repeat |
//! | [`COUNT_OFF`] | `count`: adverts dropped as repeats, ever (atomic add) |
//!
//! `seq` is a seqlock: the writer makes it odd, writes the pattern, makes it even; the program
//! passes the packet (wakes the daemon) if `seq` is 0 or odd, or changed while it compared.
//!
//! # The program
//! First the VRID check the classic filter made (other VRIDs are dropped, uncounted). Then: not
//! armed, a length other than the expected one, or any word that differs under its mask: the
//! packet is queued as before. The length is checked before any word is loaded, so no load is
//! out of bounds (an out-of-bounds `LD_ABS` would end the program with 0, a silent drop).
//! Words are compared with `LD_ABS W`, unrolled up to [`MAX_WORDS`].
//!
//! Words: an IPv4 raw socket's data starts at the IP header, so the words are those of the
//! packet from offset 0: word 0 under `0xFF00FFFF` (version, IHL, total length; TOS ignored),
//! word 1 (identification, flags, fragment offset) ignored, word 2 under `0xFFFF0000` (TTL and
//! protocol; header checksum ignored), then source, destination and the VRRP message. An IPv6
//! raw socket's data starts at the VRRP header: the IPv6 header's words are reached at
//! `SKF_NET_OFF` (payload length, next header 112 (an extension header makes it differ), hop
//! limit; source; destination), then the VRRP message's words. Un-armable: a length not a
//! multiple of 4, more than [`MAX_WORDS`] words, IPv4 options (IHL ≠ 5), IPv6 Hop-by-Hop
//! options.
//!
//! Only non-GPL helpers are used (`bpf_map_lookup_elem`, `bpf_ktime_get_ns`); the license string
//! is [`LICENSE`].
#![forbid(unsafe_code)]

use core::net::Ipv6Addr;

use crate::proto::Family;

/// The most words a pattern compares (the program is unrolled this far). IPv4: the 5 header
/// words and 43 of VRRP (a VRRPv3 advert with up to 41 VIPs); IPv6: 9 header words and 39 of
/// VRRP (up to 9 VIPs).
pub const MAX_WORDS: usize = 48;
/// Offset of `seq` in the map value.
pub const SEQ_OFF: usize = 0;
/// Offset of the expected `skb->len`.
pub const LEN_OFF: usize = 4;
/// Offset of the number of pairs in force.
pub const NWORDS_OFF: usize = 8;
/// Offset of the first `(mask, expected)` pair.
pub const PAIRS_OFF: usize = 16;
/// Offset of `last_ns` (8-aligned).
pub const LAST_OFF: usize = PAIRS_OFF + 8 * MAX_WORDS;
/// Offset of `count` (8-aligned, for the atomic add).
pub const COUNT_OFF: usize = LAST_OFF + 8;
/// Size of the map value.
pub const VALUE_SIZE: usize = COUNT_OFF + 8;
/// The program's license string (NUL-terminated for `bpf(2)`).
pub const LICENSE: &[u8] = b"Dual MIT/GPL\0";

/// `SKF_NET_OFF` (linux/filter.h): `LD_ABS` offsets from the network header.
const SKF_NET_OFF: i32 = -0x10_0000;
/// `BPF_PSEUDO_MAP_FD`: an `ld_imm64` whose immediate is a map descriptor.
const PSEUDO_MAP_FD: u8 = 1;
/// `BPF_FUNC_map_lookup_elem`.
const FUNC_MAP_LOOKUP: i32 = 1;
/// `BPF_FUNC_ktime_get_ns`.
const FUNC_KTIME_GET_NS: i32 = 5;
/// IPv6 words compared before the VRRP message (payload length/next header/hop limit, source,
/// destination).
const V6_HEADER_WORDS: usize = 9;

/// One eBPF instruction (linux/bpf.h `struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register (low nibble of the register byte).
    pub dst: u8,
    /// Source register (high nibble).
    pub src: u8,
    /// Jump or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads (little-endian host, as every Linux target vrrpd builds for
    /// but big-endian ones: there the register nibbles swap, which [`Insn::encode`] does too).
    pub fn encode(&self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.dst & 0x0f) | (self.src << 4)
        } else {
            (self.dst << 4) | (self.src & 0x0f)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }
}

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU64: u8 = 0x07;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const W: u8 = 0x00;
const B: u8 = 0x10;
const DW: u8 = 0x18;
const IMM: u8 = 0x00;
const ABS: u8 = 0x20;
const IND: u8 = 0x40;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
const K: u8 = 0x00;
const X: u8 = 0x08;
const OP_ADD: u8 = 0x00;
const OP_AND: u8 = 0x50;
const OP_LSH: u8 = 0x60;
const OP_MOV: u8 = 0xb0;
const OP_JA: u8 = 0x00;
const OP_JEQ: u8 = 0x10;
const OP_JSET: u8 = 0x40;
const OP_JNE: u8 = 0x50;
const OP_JLE: u8 = 0xb0;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
/// `BPF_ADD` as an atomic operation's immediate.
const ATOMIC_ADD: i32 = 0x00;

/// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// Where a jump goes: resolved when the program is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    /// Queue the packet (wake the daemon).
    Pass,
    /// Another VRID: drop, uncounted.
    Drop,
    /// Every word matched: note and drop.
    Match,
}

/// The program under construction: instructions and the jumps still to resolve.
struct Builder {
    insns: Vec<Insn>,
    fixups: Vec<(usize, Label)>,
}

impl Builder {
    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }
    fn jump(&mut self, i: Insn, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.insns.push(i);
    }
    fn here(&self) -> usize {
        self.insns.len()
    }
}

/// Why [`program`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong;

/// `ldx` of a map-value word at `off` into `dst` (from the value pointer in r7).
fn ldx_value(dst: u8, off: usize) -> Insn {
    // Offsets are below VALUE_SIZE (416): they fit.
    ins(LDX | MEM | W, dst, R7, off as i16, 0)
}

/// The offset `LD_ABS` uses for word `k` of a `family` pattern (see the module docs).
pub fn word_offset(family: Family, k: usize) -> i32 {
    let k = k as i32;
    match family {
        Family::V4 => 4 * k,
        Family::V6 => match k {
            0 => SKF_NET_OFF + 4,
            1..=8 => SKF_NET_OFF + 8 + 4 * (k - 1),
            _ => 4 * (k - V6_HEADER_WORDS as i32),
        },
    }
}

/// The filter for `vrid` on a `family` socket, with the map whose descriptor is `map_fd` (see
/// the module docs). Returns the instructions (an `ld_imm64` takes two).
pub fn program(family: Family, vrid: u8, map_fd: i32) -> Result<Vec<Insn>, TooLong> {
    let mut b = Builder {
        insns: Vec::with_capacity(16 + 6 * MAX_WORDS),
        fixups: Vec::new(),
    };
    // r6 = ctx: LD_ABS/LD_IND read the packet through r6.
    b.push(ins(ALU64 | OP_MOV | X, R6, R1, 0, 0));
    // The VRID check (as the classic filter): IPv4 at 4 * IHL + 1, IPv6 at 1.
    match family {
        Family::V4 => {
            b.push(ins(LD | ABS | B, R0, 0, 0, 0));
            b.push(ins(ALU64 | OP_AND | K, R0, 0, 0, 0x0f));
            b.push(ins(ALU64 | OP_LSH | K, R0, 0, 0, 2));
            b.push(ins(ALU64 | OP_MOV | X, R7, R0, 0, 0));
            b.push(ins(LD | IND | B, R0, R7, 0, 1));
        }
        Family::V6 => b.push(ins(LD | ABS | B, R0, 0, 0, 1)),
    }
    b.jump(
        ins(JMP | OP_JNE | K, R0, 0, 0, i32::from(vrid)),
        Label::Drop,
    );
    // r7 = lookup(map, &0), or pass.
    b.push(ins(ST | MEM | W, R10, 0, -4, 0));
    b.push(ins(ALU64 | OP_MOV | X, R2, R10, 0, 0));
    b.push(ins(ALU64 | OP_ADD | K, R2, 0, 0, -4));
    b.push(ins(LD | IMM | DW, R1, PSEUDO_MAP_FD, 0, map_fd));
    b.push(ins(0, 0, 0, 0, 0));
    b.push(ins(JMP | OP_CALL, 0, 0, 0, FUNC_MAP_LOOKUP));
    b.jump(ins(JMP | OP_JEQ | K, R0, 0, 0, 0), Label::Pass);
    b.push(ins(ALU64 | OP_MOV | X, R7, R0, 0, 0));
    // r8 = seq: 0 (never armed) or odd (being written, disarmed): pass.
    b.push(ldx_value(R8, SEQ_OFF));
    b.jump(ins(JMP | OP_JEQ | K, R8, 0, 0, 0), Label::Pass);
    b.jump(ins(JMP | OP_JSET | K, R8, 0, 0, 1), Label::Pass);
    // The length first: every load below is then in bounds.
    b.push(ldx_value(R2, LEN_OFF));
    b.push(ins(LDX | MEM | W, R3, R6, 0, 0)); // __sk_buff.len
    b.jump(ins(JMP | OP_JNE | X, R2, R3, 0, 0), Label::Pass);
    b.push(ldx_value(R9, NWORDS_OFF));
    for k in 0..MAX_WORDS {
        b.jump(ins(JMP | OP_JLE | K, R9, 0, 0, k as i32), Label::Match);
        b.push(ins(LD | ABS | W, R0, 0, 0, word_offset(family, k)));
        b.push(ldx_value(R1, PAIRS_OFF + 8 * k));
        b.push(ins(ALU64 | OP_AND | X, R0, R1, 0, 0));
        b.push(ldx_value(R1, PAIRS_OFF + 8 * k + 4));
        b.jump(ins(JMP | OP_JNE | X, R0, R1, 0, 0), Label::Pass);
    }
    b.jump(ins(JMP | OP_JA, 0, 0, 0, 0), Label::Match);
    // Match: seq unchanged, then note the time and the count, and drop.
    let match_at = b.here();
    b.push(ldx_value(R1, SEQ_OFF));
    b.jump(ins(JMP | OP_JNE | X, R1, R8, 0, 0), Label::Pass);
    b.push(ins(JMP | OP_CALL, 0, 0, 0, FUNC_KTIME_GET_NS));
    b.push(ins(STX | MEM | DW, R7, R0, LAST_OFF as i16, 0));
    b.push(ins(ALU64 | OP_MOV | K, R1, 0, 0, 1));
    b.push(ins(STX | ATOMIC | DW, R7, R1, COUNT_OFF as i16, ATOMIC_ADD));
    b.push(ins(ALU64 | OP_MOV | K, R0, 0, 0, 0));
    b.push(ins(JMP | OP_EXIT, 0, 0, 0, 0));
    // Pass: the whole packet.
    let pass_at = b.here();
    b.push(ins(ALU | OP_MOV | K, R0, 0, 0, -1));
    b.push(ins(JMP | OP_EXIT, 0, 0, 0, 0));
    // Drop: another VRID.
    let drop_at = b.here();
    b.push(ins(ALU64 | OP_MOV | K, R0, 0, 0, 0));
    b.push(ins(JMP | OP_EXIT, 0, 0, 0, 0));
    for (at, to) in std::mem::take(&mut b.fixups) {
        let target = match to {
            Label::Pass => pass_at,
            Label::Drop => drop_at,
            Label::Match => match_at,
        };
        let off = i16::try_from(target as isize - at as isize - 1).map_err(|_| TooLong)?;
        if let Some(i) = b.insns.get_mut(at) {
            i.off = off;
        }
    }
    Ok(b.insns)
}

/// The expected packet: `skb->len` and the `(mask, expected)` words, as [`Pattern::write_value`]
/// lays them into the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The expected `skb->len`.
    pub len: u32,
    /// `(mask, expected & mask)` per word.
    pub words: Vec<(u32, u32)>,
}

/// Why an advert cannot be armed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unarmable {
    /// Its length is not a multiple of 4.
    Unaligned,
    /// More than [`MAX_WORDS`] words.
    TooLong,
    /// IPv4 options or an IPv6 extension header.
    Options,
    /// Shorter than an IPv4 header, or a header that does not describe it.
    Malformed,
}

fn be(word: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(word);
    u32::from_be_bytes(w)
}

fn push_words(out: &mut Vec<(u32, u32)>, bytes: &[u8]) {
    for w in bytes.chunks_exact(4) {
        out.push((u32::MAX, be(w)));
    }
}

impl Pattern {
    /// IPv4: `packet` is the raw socket's data (IP header and VRRP message).
    pub fn ipv4(packet: &[u8]) -> Result<Pattern, Unarmable> {
        if packet.len() < 20 {
            return Err(Unarmable::Malformed);
        }
        if packet.first().map(|b| b & 0x0f) != Some(5) {
            return Err(Unarmable::Options);
        }
        if packet.len() % 4 != 0 {
            return Err(Unarmable::Unaligned);
        }
        if packet.len() / 4 > MAX_WORDS {
            return Err(Unarmable::TooLong);
        }
        let total = packet
            .get(2..4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        if total != Some(packet.len()) {
            return Err(Unarmable::Malformed);
        }
        let mut words = Vec::with_capacity(packet.len() / 4);
        for (k, w) in packet.chunks_exact(4).enumerate() {
            let mask = match k {
                0 => 0xFF00_FFFF,
                1 => 0,
                2 => 0xFFFF_0000,
                _ => u32::MAX,
            };
            words.push((mask, be(w) & mask));
        }
        Ok(Pattern {
            len: packet.len() as u32,
            words,
        })
    }

    /// IPv6: the VRRP message `vrrp` from `src` to `dst` with hop limit `hop_limit`, no
    /// extension header (`ip_options`: the socket reported a Hop-by-Hop header).
    pub fn ipv6(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        ip_options: bool,
        vrrp: &[u8],
    ) -> Result<Pattern, Unarmable> {
        if ip_options {
            return Err(Unarmable::Options);
        }
        if vrrp.len() % 4 != 0 {
            return Err(Unarmable::Unaligned);
        }
        if V6_HEADER_WORDS + vrrp.len() / 4 > MAX_WORDS {
            return Err(Unarmable::TooLong);
        }
        let mut words = Vec::with_capacity(V6_HEADER_WORDS + vrrp.len() / 4);
        let plen = u32::try_from(vrrp.len()).map_err(|_| Unarmable::TooLong)?;
        words.push((
            u32::MAX,
            (plen << 16)
                | (u32::from(crate::proto::packet::IP_PROTOCOL) << 8)
                | u32::from(hop_limit),
        ));
        push_words(&mut words, &src.octets());
        push_words(&mut words, &dst.octets());
        push_words(&mut words, vrrp);
        Ok(Pattern { len: plen, words })
    }

    /// The map value's pattern part: `(offset, value)` of every `u32` to write between making
    /// `seq` odd and making it even again (length, word count, the pairs).
    pub fn value_words(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        [(LEN_OFF, self.len), (NWORDS_OFF, self.words.len() as u32)]
            .into_iter()
            .chain(
                self.words
                    .iter()
                    .enumerate()
                    .flat_map(|(k, &(m, e))| [(PAIRS_OFF + 8 * k, m), (PAIRS_OFF + 8 * k + 4, e)]),
            )
    }

    /// Whether `packet` (as the program sees it: the words at [`word_offset`]) matches; the
    /// program's logic, for tests and for the daemon's own checks.
    pub fn matches(&self, family: Family, len: u32, word_at: impl Fn(i32) -> Option<u32>) -> bool {
        len == self.len
            && self
                .words
                .iter()
                .enumerate()
                .all(|(k, &(m, e))| word_at(word_offset(family, k)).is_some_and(|w| w & m == e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_advert() -> Vec<u8> {
        // IPv4 header (TOS c0, total 32, id 0x1234, TTL 255, proto 112, checksum 0xabcd,
        // 192.0.2.1 -> 224.0.0.18), then a VRRPv3 advert with one VIP (12 bytes).
        let mut p = vec![
            0x45, 0xc0, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0xff, 0x70, 0xab, 0xcd, 192, 0, 2, 1,
            224, 0, 0, 18,
        ];
        p.extend([0x31, 51, 100, 1, 0x00, 0x64, 0x12, 0x34, 192, 0, 2, 254]);
        p
    }

    fn word(p: &[u8], off: i32) -> Option<u32> {
        let o = usize::try_from(off).ok()?;
        p.get(o..o + 4).map(be)
    }

    #[test]
    fn layout_is_aligned_and_fits_a_page() {
        assert_eq!(LAST_OFF % 8, 0);
        assert_eq!(COUNT_OFF % 8, 0);
        assert_eq!(VALUE_SIZE, 416);
        const { assert!(VALUE_SIZE <= 4096) };
    }

    #[test]
    fn every_jump_lands_inside_the_program_and_on_an_instruction() {
        for family in [Family::V4, Family::V6] {
            let p = program(family, 51, 7).unwrap();
            // The ld_imm64's second half is not an instruction of its own.
            let second: Vec<usize> = p
                .iter()
                .enumerate()
                .filter(|(_, i)| i.code == LD | IMM | DW)
                .map(|(n, _)| n + 1)
                .collect();
            assert_eq!(second.len(), 1);
            for (n, i) in p.iter().enumerate() {
                let class = i.code & 0x07;
                let op = i.code & 0xf0;
                if class == JMP && op != OP_CALL && op != OP_EXIT {
                    let to = n as isize + 1 + isize::from(i.off);
                    assert!(to > n as isize && (to as usize) < p.len(), "{n}: {i:?}");
                    assert!(!second.contains(&(to as usize)), "{n} jumps into ld_imm64");
                }
            }
            assert_eq!(p.last().unwrap().code, JMP | OP_EXIT);
            assert!(p.len() < 4096);
            // The map descriptor is in the ld_imm64 with the pseudo source.
            let ld = p.iter().find(|i| i.code == LD | IMM | DW).unwrap();
            assert_eq!((ld.src, ld.imm), (PSEUDO_MAP_FD, 7));
        }
    }

    #[test]
    fn vrid_check_comes_first_and_drops() {
        let p = program(Family::V6, 200, 3).unwrap();
        let j = p.iter().position(|i| i.code == JMP | OP_JNE | K).unwrap();
        assert_eq!(p[j].imm, 200);
        let target = j + 1 + p[j].off as usize;
        // The drop label: r0 = 0; exit, the last two instructions.
        assert_eq!(target, p.len() - 2);
        assert_eq!(p[target].code, ALU64 | OP_MOV | K);
        assert_eq!(p[target].imm, 0);
    }

    #[test]
    fn one_compare_per_word_up_to_the_cap() {
        for family in [Family::V4, Family::V6] {
            let p = program(family, 1, 3).unwrap();
            let loads: Vec<i32> = p
                .iter()
                .filter(|i| i.code == LD | ABS | W)
                .map(|i| i.imm)
                .collect();
            assert_eq!(loads.len(), MAX_WORDS);
            for (k, off) in loads.iter().enumerate() {
                assert_eq!(*off, word_offset(family, k));
            }
        }
    }

    #[test]
    fn encoding_matches_the_kernel_layout() {
        // r1 = r6 (mov64 X): bf 61 00 00 00 00 00 00 on little-endian.
        let i = ins(ALU64 | OP_MOV | X, R1, R6, 0, 0);
        if cfg!(target_endian = "little") {
            assert_eq!(i.encode(), [0xbf, 0x61, 0, 0, 0, 0, 0, 0]);
            // if r0 != 51 goto +3: 55 00 03 00 33 00 00 00.
            let j = ins(JMP | OP_JNE | K, R0, 0, 3, 51);
            assert_eq!(j.encode(), [0x55, 0x00, 3, 0, 51, 0, 0, 0]);
            // Atomic add: db 17 98 01 00 00 00 00 (count at 408).
            let a = ins(STX | ATOMIC | DW, R7, R1, COUNT_OFF as i16, ATOMIC_ADD);
            assert_eq!(a.encode(), [0xdb, 0x17, 0x98, 0x01, 0, 0, 0, 0]);
        }
    }

    #[test]
    fn ipv4_words_mask_tos_id_and_checksum() {
        let a = v4_advert();
        let p = Pattern::ipv4(&a).unwrap();
        assert_eq!(p.len, 32);
        assert_eq!(p.words.len(), 8);
        assert_eq!(p.words[0], (0xFF00_FFFF, 0x4500_0020));
        assert_eq!(p.words[1], (0, 0));
        assert_eq!(p.words[2], (0xFFFF_0000, 0xff70_0000));
        assert_eq!(p.words[3], (u32::MAX, 0xc000_0201));
        assert!(p.matches(Family::V4, 32, |o| word(&a, o)));
        // Another identification, TOS and header checksum: still the same advert.
        let mut b = a.clone();
        b[1] = 0;
        b[4] = 0x99;
        b[10] = 0;
        assert!(p.matches(Family::V4, 32, |o| word(&b, o)));
        // Priority, TTL, source, VIP: each differs.
        for at in [22usize, 8, 15, 31] {
            let mut c = a.clone();
            c[at] ^= 1;
            assert!(!p.matches(Family::V4, 32, |o| word(&c, o)), "byte {at}");
        }
        assert!(!p.matches(Family::V4, 36, |o| word(&a, o)));
    }

    #[test]
    fn ipv4_unarmable_cases() {
        let mut a = v4_advert();
        a[0] = 0x46;
        assert_eq!(Pattern::ipv4(&a), Err(Unarmable::Options));
        let mut a = v4_advert();
        a.push(0);
        a[3] = 33;
        assert_eq!(Pattern::ipv4(&a), Err(Unarmable::Unaligned));
        let mut a = v4_advert();
        a.resize(4 * (MAX_WORDS + 1), 0);
        a[3] = (4 * (MAX_WORDS + 1)) as u8;
        assert_eq!(Pattern::ipv4(&a), Err(Unarmable::TooLong));
        let mut a = v4_advert();
        a.resize(4 * MAX_WORDS, 0);
        a[3] = (4 * MAX_WORDS) as u8;
        assert_eq!(Pattern::ipv4(&a).unwrap().words.len(), MAX_WORDS);
        assert_eq!(Pattern::ipv4(&[0x45; 12]), Err(Unarmable::Malformed));
        let mut a = v4_advert();
        a[3] = 40;
        assert_eq!(Pattern::ipv4(&a), Err(Unarmable::Malformed));
    }

    #[test]
    fn ipv6_words_start_at_the_network_header() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst = crate::proto::wire::VRRP_GROUP_V6;
        let vrrp = [0x31u8, 51, 100, 1, 0, 100, 0x12, 0x34];
        let mut vrrp = vrrp.to_vec();
        vrrp.extend("fe80::fe".parse::<Ipv6Addr>().unwrap().octets());
        let p = Pattern::ipv6(src, dst, 255, false, &vrrp).unwrap();
        assert_eq!(p.len, 24);
        assert_eq!(p.words.len(), 9 + 6);
        assert_eq!(p.words[0], (u32::MAX, (24 << 16) | (112 << 8) | 255));
        assert_eq!(p.words[1].1, 0xfe80_0000);
        assert_eq!(p.words[8].1, 0x0000_0012);
        assert_eq!(p.words[9].1, 0x3133_6401);
        assert_eq!(word_offset(Family::V6, 0), SKF_NET_OFF + 4);
        assert_eq!(word_offset(Family::V6, 1), SKF_NET_OFF + 8);
        assert_eq!(word_offset(Family::V6, 8), SKF_NET_OFF + 36);
        assert_eq!(word_offset(Family::V6, 9), 0);
        // A packet as the program sees it: the IPv6 header at SKF_NET_OFF, VRRP at 0.
        let mut hdr = vec![0x60, 0, 0, 0, 0, 24, 112, 255];
        hdr.extend(src.octets());
        hdr.extend(dst.octets());
        let seen = |o: i32| {
            if o < 0 {
                word(&hdr, o - SKF_NET_OFF)
            } else {
                word(&vrrp, o)
            }
        };
        assert!(p.matches(Family::V6, 24, seen));
        let mut hdr2 = hdr.clone();
        hdr2[6] = 0; // a Hop-by-Hop header in front
        assert!(!p.matches(Family::V6, 24, |o| if o < 0 {
            word(&hdr2, o - SKF_NET_OFF)
        } else {
            word(&vrrp, o)
        }));
        assert_eq!(
            Pattern::ipv6(src, dst, 255, true, &vrrp),
            Err(Unarmable::Options)
        );
        assert_eq!(
            Pattern::ipv6(src, dst, 255, false, &vrrp[..22]),
            Err(Unarmable::Unaligned)
        );
        let long = vec![0u8; 4 * (MAX_WORDS - 9 + 1)];
        assert_eq!(
            Pattern::ipv6(src, dst, 255, false, &long),
            Err(Unarmable::TooLong)
        );
        assert!(Pattern::ipv6(src, dst, 255, false, &long[4..]).is_ok());
    }

    #[test]
    fn value_words_cover_length_count_and_pairs() {
        let p = Pattern::ipv4(&v4_advert()).unwrap();
        let w: Vec<(usize, u32)> = p.value_words().collect();
        assert_eq!(w.len(), 2 + 2 * 8);
        assert_eq!(w[0], (LEN_OFF, 32));
        assert_eq!(w[1], (NWORDS_OFF, 8));
        assert_eq!(w[2], (PAIRS_OFF, 0xFF00_FFFF));
        assert!(w.iter().all(|(o, _)| o + 4 <= LAST_OFF));
    }
}
