//! From QEMU's PVH entry (32-bit protected mode, paging off) to 64-bit Rust in the top
//! 2 GiB, and the real-mode trampoline that brings every other CPU the same way.
//!
//! The page tables are static data, written here as assembler directives, with 2 MiB
//! pages (all writable and executable: this kernel does not separate them):
//!
//! | virtual | physical | who |
//! |---|---|---|
//! | 0 .. 1 GiB | 0 .. 1 GiB | the kernel: the AP trampoline at 0x8000, the jump to high addresses |
//! | 1 GiB .. 1 GiB + 2 MiB ([`USER_BASE`]) | the user region (a static in .bss) | user mode (the U bit) |
//! | [`KERNEL_BASE`] .. + 1 GiB | 0 .. 1 GiB | the kernel image, firmware tables |
//!
//! Assembly in this crate is AT&T syntax (`.code16` and `ljmp` read naturally there).

use crate::user::{USER_BASE, USER_REGION};
use topframe_entry::{KERNEL_CS, KERNEL_DS};

/// Where the image is linked: virtual address = physical address + this (linker.ld).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// Physical memory mapped at [`KERNEL_BASE`]: the first GiB.
pub const MAPPED_PHYSICAL: u64 = 1 << 30;
/// Physical page the other CPUs start in (a SIPI names a page below 1 MiB).
pub const TRAMPOLINE_ADDRESS: u64 = 0x8000;

/// Bytes of the boot CPU's stack, which becomes its idle context.
const BOOT_STACK_SIZE: usize = 64 << 10;

#[repr(C, align(16))]
struct BootStack([u8; BOOT_STACK_SIZE]);

/// The boot CPU's stack (only its address is taken, by the assembly).
static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

// The user region is the second GiB's first 2 MiB page (one PML4 and PDPT entry below).
const _: () = assert!(USER_BASE == 1 << 30);

// The PVH note, the 32-bit entry, the page tables and the boot GDT.
core::arch::global_asm!(
    // XEN_ELFNOTE_PHYS32_ENTRY: where QEMU's PVH loader enters the kernel.
    ".pushsection .note.Xen, \"a\", @note",
    ".p2align 2",
    ".long 4",                                  // name size: "Xen" and its NUL
    ".long 8",                                  // descriptor size: one 64-bit address
    ".long 18",                                 // type: XEN_ELFNOTE_PHYS32_ENTRY
    ".asciz \"Xen\"",                           // the note's owner
    ".p2align 2",
    ".quad pvh_start",                          // the entry's physical address
    ".popsection",

    ".pushsection .boot, \"awx\", @progbits",
    // EBX = physical address of hvm_start_info; 32-bit flat segments; paging off.
    ".code32",
    ".global pvh_start",
    "pvh_start:",
    "mov %ebx, %edi",                           // kernel_main's argument: the start info
    "mov $boot_pml4, %eax",                     // the boot page tables ...
    "mov %eax, %cr3",                           // ... in CR3
    "mov %cr4, %eax",                           // CR4 ...
    "or ${cr4_pae}, %eax",                      // ... with PAE (long mode's page-table format) ...
    "mov %eax, %cr4",                           // ... back
    "mov ${efer}, %ecx",                        // IA32_EFER ...
    "rdmsr",                                    // ... into EDX:EAX ...
    "or ${efer_lme}, %eax",                     // ... with long mode enabled ...
    "wrmsr",                                    // ... back
    "mov %cr0, %eax",                           // CR0 ...
    "or ${cr0_pg_pe}, %eax",                    // ... with paging (and protection) on ...
    "mov %eax, %cr0",                           // ... back: long mode is active
    "lgdt boot_gdt_pointer",                    // a GDT with a 64-bit code segment
    "ljmp ${kernel_cs}, $boot_long_mode",       // load it into CS: 64-bit mode
    ".code64",
    "boot_long_mode:",
    "mov ${kernel_ds}, %eax",                   // the kernel data selector ...
    "mov %eax, %ds",                            // ... in DS
    "mov %eax, %es",                            // ... ES
    "mov %eax, %ss",                            // ... and SS
    "mov %edi, %edi",                           // clear RDI's upper half (undefined after the switch)
    "movabs ${boot_stack} + {boot_stack_size}, %rsp", // the boot stack, in the top 2 GiB
    "movabs ${kernel_main}, %rax",              // kernel_main's address (in the top 2 GiB)
    "call *%rax",                               // kernel_main(start_info), which never returns
    "ud2",                                      // (not reached)

    // The page tables (see the module docs). Flags: P present, W writable, U user, PS 2 MiB.
    ".p2align 12",
    "boot_pml4:",
    ".quad boot_pdpt_low + {table_user}",       // 0 .. 512 GiB: P W U (U: the user region is below)
    ".fill 510, 8, 0",
    ".quad boot_pdpt_high + {table}",           // the top 512 GiB: P W
    "boot_pdpt_low:",
    ".quad boot_pd_first_gib + {table}",        // 0 .. 1 GiB, identity: P W, kernel only
    ".quad boot_pd_user + {table_user}",        // 1 GiB .. 2 GiB: P W U
    ".fill 510, 8, 0",
    "boot_pdpt_high:",
    ".fill 510, 8, 0",
    ".quad boot_pd_first_gib + {table}",        // -2 GiB (KERNEL_BASE): physical 0 .. 1 GiB again
    ".quad 0",
    "boot_pd_first_gib:",
    ".set boot_page, 0",
    ".rept 512",
    ".quad boot_page + {large_page}",           // 2 MiB at physical `boot_page`: P W PS
    ".set boot_page, boot_page + 0x200000",
    ".endr",
    "boot_pd_user:",
    ".quad {user_region} - {kernel_base} + {large_user_page}", // the user region: P W U PS
    ".fill 511, 8, 0",

    // The boot GDT: just enough for long mode; each CPU loads its own in cpu.rs. The
    // descriptors sit at topframe-entry's (Linux's) selectors.
    ".p2align 3",
    "boot_gdt:",
    ".quad 0",                                  // the null descriptor
    ".org boot_gdt + {kernel_cs}",
    ".quad 0x00af9a000000ffff",                 // KERNEL_CS: 64-bit code, ring 0
    ".org boot_gdt + {kernel_ds}",
    ".quad 0x00cf92000000ffff",                 // KERNEL_DS: data, ring 0
    "boot_gdt_end:",
    "boot_gdt_pointer:",
    ".word boot_gdt_end - boot_gdt - 1",        // limit
    ".long boot_gdt",                           // base (physical, below 4 GiB)
    ".popsection",

    cr4_pae = const 1 << 5,
    efer = const 0xc000_0080u32,
    efer_lme = const 1 << 8,
    cr0_pg_pe = const (1u32 << 31) | 1,
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    boot_stack = sym BOOT_STACK,
    boot_stack_size = const BOOT_STACK_SIZE,
    kernel_main = sym crate::kernel_main,
    table = const 0b11,
    table_user = const 0b111,
    large_page = const 0b1000_0011,
    large_user_page = const 0b1000_0111,
    user_region = sym USER_REGION,
    kernel_base = const KERNEL_BASE,
    options(att_syntax),
);

// The AP trampoline: copied to TRAMPOLINE_ADDRESS and started there by a SIPI, in real
// mode with CS = TRAMPOLINE_ADDRESS / 16, IP = 0. Addresses inside it are
// TRAMPOLINE_ADDRESS + (label - ap_trampoline_start). It goes straight from real mode to
// long mode on the boot page tables and calls the launch block's entry.
core::arch::global_asm!(
    ".pushsection .rodata.ap_trampoline, \"a\", @progbits",
    ".global ap_trampoline_start",
    ".global ap_trampoline_end",
    ".global ap_launch",
    ".code16",
    "ap_trampoline_start:",
    "cli",                                      // no interrupts until this CPU has an IDT
    "xor %ax, %ax",                             // segment 0 ...
    "mov %ax, %ds",                             // ... in DS: the addresses below are physical
    "lgdtl {tramp} + (ap_gdt_pointer - ap_trampoline_start)", // the boot GDT
    "mov %cr4, %eax",                           // CR4 ...
    "or ${cr4_pae}, %eax",                      // ... with PAE ...
    "mov %eax, %cr4",                           // ... back
    "mov $boot_pml4, %eax",                     // the boot page tables ...
    "mov %eax, %cr3",                           // ... in CR3
    "mov ${efer}, %ecx",                        // IA32_EFER ...
    "rdmsr",                                    // ... into EDX:EAX ...
    "or ${efer_lme}, %eax",                     // ... with long mode enabled ...
    "wrmsr",                                    // ... back
    "mov %cr0, %eax",                           // CR0 ...
    "or ${cr0_pg_pe}, %eax",                    // ... with protection and paging on, at once ...
    "mov %eax, %cr0",                           // ... back: long mode is active
    "ljmpl ${kernel_cs}, ${tramp} + (ap_long_mode - ap_trampoline_start)", // 64-bit CS
    ".code64",
    "ap_long_mode:",
    "mov ${kernel_ds}, %eax",                   // the kernel data selector ...
    "mov %eax, %ds",                            // ... in DS
    "mov %eax, %es",                            // ... ES
    "mov %eax, %ss",                            // ... and SS
    "mov {tramp} + (ap_launch - ap_trampoline_start), %rsp",      // launch.stack_top
    "mov {tramp} + (ap_launch - ap_trampoline_start) + 8, %rdi",  // launch.argument
    "call *{tramp} + (ap_launch - ap_trampoline_start) + 16",     // launch.entry(argument)
    "ud2",                                      // (not reached: it never returns)
    ".p2align 3",
    "ap_gdt_pointer:",
    ".word boot_gdt_end - boot_gdt - 1",        // limit
    ".long boot_gdt",                           // base
    ".p2align 3",
    "ap_launch:",                               // an ApLaunch, written by the boot CPU
    ".quad 0, 0, 0",
    "ap_trampoline_end:",
    ".popsection",

    tramp = const TRAMPOLINE_ADDRESS,
    cr4_pae = const 1 << 5,
    efer = const 0xc000_0080u32,
    efer_lme = const 1 << 8,
    cr0_pg_pe = const (1u32 << 31) | 1,
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    options(att_syntax),
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_launch: u8;
}

/// What the trampoline reads at `ap_launch`: the stack and the function it calls.
#[repr(C)]
struct ApLaunch {
    stack_top: u64,
    argument: u64,
    entry: extern "C" fn(usize) -> !,
}

/// A pointer to physical memory below [`MAPPED_PHYSICAL`], through the mapping at
/// [`KERNEL_BASE`].
pub fn physical_to_virtual(physical: u64) -> *mut u8 {
    assert!(
        physical < MAPPED_PHYSICAL,
        "physical address {physical:#x} is beyond the first GiB, which this kernel maps"
    );
    (KERNEL_BASE + physical) as *mut u8
}

/// Copy the trampoline to [`TRAMPOLINE_ADDRESS`].
pub fn install_trampoline() {
    let start = &raw const ap_trampoline_start;
    let length = (&raw const ap_trampoline_end).addr() - start.addr();
    // SAFETY: the trampoline's bytes are in .rodata; its page below 1 MiB is free RAM under
    // QEMU (conventional memory), mapped at KERNEL_BASE, used by nothing else.
    unsafe {
        core::ptr::copy_nonoverlapping(start, physical_to_virtual(TRAMPOLINE_ADDRESS), length);
    }
}

/// Tell the next CPU that starts in the trampoline to call `entry(argument)` on the stack
/// ending at `stack_top`.
pub fn set_ap_launch(stack_top: u64, argument: usize, entry: extern "C" fn(usize) -> !) {
    let offset = (&raw const ap_launch).addr() - (&raw const ap_trampoline_start).addr();
    let launch = physical_to_virtual(TRAMPOLINE_ADDRESS + offset as u64).cast::<ApLaunch>();
    // SAFETY: the launch block lies in the installed trampoline, 8-byte aligned; no CPU
    // runs the trampoline now (the boot CPU starts one at a time and waits for it).
    unsafe {
        launch.write_volatile(ApLaunch {
            stack_top,
            argument: argument as u64,
            entry,
        });
    }
}
