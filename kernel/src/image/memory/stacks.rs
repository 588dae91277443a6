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

/// Stacks given back by [`free`], still mapped, reused before new slots (by size).
static FREE_STACKS: IrqSafeLock<Vec<StackSlot>> = IrqSafeLock::new(Vec::new());

/// A stack of `size` bytes (a multiple of 4 KiB) with a guard below it: a freed one of
/// that size if there is one, else a new slot, mapped now.
pub fn allocate(size: u64) -> StackSlot {
    let reused = {
        let mut free = FREE_STACKS.lock();
        free.iter()
            .position(|slot| slot.stack_top - slot.stack_bottom == size)
            .map(|index| free.swap_remove(index))
    };
    if let Some(slot) = reused {
        return slot;
    }
    let index = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    let slot = StackSlot::new(index, size).expect("stack slots exhausted or bad stack size");
    for page in 0..slot.stack_pages() {
        paging::map_kernel_page(slot.stack_bottom + page * PAGE_SIZE, paging::PageKind::Data);
    }
    slot
}

/// Give a stack back for reuse. Nothing may run on it any more. Its pages stay mapped:
/// unmapping a kernel page would need a TLB shootdown on every CPU (kernel mappings are
/// global), and the next task reuses the stack anyway (as Linux caches its vmap stacks).
pub fn free(slot: StackSlot) {
    FREE_STACKS.lock().push(slot);
}
