//! The kernel heap: `talc` over one physically contiguous block in the direct map.

use super::frames;
use talc::TalcLock;
use talc::source::Manual;
use topframe_kernel::layout::{LARGE_PAGE_SIZE, PAGE_SIZE, phys_to_direct};

#[global_allocator]
static HEAP: TalcLock<spin::Mutex<()>, Manual> = TalcLock::new(Manual);

/// Smallest and largest heap.
const MIN_HEAP: u64 = 4 << 20;
const MAX_HEAP: u64 = 256 << 20;

/// Give the heap an eighth of RAM (4 MiB to 256 MiB); returns its size in bytes.
pub fn init(usable_bytes: u64) -> u64 {
    let size = (usable_bytes / 8).clamp(MIN_HEAP, MAX_HEAP) / LARGE_PAGE_SIZE * LARGE_PAGE_SIZE;
    let start = frames::allocate_contiguous(size / PAGE_SIZE, LARGE_PAGE_SIZE)
        .expect("not enough contiguous RAM for the kernel heap");
    // SAFETY: the block was just taken from the frame allocator for good, is
    // direct-mapped read-write, and nothing else refers to it.
    let claimed = unsafe {
        HEAP.lock()
            .claim(phys_to_direct(start) as *mut u8, size as usize)
    };
    assert!(claimed.is_some(), "talc refused the heap block");
    size
}
