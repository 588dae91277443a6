//! A process's user memory: its areas (mmap, brk, stack, program segments) and demand
//! paging. Pages are populated on first touch, by the process or by the kernel copying
//! to or from it; a touch outside every area, or against its protection, is the
//! process's SIGSEGV (or the kernel copy's -EFAULT).

use super::address_space::{AddressSpace, MapError, Protection};
use topframe_kernel::layout::{PAGE_SIZE, align_down};
use topframe_kernel::vma::{Access, AreaSet};

/// The areas and the heap bounds of one process.
#[derive(Clone)]
pub struct UserMemory {
    pub areas: AreaSet,
    /// Start of the heap (end of the loaded image) and its current end (brk).
    pub brk_start: u64,
    pub brk: u64,
}

/// Page-fault error-code bits.
const FAULT_PRESENT: u64 = 1 << 0;
const FAULT_WRITE: u64 = 1 << 1;
const FAULT_INSTRUCTION: u64 = 1 << 4;

impl UserMemory {
    pub const fn new(brk_start: u64) -> UserMemory {
        UserMemory {
            areas: AreaSet::new(),
            brk_start,
            brk: brk_start,
        }
    }

    /// Resolve a page fault at `address` with the CPU's error code: populate the page
    /// if an area allows the access. Returns false when the fault is the process's error.
    pub fn handle_fault(&self, space: &AddressSpace, address: u64, error_code: u64) -> bool {
        let write = error_code & FAULT_WRITE != 0;
        let execute = error_code & FAULT_INSTRUCTION != 0;
        if error_code & FAULT_PRESENT != 0 {
            // A protection violation on a populated page, unless another thread's mprotect
            // allowed the access after this CPU cached the old entry (its shootdown may
            // still be on the way): then dropping the stale entry is the whole fix.
            return space.refresh_if_allowed(address, write, execute);
        }
        let Some(area) = self.areas.find(address) else {
            return false;
        };
        if !area.access.allows(write, execute) {
            return false;
        }
        match space.map_zeroed(align_down(address, PAGE_SIZE), Protection::of(area.access)) {
            Ok(_) => true,
            // Another thread populated it between this CPU's miss and the lock.
            Err(MapError::AlreadyMapped) => true,
            Err(MapError::OutOfMemory) => false,
        }
    }

    /// Populate `[start, end)` now (the initial stack, which the kernel writes before
    /// the process runs).
    pub fn populate(&self, space: &AddressSpace, start: u64, end: u64) -> bool {
        let mut page = align_down(start, PAGE_SIZE);
        while page < end {
            let populated =
                space.translate(page).is_some() || self.handle_fault(space, page, FAULT_WRITE);
            if !populated {
                return false;
            }
            page += PAGE_SIZE;
        }
        true
    }

    /// Unmap `[start, end)`: areas and populated pages.
    pub fn unmap(&mut self, space: &AddressSpace, start: u64, end: u64) {
        self.areas.remove(start..end);
        space.unmap_range(start, end);
    }

    /// Map `[start, end)` anew with `access` (populated on touch).
    pub fn map(&mut self, space: &AddressSpace, start: u64, end: u64, access: Access) {
        self.unmap(space, start, end);
        self.areas.insert(start..end, access);
    }
}
