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
struct Arena([u8; ARENA_SIZE]);

/// Only ever reached through a raw pointer (`&raw mut`, no reference), and
/// only the ranges the atomic bump hands out, each to one owner.
static mut ARENA: Arena = Arena([0; ARENA_SIZE]);
/// Offset of the arena's first free byte.
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct KaizenAlloc;

impl KaizenAlloc {
    fn base() -> usize {
        (&raw mut ARENA) as usize
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

// SAFETY: arena blocks are in bounds, disjoint and aligned as asked (the
// bump hands out each range once, by compare-and-swap; only the newest block
// is ever handed back, and grown or shrunk only while it is the newest);
// every other block is the system allocator's, handed back to it with the
// layout it was allocated with.
unsafe impl GlobalAlloc for KaizenAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = Self::bump(layout);
        if !ptr.is_null() {
            return ptr;
        }
        // SAFETY: `layout` as our caller passed it (non-zero size, as `alloc` requires).
        checked(unsafe { System.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = Self::bump(layout);
        // SAFETY: a block from the bump is ours and valid for `layout.size()`
        // bytes (a block handed back and taken again is not zero any more);
        // otherwise `layout` goes to the system as our caller passed it.
        unsafe {
            if !ptr.is_null() {
                ptr.write_bytes(0, layout.size());
                return ptr;
            }
            checked(System.alloc_zeroed(layout))
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::in_arena(ptr) {
            Self::pop(ptr, layout.size());
        } else {
            // SAFETY: outside the arena, `ptr` came from the system allocator with `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let in_arena = Self::in_arena(ptr);
        if in_arena && Self::resize_in_place(ptr, layout.size(), new_size) {
            return ptr;
        }
        // SAFETY: outside the arena, `ptr` came from the system allocator with
        // `layout`, and goes back to it with our caller's `new_size`. In the
        // arena: the new layout keeps the old alignment with a size realloc's
        // caller vouches for (non-zero, not overflowing isize once rounded up),
        // so it is valid; the new block is a fresh one (never null: `checked`),
        // disjoint from the old, and both are valid for the smaller size.
        unsafe {
            if !in_arena {
                return checked(System.realloc(ptr, layout, new_size));
            }
            let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            Self::pop(ptr, layout.size());
            new
        }
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
        // Best effort: there is nothing to do if it fails.
        let _ = rustix::io::write(rustix::stdio::stderr(), b"kaizen-hook: out of memory\n");
    }
    // SAFETY: _exit ends the process at once: it takes no locks, runs no
    // handlers or destructors, and needs no memory.
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
        // SAFETY: every block is used within the size it was allocated with,
        // and freed or reallocated once, with the layout it has then.
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

    /// The byte at `i` of the block of identity `id`: blocks that overlapped
    /// would overwrite each other's.
    fn pattern(id: u64, i: usize) -> u8 {
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64 * 0x2545_F491) >> 29) as u8
    }

    /// A block's size: mostly up to `small` bytes (the arena), sometimes above `SMALL` (the system).
    fn size(roll: u64, small: u64) -> usize {
        if roll < 3 { SMALL + 1 + roll as usize * 1000 } else { 1 + (roll * 7919 % small) as usize }
    }

    /// One thread's share of the threaded test: `rounds` allocations,
    /// reallocations and frees, the contents of every live block checked.
    fn churn(thread: u64, rounds: u64) {
        let a = KaizenAlloc;
        let mut rng = 0x2545_F491_4F6C_DD1D ^ (thread + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut ids = (thread << 32)..;
        let mut live: Vec<(*mut u8, Layout, u64)> = Vec::new();
        // SAFETY: each block is written and read within its size, and freed or
        // reallocated once, with the layout it has then.
        unsafe {
            let check = |(ptr, layout, id): (*mut u8, Layout, u64), len: usize| {
                assert_eq!(ptr as usize % layout.align(), 0, "block {id:#x} misaligned");
                assert!((0..len).all(|i| *ptr.add(i) == pattern(id, i)), "block {id:#x} overwritten");
            };
            let fill = |ptr: *mut u8, len: usize, id: u64| (0..len).for_each(|i| *ptr.add(i) = pattern(id, i));
            for _ in 0..rounds {
                match next(10) {
                    0..=4 => {
                        let layout = Layout::from_size_align(size(next(100), 256), 1 << next(7)).unwrap();
                        let id = ids.next().unwrap();
                        let ptr = if next(4) == 0 {
                            let ptr = a.alloc_zeroed(layout);
                            assert!((0..layout.size()).all(|i| *ptr.add(i) == 0), "not zeroed");
                            ptr
                        } else {
                            a.alloc(layout)
                        };
                        fill(ptr, layout.size(), id);
                        live.push((ptr, layout, id));
                    }
                    5..=7 if !live.is_empty() => {
                        let k = next(live.len() as u64) as usize;
                        let (ptr, layout, id) = live[k];
                        let new_layout = Layout::from_size_align(size(next(100), 512), layout.align()).unwrap();
                        let moved = a.realloc(ptr, layout, new_layout.size());
                        check((moved, new_layout, id), layout.size().min(new_layout.size()));
                        fill(moved, new_layout.size(), id);
                        live[k] = (moved, new_layout, id);
                    }
                    _ if !live.is_empty() => {
                        // Half the time the newest: the block the arena can take back.
                        let k = if next(2) == 0 { live.len() - 1 } else { next(live.len() as u64) as usize };
                        let block = live.swap_remove(k);
                        check(block, block.1.size());
                        a.dealloc(block.0, block.1);
                    }
                    _ => {}
                }
            }
            for block in live {
                check(block, block.1.size());
                a.dealloc(block.0, block.1);
            }
        }
    }

    #[test]
    fn threads_allocating_at_once_get_disjoint_blocks_that_keep_their_contents() {
        // As the scan's threads do: allocate, grow, shrink and free at the same
        // time, small blocks (the arena), large ones (the system), and blocks
        // moving from one to the other. At most 8 × 300 × (512 + 63) bytes of
        // the arena are used up (1.4 of its 4 MiB): the other test still finds room.
        std::thread::scope(|scope| {
            for thread in 0..8 {
                scope.spawn(move || churn(thread, 300));
            }
        });
    }
}
