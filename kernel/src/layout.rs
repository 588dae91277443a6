//! The kernel's virtual address layout (x86_64, 4-level paging), Linux's where Linux has one.
//!
//! ```text
//! 0x0000_0000_0000_0000 .. USER_SPACE_END          user space (a process's own)
//! DIRECT_MAP_BASE       .. + DIRECT_MAP_SIZE       all RAM, physical address + DIRECT_MAP_BASE
//! KERNEL_STACKS_BASE    .. + KERNEL_STACKS_SIZE    kernel stacks, each with an unmapped guard below
//! KERNEL_IMAGE_BASE     .. 0xffff_ffff_ffff_ffff   the kernel image (top 2 GiB), physical + KERNEL_IMAGE_BASE
//! ```

/// Size of a base page.
pub const PAGE_SIZE: u64 = 4096;
/// Size of a large (PD-level) page.
pub const LARGE_PAGE_SIZE: u64 = 2 << 20;

/// First address above user space, as on Linux (`TASK_SIZE_MAX`: the last page below the
/// canonical boundary stays unmapped).
pub const USER_SPACE_END: u64 = 0x7fff_ffff_f000;

/// Where physical address 0 appears in the direct map (Linux's `page_offset_base` without KASLR).
pub const DIRECT_MAP_BASE: u64 = 0xffff_8880_0000_0000;
/// Span of the direct map: 64 TiB, as on Linux with 4-level paging.
pub const DIRECT_MAP_SIZE: u64 = 64 << 40;

/// Start of the kernel-stack area (Linux's vmalloc area).
pub const KERNEL_STACKS_BASE: u64 = 0xffff_c900_0000_0000;
/// Virtual span given to each stack: the stack at its top, unmapped guard pages below.
pub const STACK_SLOT_SIZE: u64 = 128 << 10;
/// Number of stack slots in the area.
pub const STACK_SLOTS: u64 = 1 << 20;

/// Where the kernel image is linked: physical load address + this (code model `kernel`).
pub const KERNEL_IMAGE_BASE: u64 = 0xffff_ffff_8000_0000;

/// Physical address `phys` as seen through the direct map.
pub const fn phys_to_direct(phys: u64) -> u64 {
    DIRECT_MAP_BASE + phys
}

/// The physical address behind a direct-map address, or `None` outside the direct map.
pub const fn direct_to_phys(virt: u64) -> Option<u64> {
    if virt >= DIRECT_MAP_BASE && virt - DIRECT_MAP_BASE < DIRECT_MAP_SIZE {
        Some(virt - DIRECT_MAP_BASE)
    } else {
        None
    }
}

/// The physical address behind an address in the kernel image.
pub const fn image_to_phys(virt: u64) -> Option<u64> {
    if virt >= KERNEL_IMAGE_BASE {
        Some(virt - KERNEL_IMAGE_BASE)
    } else {
        None
    }
}

/// True when bits 63..47 of `addr` are all equal (a canonical 48-bit address).
pub const fn is_canonical(addr: u64) -> bool {
    let upper = addr >> 47;
    upper == 0 || upper == 0x1_ffff
}

/// True when `[addr, addr + len)` lies entirely in user space.
pub const fn is_user_range(addr: u64, len: u64) -> bool {
    match addr.checked_add(len) {
        Some(end) => end <= USER_SPACE_END,
        None => false,
    }
}

/// Round `value` down to a multiple of `align` (a power of two).
pub const fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

/// Round `value` up to a multiple of `align` (a power of two); `None` on overflow.
pub const fn align_up(value: u64, align: u64) -> Option<u64> {
    match value.checked_add(align - 1) {
        Some(sum) => Some(align_down(sum, align)),
        None => None,
    }
}

/// Where one kernel stack lives: a slot of [`STACK_SLOT_SIZE`] with the stack at its top
/// and everything below the stack left unmapped, so an overflow faults on the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackSlot {
    /// Lowest address of the unmapped guard.
    pub guard_start: u64,
    /// Lowest mapped address of the stack (= end of the guard).
    pub stack_bottom: u64,
    /// One past the highest stack address: the initial RSP.
    pub stack_top: u64,
}

impl StackSlot {
    /// Slot `index` holding a stack of `stack_size` bytes, or `None` when the index is out
    /// of range or the stack would leave less than one guard page in the slot.
    pub const fn new(index: u64, stack_size: u64) -> Option<StackSlot> {
        if index >= STACK_SLOTS
            || stack_size == 0
            || !stack_size.is_multiple_of(PAGE_SIZE)
            || stack_size > STACK_SLOT_SIZE - PAGE_SIZE
        {
            return None;
        }
        let guard_start = KERNEL_STACKS_BASE + index * STACK_SLOT_SIZE;
        let stack_top = guard_start + STACK_SLOT_SIZE;
        Some(StackSlot {
            guard_start,
            stack_bottom: stack_top - stack_size,
            stack_top,
        })
    }

    /// Number of pages of the stack itself.
    pub const fn stack_pages(&self) -> u64 {
        (self.stack_top - self.stack_bottom) / PAGE_SIZE
    }

    /// True when `addr` falls in this slot's guard.
    pub const fn is_guard(&self, addr: u64) -> bool {
        addr >= self.guard_start && addr < self.stack_bottom
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_map_round_trips() {
        assert_eq!(phys_to_direct(0x1000), 0xffff_8880_0000_1000);
        assert_eq!(
            direct_to_phys(phys_to_direct(0x1234_5678)),
            Some(0x1234_5678)
        );
        assert_eq!(direct_to_phys(DIRECT_MAP_BASE - 1), None);
        assert_eq!(direct_to_phys(DIRECT_MAP_BASE + DIRECT_MAP_SIZE), None);
        assert_eq!(direct_to_phys(KERNEL_IMAGE_BASE), None);
    }

    #[test]
    fn image_addresses_translate() {
        assert_eq!(image_to_phys(0xffff_ffff_8020_0000), Some(0x20_0000));
        assert_eq!(image_to_phys(DIRECT_MAP_BASE), None);
    }

    #[test]
    fn regions_do_not_overlap_and_are_canonical() {
        let regions = [
            (0, USER_SPACE_END),
            (DIRECT_MAP_BASE, DIRECT_MAP_BASE + DIRECT_MAP_SIZE),
            (
                KERNEL_STACKS_BASE,
                KERNEL_STACKS_BASE + STACK_SLOTS * STACK_SLOT_SIZE,
            ),
            (KERNEL_IMAGE_BASE, u64::MAX),
        ];
        for window in regions.windows(2) {
            assert!(window[0].1 <= window[1].0, "{window:x?}");
        }
        for (start, end) in regions {
            assert!(is_canonical(start));
            assert!(is_canonical(end - 1));
        }
    }

    #[test]
    fn canonical_addresses() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x7fff_ffff_ffff));
        assert!(!is_canonical(0x8000_0000_0000));
        assert!(!is_canonical(1 << 63));
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert!(!is_canonical(0xfff7_ffff_ffff_ffff));
        assert!(is_canonical(u64::MAX));
    }

    #[test]
    fn user_ranges() {
        assert!(is_user_range(0x1000, 0x1000));
        assert!(is_user_range(USER_SPACE_END - 1, 1));
        assert!(!is_user_range(USER_SPACE_END - 1, 2));
        assert!(!is_user_range(u64::MAX, 2));
        assert!(!is_user_range(DIRECT_MAP_BASE, 1));
    }

    #[test]
    fn alignment() {
        assert_eq!(align_down(0x1fff, PAGE_SIZE), 0x1000);
        assert_eq!(align_up(0x1001, PAGE_SIZE), Some(0x2000));
        assert_eq!(align_up(0x2000, PAGE_SIZE), Some(0x2000));
        assert_eq!(align_up(u64::MAX, PAGE_SIZE), None);
    }

    #[test]
    fn stack_slots_have_guards() {
        let slot = StackSlot::new(3, 64 << 10).unwrap();
        assert_eq!(slot.guard_start, KERNEL_STACKS_BASE + 3 * STACK_SLOT_SIZE);
        assert_eq!(slot.stack_top, KERNEL_STACKS_BASE + 4 * STACK_SLOT_SIZE);
        assert_eq!(slot.stack_top - slot.stack_bottom, 64 << 10);
        assert_eq!(slot.stack_pages(), 16);
        assert!(slot.is_guard(slot.stack_bottom - 1));
        assert!(!slot.is_guard(slot.stack_bottom));
        let next = StackSlot::new(4, 64 << 10).unwrap();
        assert!(next.guard_start >= slot.stack_top);
        // The largest stack still leaves one guard page.
        let largest = StackSlot::new(0, STACK_SLOT_SIZE - PAGE_SIZE).unwrap();
        assert_eq!(largest.stack_bottom - largest.guard_start, PAGE_SIZE);
        assert_eq!(StackSlot::new(0, STACK_SLOT_SIZE), None);
        assert_eq!(StackSlot::new(0, 100), None);
        assert_eq!(StackSlot::new(STACK_SLOTS, PAGE_SIZE), None);
    }
}
