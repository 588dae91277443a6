//! Kernel stacks, each at the top of its own slot in the stack area with the rest of the
//! slot unmapped: an overflow runs into a guard page and faults instead of corrupting
//! whatever lies below.

use super::paging;
use crate::sync::IrqSafeLock;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use topframe_kernel::layout::{PAGE_SIZE, StackSlot};

/// Size of a CPU's main kernel stack.
pub const KERNEL_STACK_SIZE: u64 = 64 << 10;
/// Size of an IST stack (#DF, NMI, #DB, #MC).
pub const IST_STACK_SIZE: u64 = 16 << 10;

static NEXT_SLOT: AtomicU64 = AtomicU64::new(0);

/// Slots given back by [`free`], reused before new ones.
static FREE_SLOTS: IrqSafeLock<Vec<u64>> = IrqSafeLock::new(Vec::new());

/// Map a new stack of `size` bytes (a multiple of 4 KiB) with a guard below it.
pub fn allocate(size: u64) -> StackSlot {
    let reused = FREE_SLOTS.lock().pop();
    let index = reused.unwrap_or_else(|| NEXT_SLOT.fetch_add(1, Ordering::Relaxed));
    let slot = StackSlot::new(index, size).expect("stack slots exhausted or bad stack size");
    for page in 0..slot.stack_pages() {
        paging::map_kernel_page(slot.stack_bottom + page * PAGE_SIZE, paging::PageKind::Data);
    }
    slot
}

/// Unmap a stack and give its frames and slot back. Nothing may use it any more.
pub fn free(slot: StackSlot) {
    for page in 0..slot.stack_pages() {
        paging::unmap_kernel_page(slot.stack_bottom + page * PAGE_SIZE);
    }
    let index = (slot.guard_start - topframe_kernel::layout::KERNEL_STACKS_BASE)
        / topframe_kernel::layout::STACK_SLOT_SIZE;
    FREE_SLOTS.lock().push(index);
}
