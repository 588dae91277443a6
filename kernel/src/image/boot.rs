//! The PVH entry: from QEMU's 32-bit protected mode into 64-bit Rust in the higher half.
//!
//! QEMU's `-kernel` loader finds the XEN_ELFNOTE_PHYS32_ENTRY note, loads the segments at
//! their physical addresses and jumps to `pvh_start32` in 32-bit protected mode, paging
//! off, with EBX = physical address of `hvm_start_info`. The trampoline builds boot page
//! tables (the first 4 GiB identity-mapped and in the direct map, the first 1 GiB again at
//! the kernel image base), enters long mode and calls [`crate::start_kernel`] on the boot
//! stack. Rust then builds the real page tables and leaves these behind.

use topframe_entry::{KERNEL_CS, KERNEL_DS};
use topframe_kernel::layout::{DIRECT_MAP_BASE, KERNEL_IMAGE_BASE};

/// Bytes of the boot CPU's first stack (in .bss; Rust moves to a guarded stack early).
pub const BOOT_STACK_SIZE: usize = 64 << 10;

/// PML4 index of an address.
const fn pml4_index(address: u64) -> u64 {
    (address >> 39) & 511
}

/// PDPT index of an address.
const fn pdpt_index(address: u64) -> u64 {
    (address >> 30) & 511
}

/// The boot CPU's first stack.
#[repr(C, align(4096))]
struct BootStack([u8; BOOT_STACK_SIZE]);

static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

core::arch::global_asm!(
    // The PVH note. 4-byte aligned; an 8-byte descriptor in an ELF64.
    ".pushsection .note.Xen, \"a\", @note",
    ".p2align 2",
    ".long 4",                          // namesz: "Xen\0"
    ".long 8",                          // descsz: one 64-bit physical address
    ".long 18",                         // type: XEN_ELFNOTE_PHYS32_ENTRY
    ".asciz \"Xen\"",                   // name
    ".p2align 2",
    ".quad pvh_start32",                // desc: the 32-bit entry (linked at its load address)
    ".popsection",

    // Boot page tables, zero-filled by the loader (NOLOAD memory past the file image).
    ".pushsection .boot.bss, \"aw\", @nobits",
    ".p2align 12",
    "boot_pml4: .skip 4096",
    "boot_pdpt_low: .skip 4096",        // 0..4 GiB, for identity and direct map
    "boot_pdpt_high: .skip 4096",       // the PDPT of the top 512 GiB
    "boot_pd: .skip 4 * 4096",          // 2048 2 MiB pages = 4 GiB
    ".popsection",

    // A minimal GDT for the jump into long mode; Rust loads the real one per CPU.
    ".pushsection .boot.data, \"aw\"",
    ".p2align 3",
    "boot_gdt:",
    ".quad 0",                          // null descriptor
    ".quad 0",                          // 0x08: unused here (Linux's 32-bit kernel CS)
    ".quad 0x00af9a000000ffff",         // KERNEL_CS: 64-bit code, DPL 0, present
    ".quad 0x00cf92000000ffff",         // KERNEL_DS: data, writable, DPL 0, present
    "boot_gdt_end:",
    "boot_gdt_pointer:",
    ".word boot_gdt_end - boot_gdt - 1", // limit
    ".long boot_gdt",                   // base (32-bit, below 4 GiB)
    ".popsection",

    ".pushsection .boot.text, \"ax\"",
    ".code32",
    ".global pvh_start32",
    "pvh_start32:",
    "cli",                              // no interrupts until the IDT is ours
    "cld",                              // string ops count upwards (the ABI Rust expects)
    "mov ebp, ebx",                     // keep the hvm_start_info address across the setup

    // boot_pd: 2048 entries, entry i maps 2 MiB page i (present, writable, large).
    "mov edi, offset boot_pd",          // the PD array
    "xor ecx, ecx",                     // i = 0
    ".Lfill_boot_pd:",
    "mov eax, ecx",                     // i
    "shl eax, 21",                      // i * 2 MiB (below 4 GiB: fits 32 bits)
    "or eax, 0x83",                     // PS | RW | P
    "mov [edi + ecx * 8], eax",         // low half of the entry; the high half stays 0
    "inc ecx",                          // next page
    "cmp ecx, 2048",                    // 4 GiB done?
    "jb .Lfill_boot_pd",                            // no: continue

    // boot_pdpt_low[0..4] -> the four PDs.
    "mov eax, offset boot_pd + 3",      // first PD, RW | P
    "mov [boot_pdpt_low], eax",         // 0..1 GiB
    "add eax, 4096",                    // next PD
    "mov [boot_pdpt_low + 8], eax",     // 1..2 GiB
    "add eax, 4096",                    // next PD
    "mov [boot_pdpt_low + 16], eax",    // 2..3 GiB
    "add eax, 4096",                    // next PD
    "mov [boot_pdpt_low + 24], eax",    // 3..4 GiB
    // The kernel image window: its first GiB maps physical 0..1 GiB.
    "mov dword ptr [boot_pdpt_high + {image_pdpt} * 8], offset boot_pd + 3",
    // PML4: identity (for this code), direct map, kernel image.
    "mov dword ptr [boot_pml4], offset boot_pdpt_low + 3",
    "mov dword ptr [boot_pml4 + {direct_pml4} * 8], offset boot_pdpt_low + 3",
    "mov dword ptr [boot_pml4 + {image_pml4} * 8], offset boot_pdpt_high + 3",

    "mov eax, cr4",                     // enable PAE (required for long mode)
    "or eax, 1 << 5",                   // CR4.PAE
    "mov cr4, eax",
    "mov eax, offset boot_pml4",        // the boot PML4
    "mov cr3, eax",
    "mov ecx, 0xc0000080",              // IA32_EFER
    "rdmsr",
    "or eax, (1 << 8) | (1 << 11)",     // EFER.LME (long mode) | EFER.NXE (no-execute bit)
    "wrmsr",
    "mov eax, cr0",
    "or eax, (1 << 31) | (1 << 16) | 1", // CR0.PG | CR0.WP | CR0.PE: paging on, long mode active
    "mov cr0, eax",
    "lgdt [boot_gdt_pointer]",          // a GDT with a 64-bit code segment
    "push {kernel_cs}",                 // far return into 64-bit code: CS
    "mov eax, offset boot_long_mode",
    "push eax",                         // and EIP
    "retf",

    ".code64",
    "boot_long_mode:",
    "mov eax, {kernel_ds}",             // flat data segments
    "mov ds, eax",
    "mov es, eax",
    "mov ss, eax",
    "xor eax, eax",                     // FS and GS null until per-CPU setup
    "mov fs, eax",
    "mov gs, eax",
    "movabs rsp, offset {boot_stack} + {boot_stack_size}", // the boot stack, in the higher half
    "mov edi, ebp",                     // arg 0: hvm_start_info (zero-extends the upper half)
    "movabs rax, offset {start_kernel}", // an absolute jump into the higher half
    "call rax",                         // never returns
    "ud2",
    ".popsection",

    image_pdpt = const pdpt_index(KERNEL_IMAGE_BASE),
    direct_pml4 = const pml4_index(DIRECT_MAP_BASE),
    image_pml4 = const pml4_index(KERNEL_IMAGE_BASE),
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    boot_stack = sym BOOT_STACK,
    boot_stack_size = const BOOT_STACK_SIZE,
    start_kernel = sym crate::start_kernel,
);
