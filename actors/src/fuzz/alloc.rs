//! Allocation accounting for the fuzz runs: a global allocator that counts, per thread, the
//! bytes currently allocated and the peak since the last [`reset`]. A test binary installs it
//! (`#[global_allocator] static A: Counting = Counting;`); without it [`active`] is false and
//! the fuzz engine skips the allocation bound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The counting allocator (the system allocator underneath).
pub struct Counting;

fn grew(by: usize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + by as isize;
        c.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now);
            }
        });
    });
}

fn shrank(by: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get() - by as isize));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// thread-local cells with const initialisers (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ACTIVE.store(true, Ordering::Relaxed);
        grew(layout.size());
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ACTIVE.store(true, Ordering::Relaxed);
        grew(layout.size());
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            shrank(layout.size() - new_size);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Is the counting allocator installed (and used)?
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Starts a measurement on this thread.
pub fn reset() {
    let now = CURRENT.with(|c| c.get());
    PEAK.with(|p| p.set(now));
}

/// The most bytes this thread held at once since [`reset`], above what it held then.
pub fn peak_since(base: isize) -> usize {
    PEAK.with(|p| (p.get() - base).max(0) as usize)
}

/// What this thread holds now (the base of a measurement).
pub fn current() -> isize {
    CURRENT.with(|c| c.get())
}
