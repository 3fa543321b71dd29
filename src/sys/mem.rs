//! The process's own memory: the allocator's settings, and giving back what start-up touched.
//!
//! vrrpd runs one process per virtual router, so every page a process keeps for itself is paid
//! once per instance (issue #14: at most 200 KiB PSS per process with 100 or 1000 instances).
//! Two things stay resident after start-up although the event loop never needs them again:
//!
//! - **Heap** that start-up used and freed (clap's parser, netlink dumps, formatted strings):
//!   glibc keeps freed memory for reuse, and by default grows the heap 128 KiB at a time
//!   (`M_TOP_PAD`) and only trims its top beyond 128 KiB free (`M_TRIM_THRESHOLD`), while every
//!   request below 128 KiB (the 64 KiB netlink receive buffers) comes from the heap, whose pages
//!   then stay once written. [`tune_allocator`] sets these limits low (mallopt(3)), and
//!   [`release_startup`] calls malloc_trim(3), which also gives back whole free pages inside the
//!   heap (`MADV_DONTNEED`).
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
//! Nothing here changes what the program computes: both only tell the kernel that memory no
//! live object uses may be reclaimed.

use std::io;

/// Requests of at least this size get their own mapping (`M_MMAP_THRESHOLD`), returned to the
/// kernel when freed: the netlink receive buffers (64 KiB, one per socket, and one more for each
/// short-lived request socket) and the event ring (about 34 KiB), whose pages would otherwise
/// stay in the heap after use.
pub const MMAP_THRESHOLD: usize = 32 * 1024;
/// Free memory at the top of the heap beyond this is given back at once (`M_TRIM_THRESHOLD`).
pub const TRIM_THRESHOLD: usize = 32 * 1024;
/// Stack kept below the caller's stack pointer by [`release_startup`]: the red zone (128 bytes,
/// System V x86-64 ABI §3.2.2) and the frames of the calls it makes itself, with room to spare.
pub const STACK_MARGIN: usize = 16 * 1024;

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
/// documentation): free heap pages (malloc_trim(3)), the main thread's stack below the caller's
/// frame and the clean pages of the executable's mappings. Call it once start-up is done, from
/// the function that runs the event loop, on the main thread (elsewhere the stack part does
/// nothing). A failure is reported, never fatal.
pub fn release_startup() -> io::Result<Released> {
    // SAFETY: malloc_trim(3) only returns free memory to the kernel; live allocations stay.
    unsafe { libc::malloc_trim(0) };
    let stack = release_stack_below_here()?;
    let image = release_image()?;
    Ok(Released { stack, image })
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

fn page_size() -> usize {
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
