//! vrrpd's own global allocator (issue #14): Doug Lea's malloc (the `dlmalloc` crate) on one
//! contiguous region of this process's, and a mapping of its own for every large block.
//!
//! Why not glibc's malloc: its per-thread cache (tcache) keeps up to seven freed chunks of
//! each small size in front of the heap, never merged with their neighbours, so the free
//! space between them is neither reused for larger requests nor given back. The cache can only
//! be turned off by a tunable read when the program starts (`GLIBC_TUNABLES`), which cost vrrpd
//! a second exec of itself at every start (a whole dynamic start: the loader, libgcc_s's CPU
//! probes; about 0.8 ms of CPU on an idle machine, 2-3 ms under load, before the first advert).
//! dlmalloc merges every freed chunk with its free neighbours at once and has no cache, so
//! the heap stays as compact as glibc's without the tcache, with no re-exec; everything vrrpd
//! allocates in Rust goes through it. What libc allocates for itself (stdio, `opendir`) stays
//! with glibc's malloc, whose limits [`crate::sys::mem::tune_allocator`] still sets; hooks,
//! checks and `nft` are separate programs (fork and exec) with their own.
//!
//! - **Small blocks** (below [`LARGE`]) come from dlmalloc, which takes memory from one
//!   region reserved at the first allocation ([`RESERVE`] bytes of address space,
//!   `PROT_NONE`: neither memory nor commit charge) and made readable and writable a
//!   [`GRANULE`] at a time from its bottom, like a program break. dlmalloc's segments are thus
//!   adjacent and merge into one, and [`trim`] gives the free top back to the kernel (the
//!   pages are replaced by fresh `PROT_NONE` ones: their memory and commit charge go). Should
//!   the region be full, dlmalloc gets further segments as mappings of their own.
//! - **Large blocks** (the 64 KiB netlink receive buffers, the event ring) get a mapping each,
//!   unmapped when freed, as glibc does beyond `M_MMAP_THRESHOLD`
//!   ([`crate::sys::mem::MMAP_THRESHOLD`]): their pages never stay behind in the heap.
//!
//! One lock serialises all of it (vrrpd's event loop is one thread; the metrics exporter and
//! syslog helpers allocate rarely). Across fork(2) the lock is taken by the forking thread and
//! released in both processes (`pthread_atfork`, registered by [`prepare_fork`]), so a child
//! finds the heap consistent whichever thread held it.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use dlmalloc::Dlmalloc;

/// Blocks of at least this many bytes (and page alignment at most) get a mapping of their own:
/// the same limit as glibc's `M_MMAP_THRESHOLD` that [`crate::sys::mem`] sets.
pub const LARGE: usize = crate::sys::mem::MMAP_THRESHOLD;
/// Address space reserved for dlmalloc's region (no memory and no commit charge until used).
pub const RESERVE: usize = 1 << 30;
/// The step in which the region grows and shrinks, and dlmalloc's granularity: one page, so
/// [`trim`] leaves less than a page of free top.
pub const GRANULE: usize = 4096;

/// The global allocator: `#[global_allocator] static A: Allocator = Allocator;` in the binary.
pub struct Allocator;

/// dlmalloc's state and its lock.
struct Heap {
    lock: UnsafeCell<libc::pthread_mutex_t>,
    dl: UnsafeCell<Dlmalloc<Region>>,
}

// SAFETY: `dl` is only reached through `Heap::with`, which holds `lock`.
unsafe impl Sync for Heap {}

static HEAP: Heap = Heap {
    lock: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
    dl: UnsafeCell::new({
        let mut d = Dlmalloc::new_with_allocator(Region);
        // A power of two of at least 16: accepted (dlmalloc's own check).
        d.set_granularity(GRANULE);
        d
    }),
};

impl Heap {
    fn lock(&self) {
        // SAFETY: a valid, statically initialised mutex; locking it only blocks this thread.
        unsafe { libc::pthread_mutex_lock(self.lock.get()) };
    }

    fn unlock(&self) {
        // SAFETY: called only by the thread that locked it (`with`, the fork handlers).
        unsafe { libc::pthread_mutex_unlock(self.lock.get()) };
    }

    /// Runs `f` on dlmalloc's state with the lock held.
    fn with<T>(&self, f: impl FnOnce(&mut Dlmalloc<Region>) -> T) -> T {
        self.lock();
        // SAFETY: the lock is held, so this is the only reference to the state until unlock.
        let r = f(unsafe { &mut *self.dl.get() });
        self.unlock();
        r
    }
}

/// Whether a block of this layout gets a mapping of its own.
fn is_large(layout: Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= GRANULE
}

/// `size` rounded up to whole pages (`None` on overflow).
fn pages(size: usize) -> Option<usize> {
    size.checked_add(GRANULE - 1).map(|s| s & !(GRANULE - 1))
}

/// A fresh private anonymous mapping of `size` bytes (a multiple of the page), or null.
fn map(size: usize) -> *mut u8 {
    // SAFETY: a new anonymous mapping at an address of the kernel's choosing touches no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

// SAFETY: small blocks are dlmalloc's (which returns blocks of the requested size and
// alignment, or null), large ones whole mappings of at least their size, page aligned; a
// block is given back to the side that made it, told apart by its layout, which the caller
// passes unchanged (GlobalAlloc's contract), and `realloc` moves it across when the new size
// changes the side.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) {
            return pages(layout.size()).map_or(ptr::null_mut(), map);
        }
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: a non-zero size (GlobalAlloc's contract) and a power-of-two alignment.
        HEAP.with(|d| unsafe { d.malloc(layout.size(), layout.align()) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) {
            // Fresh anonymous pages read as zero.
            return pages(layout.size()).map_or(ptr::null_mut(), map);
        }
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as `alloc`; calloc clears what is not known to be zero.
        HEAP.with(|d| unsafe { d.calloc(layout.size(), layout.align()) })
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if is_large(layout) {
            if let Some(len) = pages(layout.size()) {
                // SAFETY: `p` is the start of the mapping `alloc` made for this layout, `len`
                // its length; nothing refers to it any more (the caller frees it).
                unsafe { libc::munmap(p.cast(), len) };
            }
            return;
        }
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `p` came from dlmalloc with this size and alignment.
        HEAP.with(|d| unsafe { d.free(p, layout.size(), layout.align()) })
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        match (is_large(layout), is_large(new)) {
            (false, false) => {
                LIVE.fetch_add(new_size, Ordering::Relaxed);
                LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
                // SAFETY: `p` came from dlmalloc with this layout; dlmalloc keeps the alignment.
                HEAP.with(|d| unsafe { d.realloc(p, layout.size(), layout.align(), new_size) })
            }
            (true, true) => {
                let (Some(old_len), Some(new_len)) = (pages(layout.size()), pages(new_size)) else {
                    return ptr::null_mut();
                };
                if old_len == new_len {
                    return p;
                }
                // SAFETY: `p` is a whole mapping of `old_len` bytes that only this block uses;
                // mremap moves or resizes it, keeping its bytes (new pages read as zero).
                let q = unsafe { libc::mremap(p.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
                if q == libc::MAP_FAILED {
                    ptr::null_mut()
                } else {
                    q.cast()
                }
            }
            _ => {
                // Across the sides: a new block, the bytes copied, the old one freed.
                // SAFETY: `new` has a non-zero size (GlobalAlloc's contract for realloc).
                let q = unsafe { self.alloc(new) };
                if !q.is_null() {
                    // SAFETY: both blocks are live, distinct and at least this long.
                    unsafe {
                        ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                        self.dealloc(p, layout);
                    }
                }
                q
            }
        }
    }
}

/// Gives the free top of dlmalloc's region back to the kernel (see the module documentation).
/// Returns whether anything went. Part of [`crate::sys::mem::release_startup`].
pub fn trim() -> bool {
    // SAFETY: trimming only releases memory no block lies in.
    HEAP.with(|d| unsafe { d.trim(0) })
}

/// Bytes of small blocks allocated and not freed (what the blocks asked for, without
/// dlmalloc's headers), for the debug log.
pub fn small_in_use() -> usize {
    LIVE.load(Ordering::Relaxed)
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Bytes of dlmalloc's region in use by the process (readable and writable), for tests and
/// the debug log.
pub fn region_len() -> usize {
    let base = REGION_BASE.load(Ordering::Relaxed);
    if base == 0 {
        0
    } else {
        REGION_BRK.load(Ordering::Relaxed) - base
    }
}

/// Makes the allocator safe to use in the child of a fork(2) from any thread: the forking
/// thread takes the lock first and both processes release it (see the module documentation).
/// Call it once, early in `main`; later calls do nothing.
pub fn prepare_fork() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    if DONE.swap(1, Ordering::Relaxed) != 0 {
        return;
    }
    extern "C" fn before() {
        HEAP.lock();
    }
    extern "C" fn after() {
        HEAP.unlock();
    }
    // SAFETY: the handlers only take and release the heap's lock, in that order on each side
    // of the fork, on the thread that forks.
    unsafe { libc::pthread_atfork(Some(before), Some(after), Some(after)) };
}

/// dlmalloc's source of memory: the reserved region, grown and shrunk at its top
/// (`REGION_BASE`..`REGION_BRK` is readable and writable, the rest to `REGION_END` is
/// `PROT_NONE`), and mappings of their own once it is full.
struct Region;

/// The region's start (0 until the first allocation reserves it), its current top, its end.
static REGION_BASE: AtomicUsize = AtomicUsize::new(0);
static REGION_BRK: AtomicUsize = AtomicUsize::new(0);
static REGION_END: AtomicUsize = AtomicUsize::new(0);

impl Region {
    /// Reserves the region if that has not been done (called with the heap's lock held).
    fn reserve() -> bool {
        if REGION_BASE.load(Ordering::Relaxed) != 0 {
            return true;
        }
        // SAFETY: a new inaccessible anonymous mapping at an address of the kernel's choosing
        // touches no existing memory; MAP_NORESERVE and PROT_NONE charge no memory.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                RESERVE,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return false;
        }
        let base = p as usize;
        REGION_BASE.store(base, Ordering::Relaxed);
        REGION_BRK.store(base, Ordering::Relaxed);
        REGION_END.store(base + RESERVE, Ordering::Relaxed);
        true
    }

    fn contains(p: usize) -> bool {
        let base = REGION_BASE.load(Ordering::Relaxed);
        base != 0 && (base..REGION_END.load(Ordering::Relaxed)).contains(&p)
    }

    /// Gives `[from, brk)` at the region's top back: fresh `PROT_NONE` pages over it.
    fn shrink_to(from: usize) -> bool {
        let brk = REGION_BRK.load(Ordering::Relaxed);
        if from >= brk {
            return from == brk;
        }
        // SAFETY: [from, brk) is the top of the region, which only dlmalloc uses and which it
        // gives back (no block lies there); MAP_FIXED replaces exactly those pages.
        let p = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                brk - from,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return false;
        }
        REGION_BRK.store(from, Ordering::Relaxed);
        true
    }
}

// SAFETY: every region handed out is fresh (zero-filled) memory that nothing else uses, at
// least as long as asked and page aligned; parts are taken back only when dlmalloc gives them.
unsafe impl dlmalloc::Allocator for Region {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let Some(size) = pages(size) else {
            return (ptr::null_mut(), 0, 0);
        };
        if Region::reserve() {
            let brk = REGION_BRK.load(Ordering::Relaxed);
            if REGION_END.load(Ordering::Relaxed) - brk >= size {
                // SAFETY: [brk, brk + size) is the inaccessible part of the region just above
                // its top, used by nothing.
                let rc = unsafe {
                    libc::mprotect(
                        brk as *mut libc::c_void,
                        size,
                        libc::PROT_READ | libc::PROT_WRITE,
                    )
                };
                if rc == 0 {
                    REGION_BRK.store(brk + size, Ordering::Relaxed);
                    return (brk as *mut u8, size, 0);
                }
            }
        }
        let p = map(size);
        if p.is_null() {
            (ptr::null_mut(), 0, 0)
        } else {
            (p, size, 0)
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        // Not offered: dlmalloc then allocates and copies.
        ptr::null_mut()
    }

    fn free_part(&self, p: *mut u8, old: usize, new: usize) -> bool {
        let (lo, end) = (p as usize, p as usize + old);
        if Region::contains(lo) {
            end == REGION_BRK.load(Ordering::Relaxed) && Region::shrink_to(lo + new)
        } else {
            // SAFETY: the tail of a segment mapping of ours that dlmalloc no longer uses.
            unsafe { libc::munmap((lo + new) as *mut libc::c_void, old - new) == 0 }
        }
    }

    fn free(&self, p: *mut u8, size: usize) -> bool {
        let lo = p as usize;
        if Region::contains(lo) {
            lo + size == REGION_BRK.load(Ordering::Relaxed) && Region::shrink_to(lo)
        } else {
            // SAFETY: a whole segment mapping of ours that dlmalloc no longer uses.
            unsafe { libc::munmap(p.cast(), size) == 0 }
        }
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        true
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        GRANULE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests share the one heap: one at a time, so that what one measures is its own.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The allocator's calls, made directly (the test binary keeps the system allocator).
    fn roundtrip(size: usize, align: usize) {
        let l = Layout::from_size_align(size, align).unwrap();
        // SAFETY: a non-zero size; the block is written within its length and freed once.
        unsafe {
            let p = Allocator.alloc(l);
            assert!(!p.is_null(), "{size}/{align}");
            assert_eq!(p as usize % align, 0);
            ptr::write_bytes(p, 0xa5, size);
            let z = Allocator.alloc_zeroed(l);
            assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
            Allocator.dealloc(z, l);
            let q = Allocator.realloc(p, l, size * 3);
            assert!(!q.is_null());
            assert!(std::slice::from_raw_parts(q, size)
                .iter()
                .all(|&b| b == 0xa5));
            let l3 = Layout::from_size_align(size * 3, align).unwrap();
            let r = Allocator.realloc(q, l3, size.div_ceil(2));
            assert!(std::slice::from_raw_parts(r, size.div_ceil(2))
                .iter()
                .all(|&b| b == 0xa5));
            Allocator.dealloc(r, Layout::from_size_align(size.div_ceil(2), align).unwrap());
        }
    }

    #[test]
    fn blocks_of_every_side_keep_size_alignment_and_contents() {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        for size in [
            1,
            7,
            24,
            100,
            1000,
            4096,
            20_000,
            LARGE - 1,
            LARGE,
            70_000,
            300_000,
        ] {
            for align in [1, 8, 16, 64, 4096, 8192] {
                roundtrip(size, align);
            }
        }
    }

    #[test]
    fn small_blocks_come_from_the_region_and_trim_gives_its_top_back() {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let l = Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: blocks of `l`, each freed once.
        let blocks: Vec<usize> = (0..200)
            .map(|_| unsafe { Allocator.alloc(l) } as usize)
            .collect();
        assert!(blocks.iter().all(|&p| Region::contains(p)));
        let grown = region_len();
        assert!(grown >= 200 * 1000, "{grown}");
        for &p in &blocks {
            // SAFETY: allocated above with `l`.
            unsafe { Allocator.dealloc(p as *mut u8, l) };
        }
        trim();
        // What these blocks took is back.
        assert!(region_len() < grown, "{} of {grown}", region_len());
        // Large blocks are mappings of their own, outside the region.
        let big = Layout::from_size_align(LARGE, 8).unwrap();
        // SAFETY: allocated and freed once.
        unsafe {
            let p = Allocator.alloc(big);
            assert!(!Region::contains(p as usize));
            Allocator.dealloc(p, big);
        }
    }

    #[test]
    fn threads_share_the_heap_safely() {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let hs: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..2000usize {
                        roundtrip(1 + (i * 37 + t) % 3000, 8);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
}
