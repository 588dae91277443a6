//! Per-CPU GDT and TSS with Linux's selectors.
//!
//! | selector | Linux name            | use                          |
//! |----------|-----------------------|------------------------------|
//! | 0x08     | `__KERNEL32_CS`       | 32-bit kernel code           |
//! | 0x10     | `__KERNEL_CS`         | 64-bit kernel code           |
//! | 0x18     | `__KERNEL_DS`         | kernel data / stack          |
//! | 0x23     | `__USER32_CS`         | 32-bit user code (SYSRET base) |
//! | 0x2b     | `__USER_DS`           | user data / stack            |
//! | 0x33     | `__USER_CS`           | 64-bit user code             |
//! | 0x40     | `GDT_ENTRY_TSS * 8`   | this CPU's TSS               |
//!
//! SYSCALL/SYSRET derive their selectors from STAR: kernel CS 0x10 and SS 0x18, user
//! CS 0x23 + 16 = 0x33 and SS 0x23 + 8 = 0x2b, which is why the order is fixed.

use alloc::boxed::Box;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, DescriptorFlags, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

use topframe_entry::{KERNEL_CS, KERNEL_DS, KERNEL32_CS, USER_CS, USER_DS, USER32_CS};

/// The TSS descriptor: `GDT_ENTRY_TSS` (8) * 8.
pub const TSS_SELECTOR: u64 = 0x40;

/// GDT slots: Linux's first ten (TSS at index 8, two slots).
const GDT_ENTRIES: usize = 10;

/// IST slots (0-based, as `set_stack_index` takes them), as Linux assigns them.
pub const IST_DOUBLE_FAULT: u16 = 0;
pub const IST_NMI: u16 = 1;
pub const IST_DEBUG: u16 = 2;
pub const IST_MACHINE_CHECK: u16 = 3;
/// Number of IST stacks each CPU gets.
pub const IST_STACKS: usize = 4;

/// One CPU's descriptor tables. Lives for ever (leaked at CPU bring-up).
pub struct CpuTables {
    gdt: GlobalDescriptorTable<GDT_ENTRIES>,
    pub tss: TaskStateSegment,
}

/// Build this CPU's GDT and TSS, with `ist_tops[i]` as the top of IST stack `i`, and load
/// them: segment registers, task register.
pub fn load(ist_tops: [VirtAddr; IST_STACKS]) -> &'static mut CpuTables {
    let tables = Box::leak(Box::new(CpuTables {
        gdt: GlobalDescriptorTable::empty(),
        tss: TaskStateSegment::new(),
    }));
    let mut ist = tables.tss.interrupt_stack_table;
    ist[..IST_STACKS].copy_from_slice(&ist_tops);
    tables.tss.interrupt_stack_table = ist;

    // SAFETY: the TSS is leaked with the GDT, so it lives as long as the GDT uses it.
    let tss = unsafe { Descriptor::tss_segment_unchecked(&raw const tables.tss) };
    let selectors = [
        (
            tables.gdt.append(Descriptor::UserSegment(
                DescriptorFlags::KERNEL_CODE32.bits(),
            )),
            KERNEL32_CS,
        ),
        (
            tables.gdt.append(Descriptor::kernel_code_segment()),
            KERNEL_CS,
        ),
        (
            tables.gdt.append(Descriptor::kernel_data_segment()),
            KERNEL_DS,
        ),
        (
            tables
                .gdt
                .append(Descriptor::UserSegment(DescriptorFlags::USER_CODE32.bits())),
            USER32_CS,
        ),
        (tables.gdt.append(Descriptor::user_data_segment()), USER_DS),
        (tables.gdt.append(Descriptor::user_code_segment()), USER_CS),
        // Index 7 stays null, as on Linux.
        (tables.gdt.append(Descriptor::UserSegment(0)), 0x38),
        (tables.gdt.append(tss), TSS_SELECTOR),
    ];
    for (selector, expected) in selectors {
        // Compare indexes (index 7's null descriptor gets RPL 0, the others their DPL).
        assert_eq!(
            u64::from(selector.0) & !3,
            expected & !3,
            "GDT layout differs from Linux's"
        );
    }

    // SAFETY: the tables are leaked, so they outlive every use by this CPU.
    unsafe { tables.gdt.load_unsafe() };
    // SAFETY: the selectors name the descriptors just loaded.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CS as u16));
        SS::set_reg(SegmentSelector(KERNEL_DS as u16));
        DS::set_reg(SegmentSelector(0));
        ES::set_reg(SegmentSelector(0));
        // Loading FS/GS selectors clears their bases; per-CPU GS base is set after this.
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(SegmentSelector(TSS_SELECTOR as u16));
    }
    tables
}

topframe_percpu::per_cpu! {
    /// This CPU's descriptor tables (set once the per-CPU area exists).
    static CPU_TABLES: *mut CpuTables = core::ptr::null_mut();
}

/// Remember this CPU's tables (after its per-CPU area is live).
pub fn remember(tables: &'static mut CpuTables) {
    CPU_TABLES.write(tables);
}

/// The stack the CPU switches to on an interrupt or exception from user mode (TSS.RSP0).
pub fn set_kernel_stack(stack_top: u64) {
    let tables = CPU_TABLES.read();
    assert!(!tables.is_null(), "per-CPU tables not set up");
    // SAFETY: the tables are this CPU's (leaked at bring-up) and only this CPU writes
    // them; the TSS is packed, so the array is copied in whole.
    unsafe {
        (*tables).tss.privilege_stack_table =
            [VirtAddr::new(stack_top), VirtAddr::zero(), VirtAddr::zero()]
    };
}
