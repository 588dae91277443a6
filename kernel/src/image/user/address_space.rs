//! A user address space: its own PML4 whose upper half is the kernel's (shared PDPTs,
//! allocated once at boot, so later kernel mappings show up everywhere), and whose lower
//! half maps the process's pages with the user bit.

use crate::memory::frames;
use crate::memory::paging::kernel_pml4;
use alloc::vec::Vec;
use topframe_kernel::layout::{DIRECT_MAP_BASE, PAGE_SIZE, USER_SPACE_END, phys_to_direct};
use topframe_kernel::vma::Access;
use topframe_sched::AtomicCpuSet;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::{MapToError, TranslateResult};
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame, Size4KiB,
    Translate,
};
use x86_64::{PhysAddr, VirtAddr};

/// Permissions of a user page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    pub write: bool,
    pub execute: bool,
}

impl Protection {
    /// The page protection of an area's access rights (present pages are readable).
    pub fn of(access: Access) -> Protection {
        Protection {
            write: access.write,
            execute: access.execute,
        }
    }

    fn flags(self) -> Flags {
        let mut flags = Flags::PRESENT | Flags::USER_ACCESSIBLE;
        if self.write {
            flags |= Flags::WRITABLE;
        }
        if !self.execute {
            flags |= Flags::NO_EXECUTE;
        }
        flags
    }
}

/// Why a mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    AlreadyMapped,
}

/// A process's page tables.
pub struct AddressSpace {
    pml4: u64,
    /// The CPUs that have these tables loaded: the ones a TLB shootdown must reach.
    active: AtomicCpuSet,
}

impl AddressSpace {
    /// An empty user half over the kernel's upper half.
    pub fn new() -> Option<AddressSpace> {
        let pml4 = frames::allocate_zeroed()?;
        // SAFETY: the new PML4 was just allocated; the kernel's is only read, and its
        // upper-half entries never change after boot.
        unsafe {
            let kernel = &*(phys_to_direct(kernel_pml4()) as *const PageTable);
            let table = &mut *(phys_to_direct(pml4) as *mut PageTable);
            for index in 256..512 {
                table[index] = kernel[index].clone();
            }
        }
        Some(AddressSpace {
            pml4,
            active: AtomicCpuSet::new(),
        })
    }

    fn mapper(&self) -> OffsetPageTable<'_> {
        // SAFETY: the PML4 belongs to this address space and is direct-mapped; the
        // &self borrow keeps it alive, and the process's memory lock serialises editors.
        unsafe {
            OffsetPageTable::new(
                &mut *(phys_to_direct(self.pml4) as *mut PageTable),
                VirtAddr::new(DIRECT_MAP_BASE),
            )
        }
    }

    /// Map a fresh zeroed page at user address `address` (page-aligned, below
    /// USER_SPACE_END).
    pub fn map_zeroed(&self, address: u64, protection: Protection) -> Result<u64, MapError> {
        self.map_zeroed_with(address, protection.flags())
    }

    /// Map a fresh zeroed page at `address` that user mode cannot access (no user bit):
    /// the backing of an area without access rights that the kernel itself must reach
    /// (a tracer's FOLL_FORCE access to a PROT_NONE page). A user access faults on it.
    pub fn map_zeroed_inaccessible(&self, address: u64) -> Result<u64, MapError> {
        self.map_zeroed_with(address, Flags::PRESENT | Flags::NO_EXECUTE)
    }

    fn map_zeroed_with(&self, address: u64, flags: Flags) -> Result<u64, MapError> {
        debug_assert!(address.is_multiple_of(PAGE_SIZE) && address < USER_SPACE_END);
        let frame = frames::allocate_zeroed().ok_or(MapError::OutOfMemory)?;
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(address));
        let physical = PhysFrame::containing_address(PhysAddr::new(frame));
        let table_flags = Flags::PRESENT | Flags::WRITABLE | Flags::USER_ACCESSIBLE;
        // SAFETY: the frame is new and zeroed: mapping it exposes nothing to the process.
        let result = unsafe {
            self.mapper().map_to_with_table_flags(
                page,
                physical,
                flags,
                table_flags,
                &mut frames::KernelFrames,
            )
        };
        match result {
            // Not yet visible to any CPU's TLB (the page was absent).
            Ok(flush) => {
                flush.ignore();
                Ok(frame)
            }
            Err(error) => {
                let _ = frames::free(frame);
                Err(match error {
                    MapToError::FrameAllocationFailed => MapError::OutOfMemory,
                    MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage => {
                        MapError::AlreadyMapped
                    }
                })
            }
        }
    }

    /// The frame behind user page `address`, if mapped.
    pub fn translate(&self, address: u64) -> Option<u64> {
        match self.mapper().translate(VirtAddr::new(address)) {
            TranslateResult::Mapped { frame, offset, .. } => {
                Some(frame.start_address().as_u64() + offset)
            }
            _ => None,
        }
    }

    /// True when the page at `address` is mapped with a protection that allows this
    /// access; the TLB entry for it on this CPU is dropped then (it was stale).
    pub fn refresh_if_allowed(&self, address: u64, write: bool, execute: bool) -> bool {
        let TranslateResult::Mapped { flags, .. } = self.mapper().translate(VirtAddr::new(address))
        else {
            return false;
        };
        let allowed = flags.contains(Flags::USER_ACCESSIBLE)
            && (!write || flags.contains(Flags::WRITABLE))
            && (!execute || !flags.contains(Flags::NO_EXECUTE));
        if allowed {
            x86_64::instructions::tlb::flush(VirtAddr::new(address));
        }
        allowed
    }

    /// Visit every present 4 KiB user page in `[start, end)`, skipping absent tables
    /// whole (so a huge range costs only what is populated). `visit(address, entry)` may
    /// change or clear the entry; the caller flushes the TLB.
    fn for_each_present_page(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, &mut PageTableEntry),
    ) {
        /// Walk `table` (level 4..1) over the part of [start, end) it covers from `base`.
        fn walk(
            table: u64,
            level: u8,
            base: u64,
            start: u64,
            end: u64,
            visit: &mut dyn FnMut(u64, &mut PageTableEntry),
        ) {
            let span = 1u64 << (12 + 9 * (u32::from(level) - 1));
            // SAFETY: `table` is a page table of this address space, direct-mapped.
            let entries = unsafe { &mut *(phys_to_direct(table) as *mut PageTable) };
            for (index, entry) in entries.iter_mut().enumerate() {
                let entry_start = base + index as u64 * span;
                if entry_start >= end || entry_start + span <= start {
                    continue;
                }
                if !entry.flags().contains(Flags::PRESENT) {
                    continue;
                }
                if level == 1 {
                    visit(entry_start, entry);
                } else {
                    walk(
                        entry.addr().as_u64(),
                        level - 1,
                        entry_start,
                        start,
                        end,
                        visit,
                    );
                }
            }
        }
        walk(self.pml4, 4, 0, start, end.min(USER_SPACE_END), visit);
    }

    /// Unmap every populated page of `[start, end)` and free its frames, once no CPU's
    /// TLB can still reach them.
    pub fn unmap_range(&self, start: u64, end: u64) {
        let mut freed = Vec::new();
        self.for_each_present_page(start, end, &mut |_, entry| {
            freed.push(entry.addr().as_u64());
            entry.set_unused();
        });
        self.shootdown(start, end);
        for frame in freed {
            let _ = frames::free(frame);
        }
    }

    /// Give every populated page of `[start, end)` the protection `access`; pages that
    /// lose all access are unmapped (their contents are not kept: a later access reads
    /// zeros, unlike Linux, which keeps them).
    pub fn protect_range(&self, start: u64, end: u64, access: Access) {
        let protection = Protection {
            write: access.write,
            execute: access.execute,
        };
        let mut freed = Vec::new();
        self.for_each_present_page(start, end, &mut |_, entry| {
            if access.read {
                let frame = entry.addr();
                entry.set_addr(frame, protection.flags());
            } else {
                freed.push(entry.addr().as_u64());
                entry.set_unused();
            }
        });
        self.shootdown(start, end);
        for frame in freed {
            let _ = frames::free(frame);
        }
    }

    /// Make this address space the current one on this CPU.
    pub fn activate(&self) {
        self.active.insert(topframe_percpu::cpu_id());
        let frame = PhysFrame::containing_address(PhysAddr::new(self.pml4));
        // SAFETY: the upper half is the kernel's, so the kernel keeps running unchanged.
        unsafe { Cr3::write(frame, Cr3Flags::empty()) };
    }
}

impl AddressSpace {
    /// This CPU no longer uses these tables (it loaded others).
    pub fn deactivate(&self) {
        self.active.remove(topframe_percpu::cpu_id());
    }

    /// Drop `[start, end)` from the TLB of every CPU that may cache it.
    fn shootdown(&self, start: u64, end: u64) {
        crate::tlb::shootdown(self.active.snapshot(), start, end);
    }
}

impl AddressSpace {
    /// A new address space with a private copy of every populated user page of this one
    /// (`fork`), same permissions. None when memory runs out (nothing is leaked).
    pub fn duplicate(&self) -> Option<AddressSpace> {
        let child = AddressSpace::new()?;
        let mut complete = true;
        self.for_each_present_page(0, USER_SPACE_END, &mut |address, entry| {
            if !complete {
                return;
            }
            let Some(frame) = frames::allocate() else {
                complete = false;
                return;
            };
            // SAFETY: both frames are direct-mapped whole pages; the new one is ours alone.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    phys_to_direct(entry.addr().as_u64()) as *const u8,
                    phys_to_direct(frame) as *mut u8,
                    PAGE_SIZE as usize,
                );
            }
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(address));
            let physical = PhysFrame::containing_address(PhysAddr::new(frame));
            let table_flags = Flags::PRESENT | Flags::WRITABLE | Flags::USER_ACCESSIBLE;
            // SAFETY: the frame is new and holds a copy of the parent's page at the same
            // address: the child sees what the parent saw.
            let mapped = unsafe {
                child.mapper().map_to_with_table_flags(
                    page,
                    physical,
                    entry.flags(),
                    table_flags,
                    &mut frames::KernelFrames,
                )
            };
            match mapped {
                // The child's tables are loaded nowhere yet.
                Ok(flush) => flush.ignore(),
                Err(_) => {
                    let _ = frames::free(frame);
                    complete = false;
                }
            }
        });
        complete.then_some(child)
    }

    /// Free every user page and page table (the last user of the memory is gone, and no
    /// CPU has these tables loaded). The upper half stays: the tables may still be
    /// loaded by a CPU switching away.
    pub fn clear_user_half(&self) {
        /// Free the tables below `table` (level 4..2) and the pages at level 1.
        fn free_level(table: u64, level: u8) {
            // SAFETY: `table` is a page table of this dying address space, direct-mapped.
            let entries = unsafe { &*(phys_to_direct(table) as *const PageTable) };
            for entry in entries
                .iter()
                .filter(|entry| entry.flags().contains(Flags::PRESENT))
            {
                let next = entry.addr().as_u64();
                if level > 1 {
                    free_level(next, level - 1);
                }
                let _ = frames::free(next);
            }
        }
        // SAFETY: as above; only the lower half (entries 0..256) belongs to the process,
        // and nothing walks it any more.
        let pml4 = unsafe { &mut *(phys_to_direct(self.pml4) as *mut PageTable) };
        for entry in pml4
            .iter_mut()
            .take(256)
            .filter(|entry| entry.flags().contains(Flags::PRESENT))
        {
            free_level(entry.addr().as_u64(), 3);
            let _ = frames::free(entry.addr().as_u64());
            entry.set_unused();
        }
    }
}

impl Drop for AddressSpace {
    /// Free every user page, page table and the PML4.
    fn drop(&mut self) {
        self.clear_user_half();
        let _ = frames::free(self.pml4);
    }
}
