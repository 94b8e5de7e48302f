//! The global allocator. Two jobs:
//! - Running out of memory ends a hook run quietly with exit status 0 (std's
//!   handler would print to stderr and abort, which an agent sees as a failed
//!   hook). A person running a human command is told, and gets status 1.
//! - Small allocations come from a bump arena in `.bss`: a hook run lives a
//!   millisecond, and musl's allocator maps and unmaps pages eagerly (about
//!   40 of a run's 105 system calls). Freeing the newest block gives its
//!   space back; other frees of arena blocks are no-ops, so the arena's waste
//!   is bounded by its size. Large blocks, and everything once the arena is
//!   full, go to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static PERSON: AtomicBool = AtomicBool::new(false);

/// Whether a person is at the keyboard (set once, at start-up).
pub fn set_person(person: bool) {
    PERSON.store(person, Ordering::Relaxed);
}

const ARENA_SIZE: usize = 4 << 20;
/// Blocks above this size go to the system allocator.
const SMALL: usize = 64 << 10;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: disjoint ranges of the arena are handed out by an atomic bump.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_SIZE]));
/// Offset of the arena's first free byte.
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct KaizenAlloc;

impl KaizenAlloc {
    fn base() -> usize {
        ARENA.0.get() as usize
    }

    fn in_arena(ptr: *mut u8) -> bool {
        (ptr as usize).wrapping_sub(Self::base()) < ARENA_SIZE
    }

    /// A block from the arena, or null when it does not fit.
    fn bump(layout: Layout) -> *mut u8 {
        if layout.size() > SMALL || layout.align() > 4096 {
            return std::ptr::null_mut();
        }
        let base = Self::base();
        let mut current = NEXT.load(Ordering::Relaxed);
        loop {
            let start = (base + current).next_multiple_of(layout.align()) - base;
            let end = start + layout.size();
            if end > ARENA_SIZE {
                return std::ptr::null_mut();
            }
            match NEXT.compare_exchange_weak(current, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (base + start) as *mut u8,
                Err(now) => current = now,
            }
        }
    }

    /// Gives back the block at `ptr` if it is the newest one.
    fn pop(ptr: *mut u8, size: usize) {
        let start = ptr as usize - Self::base();
        let _ = NEXT.compare_exchange(start + size, start, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Grows or shrinks the newest block where it is; false when it is not the newest or would not fit.
    fn resize_in_place(ptr: *mut u8, old: usize, new: usize) -> bool {
        let start = ptr as usize - Self::base();
        new <= SMALL
            && start + new <= ARENA_SIZE
            && NEXT.compare_exchange(start + old, start + new, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

// SAFETY: arena blocks are disjoint and aligned as asked (the bump hands out
// each range once; only the newest block is ever handed back); the rest is
// the system allocator's.
unsafe impl GlobalAlloc for KaizenAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = Self::bump(layout);
        if !ptr.is_null() {
            return ptr;
        }
        checked(unsafe { System.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = Self::bump(layout);
        if !ptr.is_null() {
            // A block handed back and taken again is not zero any more.
            unsafe { ptr.write_bytes(0, layout.size()) };
            return ptr;
        }
        checked(unsafe { System.alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::in_arena(ptr) {
            Self::pop(ptr, layout.size());
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::in_arena(ptr) {
            return checked(unsafe { System.realloc(ptr, layout, new_size) });
        }
        if Self::resize_in_place(ptr, layout.size(), new_size) {
            return ptr;
        }
        // SAFETY: the new layout keeps the old alignment, as realloc promises.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        // SAFETY: both blocks are valid for the smaller of the two sizes.
        unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        Self::pop(ptr, layout.size());
        new
    }
}

fn checked(ptr: *mut u8) -> *mut u8 {
    if ptr.is_null() {
        out_of_memory();
    }
    ptr
}

/// Ends the process at once: nothing here may allocate, and no destructor
/// or buffered output may run (it could need memory or leave a torn line).
fn out_of_memory() -> ! {
    let person = PERSON.load(Ordering::Relaxed);
    if person {
        let message = b"kaizen-hook: out of memory\n";
        // SAFETY: a plain write of a static buffer, then _exit.
        unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
    }
    // SAFETY: _exit takes no locks and runs no handlers.
    unsafe { libc::_exit(i32::from(person)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_blocks_are_aligned_disjoint_and_the_newest_grows_in_place() {
        let a = KaizenAlloc;
        let small = Layout::from_size_align(24, 8).unwrap();
        let wide = Layout::from_size_align(100, 64).unwrap();
        unsafe {
            let p = a.alloc(small);
            let q = a.alloc(wide);
            assert!(KaizenAlloc::in_arena(p) && KaizenAlloc::in_arena(q));
            assert_eq!(q as usize % 64, 0);
            assert!(q as usize >= p as usize + 24 || p as usize >= q as usize + 100, "disjoint");
            q.write_bytes(7, 100);
            // Other tests allocate too: q may or may not still be the newest block.
            let grown = a.realloc(q, wide, 1000);
            assert!((0..100).all(|i| *grown.add(i) == 7), "contents kept");
            a.dealloc(grown, Layout::from_size_align(1000, 64).unwrap());
            let zeroed = a.alloc_zeroed(wide);
            assert!((0..100).all(|i| *zeroed.add(i) == 0), "zeroed even when reused");
            let big = Layout::from_size_align(SMALL + 1, 8).unwrap();
            let b = a.alloc(big);
            assert!(!KaizenAlloc::in_arena(b), "large blocks come from the system");
            let b = a.realloc(b, big, 16);
            a.dealloc(b, Layout::from_size_align(16, 8).unwrap());
            a.dealloc(zeroed, wide);
            a.dealloc(p, small);
        }
    }
}
