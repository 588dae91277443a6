//! The kernel's page tables: all RAM in the direct map, the image with per-section
//! permissions (text read-execute, rodata read-only, data read-write, the rest
//! no-execute), the stack area, and device memory mapped on demand. The upper half's
//! PML4 entries are all allocated up front, so address spaces created later can share
//! the kernel half by copying them.

use super::{frames, image};
use crate::sync::IrqSafeLock;
use topframe_kernel::layout::{
    DIRECT_MAP_BASE, LARGE_PAGE_SIZE, PAGE_SIZE, align_down, align_up, phys_to_direct,
};
use topframe_kernel::pvh::{BootInfo, MEMORY_TYPE_ACPI_RECLAIMABLE, MEMORY_TYPE_RAM};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame, Size2MiB,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

/// Memory-map type of ACPI non-volatile storage (mapped like the tables).
const MEMORY_TYPE_ACPI_NVS: u32 = 4;

/// Physical address of the kernel PML4 (0 until [`init`]).
static KERNEL_PML4: IrqSafeLock<u64> = IrqSafeLock::new(0);

/// What a page holds, which decides its permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    Text,
    ReadOnly,
    Data,
    /// Device registers: uncached, read-write, no-execute.
    Device,
}

impl PageKind {
    fn flags(self) -> Flags {
        let base = Flags::PRESENT | Flags::GLOBAL;
        match self {
            PageKind::Text => base,
            PageKind::ReadOnly => base | Flags::NO_EXECUTE,
            PageKind::Data => base | Flags::WRITABLE | Flags::NO_EXECUTE,
            PageKind::Device => {
                base | Flags::WRITABLE | Flags::NO_EXECUTE | Flags::NO_CACHE | Flags::WRITE_THROUGH
            }
        }
    }
}

/// Run `f` on a mapper for the page tables rooted at `pml4`.
fn with_mapper<R>(pml4: u64, f: impl FnOnce(&mut OffsetPageTable<'static>) -> R) -> R {
    // SAFETY: `pml4` is a page-table root owned by the kernel, reachable through the
    // direct map at DIRECT_MAP_BASE (which maps all page-table frames: they come from
    // usable RAM), and callers hold KERNEL_PML4's lock so no one else edits it.
    let mut mapper = unsafe {
        OffsetPageTable::new(
            &mut *(phys_to_direct(pml4) as *mut PageTable),
            VirtAddr::new(DIRECT_MAP_BASE),
        )
    };
    f(&mut mapper)
}

/// Map one 4 KiB page; a page that is already mapped stays as it is.
fn map_4k(mapper: &mut OffsetPageTable<'static>, virt: u64, phys: u64, kind: PageKind) {
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
    let frame = PhysFrame::containing_address(PhysAddr::new(phys));
    // SAFETY: the frame is either RAM the kernel owns at this virtual address or a
    // device/firmware region mapped for the kernel; no Rust reference to it exists yet.
    match unsafe { mapper.map_to(page, frame, kind.flags(), &mut frames::KernelFrames) } {
        // The new tables are not live yet or the page was absent: no flush needed.
        Ok(flush) => flush.ignore(),
        Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {}
        Err(MapToError::FrameAllocationFailed) => panic!("out of memory for page tables"),
    }
}

/// Map one 2 MiB page; skipped when any part is mapped already.
fn map_2m(mapper: &mut OffsetPageTable<'static>, virt: u64, phys: u64, kind: PageKind) {
    let page = Page::<Size2MiB>::containing_address(VirtAddr::new(virt));
    let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys));
    // SAFETY: as in map_4k.
    match unsafe {
        mapper.map_to(
            page,
            frame,
            kind.flags() | Flags::HUGE_PAGE,
            &mut frames::KernelFrames,
        )
    } {
        Ok(flush) => flush.ignore(),
        Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {}
        Err(MapToError::FrameAllocationFailed) => panic!("out of memory for page tables"),
    }
}

/// Map physical `[start, end)` into the direct map, large pages where alignment allows.
fn map_direct(mapper: &mut OffsetPageTable<'static>, start: u64, end: u64, kind: PageKind) {
    let mut phys = align_down(start, PAGE_SIZE);
    let end = align_up(end, PAGE_SIZE).expect("physical ranges end below 2^64");
    while phys < end {
        if phys.is_multiple_of(LARGE_PAGE_SIZE)
            && end - phys >= LARGE_PAGE_SIZE
            && kind != PageKind::Device
        {
            map_2m(mapper, phys_to_direct(phys), phys, kind);
            phys += LARGE_PAGE_SIZE;
        } else {
            map_4k(mapper, phys_to_direct(phys), phys, kind);
            phys += PAGE_SIZE;
        }
    }
}

/// Build the kernel page tables and switch to them. Runs once, on the boot CPU, while
/// the boot tables still direct-map the first 4 GiB (where every early frame lies).
pub fn init(boot: &BootInfo) {
    let pml4 = frames::allocate_zeroed().expect("no frame for the kernel PML4");
    // SAFETY: pml4 was just allocated and zeroed; nothing else refers to it.
    let table = unsafe { &mut *(phys_to_direct(pml4) as *mut PageTable) };
    for entry in table.iter_mut().skip(256) {
        let pdpt = frames::allocate_zeroed().expect("no frame for a kernel PDPT");
        entry.set_addr(PhysAddr::new(pdpt), Flags::PRESENT | Flags::WRITABLE);
    }

    with_mapper(pml4, |mapper| {
        // The real-mode area (firmware tables, the AP trampoline) and all RAM and ACPI memory.
        map_direct(mapper, 0, 1 << 20, PageKind::Data);
        for region in boot.memory_regions() {
            if matches!(
                region.kind,
                MEMORY_TYPE_RAM | MEMORY_TYPE_ACPI_RECLAIMABLE | MEMORY_TYPE_ACPI_NVS
            ) {
                map_direct(mapper, region.start, region.range().end, PageKind::Data);
            }
        }
        // The image, section by section.
        for (section, kind) in [
            (image::text(), PageKind::Text),
            (image::rodata(), PageKind::ReadOnly),
            (image::data(), PageKind::Data),
        ] {
            let mut virt = section.start;
            while virt < section.end {
                map_4k(
                    mapper,
                    virt,
                    section.phys_start() + (virt - section.start),
                    kind,
                );
                virt += PAGE_SIZE;
            }
        }
    });

    let frame = PhysFrame::containing_address(PhysAddr::new(pml4));
    // SAFETY: the new tables map everything the kernel touches from here on: the image
    // (including the code running now and the boot stack in .bss), the direct map of
    // all RAM (the frame bitmap, the heap to come), and nothing it relies on is lost.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
    *KERNEL_PML4.lock() = pml4;
}

/// Physical address of the kernel's PML4.
pub fn kernel_pml4() -> u64 {
    *KERNEL_PML4.lock()
}

/// Map a fresh zeroed frame at kernel address `virt` (stacks).
pub fn map_kernel_page(virt: u64, kind: PageKind) {
    let pml4 = KERNEL_PML4.lock();
    let frame = frames::allocate_zeroed().expect("out of memory for a kernel page");
    with_mapper(*pml4, |mapper| map_4k(mapper, virt, frame, kind));
}

/// Make physical `[start, start + len)` reachable at its direct-map address (firmware
/// tables outside RAM, device registers). Returns that address.
pub fn map_physical(start: u64, len: u64, kind: PageKind) -> u64 {
    let pml4 = KERNEL_PML4.lock();
    with_mapper(*pml4, |mapper| {
        map_direct(mapper, start, start + len.max(1), kind)
    });
    phys_to_direct(start)
}

/// Switch this CPU back to the kernel's own page tables (no user half).
pub fn activate_kernel_tables() {
    let frame = PhysFrame::containing_address(PhysAddr::new(kernel_pml4()));
    // SAFETY: the kernel tables map everything the kernel uses.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}
