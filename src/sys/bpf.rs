//! The quiet Backup's eBPF socket filter (issue #14): `bpf(2)` calls, the map mapped into the
//! daemon, the seqlock writer. What the program does and how the map is laid out is
//! [`crate::proto::wire::quiet`]; this module only loads, maps and writes.
//!
//! - The map: `BPF_MAP_CREATE`, one `BPF_MAP_TYPE_ARRAY` entry of
//!   [`quiet::VALUE_SIZE`] bytes, `BPF_F_MMAPABLE`, mapped `MAP_SHARED` from the first arm on
//!   and unmapped on leaving Backup (the kernel maps the page at once: 4 KiB of PSS while
//!   mapped, none on a Master). The daemon reads `last_ns` and `count` with plain atomic
//!   loads, no system call.
//! - The program: `BPF_PROG_LOAD` of type `BPF_PROG_TYPE_SOCKET_FILTER`; on refusal the
//!   verifier's last log line is in the error. Attached with `SO_ATTACH_BPF` (replacing the
//!   classic VRID filter), again to a reopened socket.
//! - Writing a pattern: `seq` made odd (release), the words stored, `seq` made even (release):
//!   the program passes any packet it compared while `seq` was odd or changed.
//!
//! Needs `CAP_BPF` (or `CAP_SYS_ADMIN`); without it every call fails with `EPERM` and the
//! daemon keeps the classic filter.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::proto::wire::quiet::{self, Pattern, COUNT_OFF, LAST_OFF, SEQ_OFF, VALUE_SIZE};
use crate::proto::Family;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
const BPF_F_MMAPABLE: u32 = 1 << 10;
/// `SO_ATTACH_BPF` (asm-generic/socket.h; the same on x86 and arm).
const SO_ATTACH_BPF: libc::c_int = 50;
/// `union bpf_attr` as far as these commands use it, zero-filled beyond.
const ATTR_LEN: usize = 128;
/// Verifier log buffer, used only to explain a refusal.
const LOG_LEN: usize = 64 * 1024;

#[repr(C, align(8))]
struct Attr([u8; ATTR_LEN]);

impl Attr {
    fn new() -> Attr {
        Attr([0; ATTR_LEN])
    }
    fn put_u32(&mut self, off: usize, v: u32) {
        if let Some(s) = self.0.get_mut(off..off + 4) {
            s.copy_from_slice(&v.to_ne_bytes());
        }
    }
    fn put_u64(&mut self, off: usize, v: u64) {
        if let Some(s) = self.0.get_mut(off..off + 8) {
            s.copy_from_slice(&v.to_ne_bytes());
        }
    }
    fn put_name(&mut self, off: usize, name: &[u8]) {
        let n = name.len().min(15);
        if let (Some(s), Some(src)) = (self.0.get_mut(off..off + n), name.get(..n)) {
            s.copy_from_slice(src);
        }
    }
}

/// `bpf(cmd, attr)` returning a new descriptor.
fn bpf_fd(cmd: libc::c_long, attr: &mut Attr) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is ATTR_LEN readable and writable bytes laid out as `union bpf_attr`
    // for `cmd`; every pointer in it (instructions, license, log) points to memory the caller
    // keeps alive for the call. The kernel copies what it needs.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            ATTR_LEN as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(r).map_err(|_| io::Error::other("bpf: bad descriptor"))?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns (the map and program
    // descriptors are created close-on-exec).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The map mapped into the daemon.
#[derive(Debug)]
struct Mapped {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping `mmap` returned; nothing refers to it
        // after this (the atomics borrowed from it live only inside `&self` methods).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// The loaded filter of one VRRP socket: the program and its map.
#[derive(Debug)]
pub struct QuietFilter {
    prog: OwnedFd,
    map: OwnedFd,
    /// The value, mapped while the daemon arms (see [`QuietFilter::unmap`]).
    mem: Option<Mapped>,
    /// `seq` as last written (only this process writes it).
    seq: u32,
}

impl QuietFilter {
    /// Create the map, map it and load the program for `vrid` on a `family` socket.
    pub fn load(family: Family, vrid: u8) -> io::Result<QuietFilter> {
        let mut a = Attr::new();
        a.put_u32(0, BPF_MAP_TYPE_ARRAY);
        a.put_u32(4, 4);
        a.put_u32(8, VALUE_SIZE as u32);
        a.put_u32(12, 1);
        a.put_u32(16, BPF_F_MMAPABLE);
        a.put_name(28, b"vrrpd_quiet");
        let map = bpf_fd(BPF_MAP_CREATE, &mut a)?;
        let insns = quiet::program(family, vrid, map.as_raw_fd())
            .map_err(|_| io::Error::other("quiet filter: a jump out of range"))?;
        let code: Vec<u8> = insns.iter().flat_map(|i| i.encode()).collect();
        let prog = match load_prog(&code, false) {
            Ok(p) => p,
            Err(e) => {
                // Once more with the verifier's log, to say why.
                let why = load_prog(&code, true)
                    .err()
                    .map_or(e.to_string(), |e| e.to_string());
                return Err(io::Error::new(e.kind(), why));
            }
        };
        Ok(QuietFilter {
            prog,
            map,
            mem: None,
            seq: 0,
        })
    }

    /// Map the map's value (one page) if it is not mapped. The kernel maps its pages at once
    /// (`remap_vmalloc_range`): they count in the process's PSS from here on, so a Master
    /// that never armed has none.
    fn mapped(&mut self) -> io::Result<&Mapped> {
        if self.mem.is_none() {
            let page = crate::sys::mem::page_size().max(4096);
            let len = VALUE_SIZE.div_ceil(page) * page;
            // SAFETY: a new shared mapping of the map's value area (offset 0, `len` bytes, a
            // whole number of pages covering the one entry); the kernel checks the size and
            // protection.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    self.map.as_raw_fd(),
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap: null"))?;
            self.mem = Some(Mapped { ptr, len });
        }
        self.mem
            .as_ref()
            .ok_or_else(|| io::Error::other("map not mapped"))
    }

    /// Give back the mapping (leaving Backup): the map and its notes stay in the kernel.
    /// Disarm first.
    pub fn unmap(&mut self) {
        self.mem = None;
    }

    /// Attach the program to `sock` (`SO_ATTACH_BPF`, replacing its classic filter).
    pub fn attach(&self, sock: BorrowedFd<'_>) -> io::Result<()> {
        let fd: libc::c_int = self.prog.as_raw_fd();
        // SAFETY: `fd` is an int the kernel copies; `sock` is a live descriptor.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_ATTACH_BPF,
                (&fd as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Write `p` as the expected advert and arm (seqlock: odd, words, even).
    pub fn arm(&mut self, p: &Pattern) -> io::Result<()> {
        let mut seq = self.seq;
        let m = self.mapped()?;
        if seq % 2 == 0 {
            seq = seq.wrapping_add(1);
            m.u32_at(SEQ_OFF).store(seq, Ordering::Release);
            fence(Ordering::SeqCst);
        }
        for (off, v) in p.value_words() {
            m.u32_at(off).store(v, Ordering::Relaxed);
        }
        seq = seq.wrapping_add(1);
        if seq == 0 {
            // Even and never 0 (0 means "never armed").
            seq = 2;
        }
        fence(Ordering::Release);
        m.u32_at(SEQ_OFF).store(seq, Ordering::Release);
        self.seq = seq;
        Ok(())
    }

    /// Disarm: `seq` odd, so every packet is passed. Not mapped: never armed since the last
    /// [`QuietFilter::unmap`], which followed a disarm.
    pub fn disarm(&mut self) {
        if let Some(m) = &self.mem {
            if self.seq % 2 == 0 {
                self.seq = self.seq.wrapping_add(1);
                m.u32_at(SEQ_OFF).store(self.seq, Ordering::Release);
                fence(Ordering::SeqCst);
            }
        }
    }

    /// `(last_ns, count)`: when the program last dropped a repeat (CLOCK_MONOTONIC ns), and how
    /// many it dropped ever; `None` when not mapped.
    pub fn read(&self) -> Option<(u64, u64)> {
        let m = self.mem.as_ref()?;
        let count = m.u64_at(COUNT_OFF).load(Ordering::Acquire);
        let last = m.u64_at(LAST_OFF).load(Ordering::Acquire);
        Some((last, count))
    }
}

impl Mapped {
    fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % 4 == 0 && off + 4 <= VALUE_SIZE);
        // SAFETY: `off` is a 4-aligned offset inside the mapped value (VALUE_SIZE ≤ the
        // mapping, page-aligned base), valid as long as `self`; the kernel program accesses the
        // same memory, so every access here is atomic.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU32>() }
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off % 8 == 0 && off + 8 <= VALUE_SIZE);
        // SAFETY: as `u32_at`, 8-aligned.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU64>() }
    }
}

fn load_prog(code: &[u8], with_log: bool) -> io::Result<OwnedFd> {
    let mut log = if with_log {
        vec![0u8; LOG_LEN]
    } else {
        Vec::new()
    };
    let mut a = Attr::new();
    a.put_u32(0, BPF_PROG_TYPE_SOCKET_FILTER);
    a.put_u32(4, (code.len() / 8) as u32);
    a.put_u64(8, code.as_ptr() as u64);
    a.put_u64(16, quiet::LICENSE.as_ptr() as u64);
    if with_log {
        a.put_u32(24, 1);
        a.put_u32(28, LOG_LEN as u32);
        a.put_u64(32, log.as_mut_ptr() as u64);
    }
    a.put_name(48, b"vrrpd_quiet");
    bpf_fd(BPF_PROG_LOAD, &mut a).map_err(|e| {
        let text = String::from_utf8_lossy(log.split(|b| *b == 0).next().unwrap_or(&[]))
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::to_string);
        match text {
            Some(t) => io::Error::new(e.kind(), format!("{e}: verifier: {t}")),
            None => e,
        }
    })
}
