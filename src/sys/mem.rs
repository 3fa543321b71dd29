//! The process's own memory: glibc malloc's settings, and giving back what start-up touched.
//!
//! vrrpd runs one process per virtual router, so every page a process keeps for itself is paid
//! once per instance (issue #14: at most 200 KiB PSS per process with 100 or 1000 instances).
//! Three things stay resident after start-up although the event loop never needs them again:
//!
//! - **Heap** that start-up used and freed (clap's parser, netlink dumps, formatted strings).
//!   What vrrpd allocates in Rust comes from its own allocator ([`crate::sys::alloc`]:
//!   dlmalloc on a region of its own, large blocks mapped one by one), whose free top
//!   [`release_startup`] gives back. What libc allocates for itself (stdio, `opendir`) comes
//!   from glibc's malloc, which by default grows its heap 128 KiB at a time (`M_TOP_PAD`) and
//!   only trims its top beyond 128 KiB free (`M_TRIM_THRESHOLD`): [`tune_allocator`] sets these
//!   limits low (mallopt(3)), and [`release_startup`] calls malloc_trim(3), which also gives
//!   back whole free pages inside that heap (`MADV_DONTNEED`). (glibc's per-thread cache, whose
//!   parked chunks fragmented the heap, mattered while vrrpd's own blocks came from glibc: it
//!   can only be turned off by a tunable read at exec, which cost a second exec of vrrpd at
//!   every start. Its own allocator has no such cache.)
//! - **Stack** pages below the event loop's frame that argument parsing and start-up reached:
//!   the kernel never shrinks a stack. [`release_startup`] drops the pages of the main thread's
//!   `[stack]` mapping that lie below the current stack pointer minus a margin
//!   (madvise(2) `MADV_DONTNEED`: the mapping stays; a later touch gets a fresh zero page).
//! - **Code and read-only data** of the executable that only start-up ran or read (clap, most
//!   of the netlink codec): a lone process bears all of its mapped text in its PSS.
//!   [`release_startup`] unmaps the pages of the executable's mappings that hold no private
//!   page (`MADV_DONTNEED` on a private file mapping without anonymous pages drops only
//!   page-cache pages: the next touch maps the same bytes again from the page cache, as after
//!   reclaim); the loop maps back what it runs. Mappings with private pages (the relocated
//!   `RELRO` data, `.data`) are left alone: dropping them would undo their relocation.
//!
//! Nothing here changes what the program computes: all of it only tells the kernel or the
//! allocator that memory no live object uses may be reclaimed.

use std::io;

/// Requests of at least this size get their own mapping (glibc's `M_MMAP_THRESHOLD`, and
/// [`crate::sys::alloc::LARGE`] in vrrpd's own allocator), returned to the
/// kernel when freed: the netlink receive buffers (64 KiB, one per socket, and one more for each
/// short-lived request socket) and the event ring (about 34 KiB), whose pages would otherwise
/// stay in the heap after use.
pub const MMAP_THRESHOLD: usize = 32 * 1024;
/// Free memory at the top of the heap beyond this is given back at once (`M_TRIM_THRESHOLD`).
pub const TRIM_THRESHOLD: usize = 32 * 1024;
/// Stack kept below the caller's stack pointer by [`release_startup`]: the red zone (128 bytes,
/// System V x86-64 ABI §3.2.2) and the rest of the frame of the function that drops it, which
/// is all that is live below the address it measures from (136 bytes in the release build of
/// 2026-12-03; madvise(2) itself is a system call), with room to spare. Every page below this
/// that the loop needs it touches again; every page kept above is resident whether or not: at
/// 16 KiB the margin was most of the stack a process kept (issue #14).
pub const STACK_MARGIN: usize = 4 * 1024;

/// Sets glibc malloc's limits for a small long-running single-threaded process (see the module
/// documentation): one arena (`M_ARENA_MAX` 1: the helper threads of the metrics exporter and
/// syslog need no arena of their own), no padding when the heap grows (`M_TOP_PAD` 0),
/// [`TRIM_THRESHOLD`] and [`MMAP_THRESHOLD`]. Call it first in `main`; it only affects later
/// allocations. A value glibc refuses leaves its default: this is an optimisation, never an
/// error.
pub fn tune_allocator() {
    for (param, value) in [
        (libc::M_ARENA_MAX, 1),
        (libc::M_TOP_PAD, 0),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int),
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int),
    ] {
        // SAFETY: mallopt(3) takes two integers and touches only the allocator's own settings.
        unsafe { libc::mallopt(param, value) };
    }
}

/// What [`release_startup`] gave back, in bytes (for the debug log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Stack below the caller's frame.
    pub stack: usize,
    /// Clean (file-backed, unmodified) pages of the executable's mappings, mapped or not.
    pub image: usize,
}

/// Gives back what start-up touched and the event loop does not need (see the module
/// documentation): free heap pages (the free top of vrrpd's allocator, [`crate::sys::alloc::trim`];
/// glibc's, malloc_trim(3)), the main thread's stack below the caller's
/// frame and the clean pages of the executable's mappings. Call it once start-up is done, from
/// the function that runs the event loop, on the main thread (elsewhere the stack part does
/// nothing). A failure is reported, never fatal.
pub fn release_startup() -> io::Result<Released> {
    // SAFETY: malloc_trim(3) only returns free memory to the kernel; live allocations stay.
    unsafe { libc::malloc_trim(0) };
    // The same for vrrpd's own allocator (a no-op where it is not the global one: atropos,
    // the tests).
    crate::sys::alloc::trim();
    let stack = release_stack_below_here()?;
    let image = release_image()?;
    Ok(Released { stack, image })
}

/// Drops the pages that lie wholly inside receive buffer `buf` (madvise(2) `MADV_DONTNEED`):
/// its bytes read as zero afterwards, and the pages cost nothing until the next read writes
/// them. For a buffer whose contents are dead between reads (issue #14: a netlink reply
/// written 8 KiB of a 64 KiB buffer once, and those pages stayed resident for good). The
/// partial pages at either end are kept: they may hold another allocation or the allocator's
/// own header. Returns the bytes dropped; a refusal drops nothing.
pub fn release_buffer(buf: &mut [u8]) -> usize {
    let (lo, len) = (buf.as_mut_ptr() as usize, buf.len());
    release_inside(lo, len)
}

/// [`release_buffer`] for the whole capacity of a receive buffer kept as a `Vec`: emptied
/// first, so that what it held is gone as far as Rust is concerned too.
pub fn release_spare(buf: &mut Vec<u8>) -> usize {
    buf.clear();
    let spare = buf.spare_capacity_mut();
    let (lo, len) = (spare.as_mut_ptr() as usize, spare.len());
    release_inside(lo, len)
}

/// `MADV_DONTNEED` on the whole pages of `[lo, lo + len)`, the memory of one buffer that the
/// caller borrows mutably.
fn release_inside(lo: usize, len: usize) -> usize {
    let page = page_size();
    let Some(end) = lo.checked_add(len) else {
        return 0;
    };
    let first = lo.next_multiple_of(page);
    let last = end & !(page - 1);
    if last <= first {
        return 0;
    }
    // SAFETY: [first, last) lies inside one live buffer that the caller holds a mutable borrow
    // of, so no other object shares these pages, and the caller treats its bytes as dead (a
    // receive buffer between reads; a `Vec`'s spare capacity). On private anonymous memory
    // MADV_DONTNEED only replaces the pages' bytes with zeros on the next access, as a write
    // through the borrow would; the mapping stays.
    let rc = unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            last - first,
            libc::MADV_DONTNEED,
        )
    };
    if rc == 0 {
        last - first
    } else {
        0
    }
}

/// `MADV_DONTNEED` on every mapping of the running executable that is private, not writable and
/// holds no anonymous (private) page, per /proc/self/smaps (see the module documentation):
/// what code start-up or a state transition ran goes back, what the loop runs is mapped again
/// from the page cache. Part of [`release_startup`]; the daemon calls it again a while after a
/// transition. Returns the bytes of the mappings advised.
pub fn release_image() -> io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let Some(exe) = exe.to_str() else {
        return Ok(0);
    };
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut total = 0;
    for (lo, hi) in clean_image_mappings(&smaps, exe) {
        // SAFETY: [lo, hi) is a whole private, read-only file mapping of this executable with no
        // anonymous page (smaps, read just now by this single thread of control; nothing makes
        // a read-only mapping's page private without writing it, which cannot happen). Its pages
        // are the file's bytes, so dropping them changes no byte the program reads: the next
        // access maps the same page-cache page again. No Rust object owns this memory.
        let rc = unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        total += hi - lo;
    }
    Ok(total)
}

/// The mappings of /proc/PID/smaps text `smaps` that map file `exe` privately and read-only and
/// have `Anonymous: 0 kB`, as (start, end). A mapping whose `Anonymous` line is missing or
/// unreadable is not listed.
fn clean_image_mappings(smaps: &str, exe: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    // The mapping being read: (start, end, eligible so far), and whether Anonymous said 0.
    let mut cur: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some((range, rest)) = line.split_once(' ') {
            if let Some((a, b)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    // A mapping header: "lo-hi perms offset dev inode path".
                    let mut f = rest.split_whitespace();
                    let perms = f.next().unwrap_or("");
                    let path = f.nth(3).unwrap_or("");
                    let private_ro = perms.len() == 4
                        && perms.starts_with('r')
                        && perms.as_bytes().get(1) == Some(&b'-')
                        && perms.ends_with('p');
                    cur = (private_ro && path == exe && hi > lo).then_some((lo, hi));
                    continue;
                }
            }
        }
        if let Some(v) = line.strip_prefix("Anonymous:") {
            if let Some(m) = cur.take() {
                if v.split_whitespace().next() == Some("0") {
                    out.push(m);
                }
            }
        }
    }
    out
}

/// `MADV_DONTNEED` on the pages of the `[stack]` mapping below this frame's stack pointer minus
/// [`STACK_MARGIN`]. Only the main thread runs on `[stack]`; on another thread this does nothing.
#[inline(never)]
fn release_stack_below_here() -> io::Result<usize> {
    // SAFETY: getpid(2) and gettid(2) cannot fail.
    if unsafe { libc::getpid() != libc::gettid() } {
        return Ok(0);
    }
    let marker = 0u8;
    // The address of a local is within this frame: at or above the stack pointer.
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let Some((lo, hi)) = stack_range(&maps) else {
        return Ok(0);
    };
    let Some(end) = release_end(lo, hi, sp, page_size()) else {
        return Ok(0);
    };
    // SAFETY: [lo, end) lies inside the main thread's stack mapping and strictly below the
    // frame of this function minus STACK_MARGIN: no live stack data is there (the stack grows
    // down; everything below the stack pointer but the red zone is dead, and this process's
    // other threads run on stacks of their own). The mapping stays; MADV_DONTNEED only drops
    // its pages, which read as zero if touched again.
    let rc = unsafe { libc::madvise(lo as *mut libc::c_void, end - lo, libc::MADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(end - lo)
}

/// The system's page size (4096 when sysconf(3) cannot tell).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf(3) with a valid name has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// The `[stack]` line of /proc/self/maps as (start, end).
fn stack_range(maps: &str) -> Option<(usize, usize)> {
    let line = maps.lines().find(|l| l.ends_with("[stack]"))?;
    let range = line.split_whitespace().next()?;
    let (a, b) = range.split_once('-')?;
    Some((
        usize::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(b, 16).ok()?,
    ))
}

/// The end (exclusive, page aligned) of what [`release_startup`] drops from a stack mapping
/// `[lo, hi)` with the stack pointer at `sp`: `sp - STACK_MARGIN` rounded down to a page, or
/// `None` when `sp` is not in the mapping or nothing would be left to drop.
fn release_end(lo: usize, hi: usize, sp: usize, page: usize) -> Option<usize> {
    if !(lo..hi).contains(&sp) {
        return None;
    }
    let end = sp.checked_sub(STACK_MARGIN)? & !(page - 1);
    (end > lo).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_range_reads_the_stack_line() {
        let maps = "55dca1bb8000-55dca1c65000 r--p 00000000 fe:00 10010835   /usr/sbin/vrrpd\n\
                    7ffca6252000-7ffca6273000 rw-p 00000000 00:00 0          [stack]\n\
                    7ffca63a0000-7ffca63a4000 r--p 00000000 00:00 0          [vvar]\n";
        assert_eq!(
            stack_range(maps),
            Some((0x7ffc_a625_2000, 0x7ffc_a627_3000))
        );
        assert_eq!(stack_range("00400000-00401000 r-xp 0 0:0 0 /bin/x\n"), None);
        assert_eq!(stack_range("zz-yy rw-p 0 0:0 0 [stack]\n"), None);
    }

    #[test]
    fn release_end_keeps_the_margin_and_the_frame() {
        let (lo, hi, page) = (0x10_0000, 0x20_0000, 4096);
        // Below sp - margin, page aligned down.
        let sp = 0x1f_0123;
        let end = release_end(lo, hi, sp, page).unwrap();
        assert_eq!(end, (sp - STACK_MARGIN) & !(page - 1));
        assert!(end + STACK_MARGIN <= sp && end % page == 0);
        // Nothing to drop when the stack pointer is near the bottom, or outside the mapping.
        assert_eq!(release_end(lo, hi, lo + STACK_MARGIN, page), None);
        assert_eq!(release_end(lo, hi, hi, page), None);
        assert_eq!(release_end(lo, hi, lo - 1, page), None);
        assert_eq!(release_end(0, 0x1000, 0x800, page), None);
    }

    const SMAPS: &str = "\
55dca1bb8000-55dca1c65000 r--p 00000000 fe:00 10010835                   /usr/sbin/vrrpd
Size:                692 kB
Rss:                 512 kB
Anonymous:             0 kB
55dca1c65000-55dca1e88000 r-xp 000ac000 fe:00 10010835                   /usr/sbin/vrrpd
Rss:                2188 kB
Anonymous:             0 kB
55dca1e88000-55dca1e97000 r--p 002ce000 fe:00 10010835                   /usr/sbin/vrrpd
Rss:                  60 kB
Anonymous:            60 kB
55dca1e97000-55dca1e98000 rw-p 002dc000 fe:00 10010835                   /usr/sbin/vrrpd
Anonymous:             0 kB
7f60cc6ce000-7f60cc824000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f60cc8bb000-7f60cc8bd000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
7ffca6252000-7ffca6273000 rw-p 00000000 00:00 0                          [stack]
Anonymous:            72 kB
";

    #[test]
    fn clean_image_mappings_are_the_unmodified_read_only_ones() {
        // Read-only data and text, not the relocated RELRO (anonymous pages), not .data
        // (writable), not libc or the vDSO (another file).
        assert_eq!(
            clean_image_mappings(SMAPS, "/usr/sbin/vrrpd"),
            vec![
                (0x55dc_a1bb_8000, 0x55dc_a1c6_5000),
                (0x55dc_a1c6_5000, 0x55dc_a1e8_8000)
            ]
        );
        assert!(clean_image_mappings(SMAPS, "/usr/sbin/atropos").is_empty());
        // No Anonymous line: not listed.
        let cut: String = SMAPS.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(clean_image_mappings(&cut, "/usr/sbin/vrrpd").is_empty());
        assert!(clean_image_mappings("", "/usr/sbin/vrrpd").is_empty());
    }

    /// Resident pages of `[lo, lo + len)` per mincore(2) (test only).
    fn resident_pages(lo: usize, len: usize) -> usize {
        let page = page_size();
        let first = lo & !(page - 1);
        let n = (lo + len - first).div_ceil(page);
        let mut v = vec![0u8; n];
        // SAFETY: mincore(2) writes one byte per page of the range into `v`, which has n.
        let rc = unsafe { libc::mincore(first as *mut libc::c_void, n * page, v.as_mut_ptr()) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        v.iter().filter(|&&b| b & 1 != 0).count()
    }

    #[test]
    fn release_buffer_drops_the_pages_inside_and_the_buffer_stays_usable() {
        let mut v: Vec<u8> = Vec::with_capacity(64 * 1024);
        v.resize(64 * 1024, 7);
        let (lo, cap) = (v.as_ptr() as usize, v.capacity());
        assert!(resident_pages(lo, cap) >= 16);
        let dropped = release_spare(&mut v);
        assert!(v.is_empty());
        assert!(dropped >= 60 * 1024, "{dropped}");
        // At most the two partial pages at the ends stay.
        assert!(resident_pages(lo, cap) <= 2, "{}", resident_pages(lo, cap));
        v.resize(64 * 1024, 9);
        assert!(v.iter().all(|&b| b == 9));

        let mut b = vec![5u8; 9000];
        let d = release_buffer(&mut b);
        assert!(d >= 4096, "{d}");
        // The bytes of the dropped pages read as zero, the rest is kept.
        assert_eq!(b.iter().filter(|&&x| x == 0).count(), d);
        assert_eq!(b.iter().filter(|&&x| x == 5).count(), 9000 - d);
        assert_eq!(release_buffer(&mut [0u8; 16]), 0);
    }

    #[test]
    fn release_startup_keeps_this_threads_stack_usable() {
        // On a test thread (not the main thread) the stack part does nothing; the test binary's
        // clean code pages are dropped and mapped back as it runs on.
        let r = release_startup().unwrap();
        assert_eq!(r.stack, 0);
        assert!(r.image > 0);
        tune_allocator();
        let v: Vec<u8> = vec![7; 100 * 1024];
        assert!(v.iter().all(|&b| b == 7));
    }
}
