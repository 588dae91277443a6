//! Bringing every CPU online: per-CPU setup (shared by the boot CPU and the others) and
//! the INIT-SIPI-SIPI start of each application processor through a real-mode trampoline.

use crate::gdt::{self, IST_STACKS};
use crate::memory::{paging, stacks};
use crate::{apic, cpu, idt, tsc};
use alloc::alloc::alloc_zeroed;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use topframe_entry::{KERNEL_CS, KERNEL_DS};
use topframe_kernel::MAX_CPUS;
use topframe_kernel::layout::{LARGE_PAGE_SIZE, PAGE_SIZE, phys_to_direct};
use topframe_sched::{AtomicCpuSet, CpuSet};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::registers::model_specific::KernelGsBase;
use x86_64::structures::paging::{PageTable, PageTableFlags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// Physical page of the AP trampoline; the SIPI vector is its page number.
const TRAMPOLINE: u64 = 0x8000;

/// What each CPU reports about itself once online.
pub struct CpuReport {
    /// The CPU number it read through its own GS base (+1, 0 = not reported).
    pub gs_cpu_id: AtomicUsize,
    /// The APIC ID it read from its own local APIC.
    pub apic_id: AtomicU64,
    /// Result of the SSE check run on that CPU (+1, 0 = not run).
    pub sse_sum: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_REPORT: CpuReport = CpuReport {
    gs_cpu_id: AtomicUsize::new(0),
    apic_id: AtomicU64::new(0),
    sse_sum: AtomicU64::new(0),
};

/// One report per CPU number.
pub static REPORTS: [CpuReport; MAX_CPUS] = [EMPTY_REPORT; MAX_CPUS];

/// The CPUs online.
static ONLINE: AtomicCpuSet = AtomicCpuSet::new();

/// Set by an AP once it runs on its own stack and needs no trampoline data any more.
static AP_STARTED: AtomicBool = AtomicBool::new(false);

/// The APIC ID of CPU `cpu` (as it reported it when it came online).
pub fn apic_id(cpu: usize) -> u32 {
    REPORTS[cpu].apic_id.load(Ordering::Relaxed) as u32
}

/// The CPUs online now.
pub fn online() -> CpuSet {
    ONLINE.snapshot()
}

/// Add two vectors with SSE on this CPU and return the sum of the lanes; exercises the
/// FPU setup (`cpu::init`), since the kernel itself is compiled without SSE.
pub fn sse_check() -> u64 {
    let inputs: [u32; 8] = [1, 2, 3, 4, 10, 20, 30, 40];
    let mut output = [0u32; 4];
    // SAFETY: SSE2 is architectural on x86_64 and enabled by cpu::init; the pointers
    // are to local arrays of the right size; xmm0/xmm1 are declared clobbered.
    unsafe {
        core::arch::asm!(
            "movdqu xmm0, [{inputs}]",      // 1, 2, 3, 4
            "movdqu xmm1, [{inputs} + 16]", // 10, 20, 30, 40
            "paddd xmm0, xmm1",             // lane-wise add
            "movdqu [{output}], xmm0",      // 11, 22, 33, 44
            inputs = in(reg) inputs.as_ptr(),
            output = in(reg) output.as_mut_ptr(),
            out("xmm0") _,
            out("xmm1") _,
            options(nostack),
        );
    }
    output.iter().map(|&lane| u64::from(lane)).sum()
}

/// Set up the CPU this runs on as CPU number `cpu`: features, GDT/TSS with IST stacks,
/// per-CPU area and GS base, IDT, local APIC. Then report in.
fn init_this_cpu(cpu: usize) {
    let features = cpu::init();
    if cpu == 0 {
        cpu::patch_smap_sites(&features);
    }
    let ist_tops: [VirtAddr; IST_STACKS] =
        core::array::from_fn(|_| VirtAddr::new(stacks::allocate(stacks::IST_STACK_SIZE).stack_top));
    let tables = gdt::load(ist_tops);

    // The per-CPU area: a copy of the template in the direct map (a heap block), so its
    // GS base is negative, which the paranoid entry relies on.
    let layout = topframe_percpu::area_layout();
    // SAFETY: the layout has a non-zero size (the percpu crate's own block is in it).
    let area = unsafe { alloc_zeroed(layout) };
    assert!(!area.is_null(), "out of memory for a per-CPU area");
    // SAFETY: `area` satisfies area_layout() and is never freed; loading the GS base
    // after the segment registers (gdt::load cleared GS) makes it this CPU's area.
    unsafe {
        let base = topframe_percpu::init_area(cpu, area);
        topframe_percpu::load_gs_base(base);
    }
    gdt::remember(tables);
    // User GS base (swapped in by SWAPGS on the way to user mode): none yet.
    KernelGsBase::write(VirtAddr::zero());
    crate::syscall::init_this_cpu();
    idt::load();
    if cpu == 0 {
        apic::choose_mode(features.x2apic);
    }
    apic::enable_this_cpu();
    if cpu != 0 {
        crate::timer::init_this_cpu();
    }

    let report = &REPORTS[cpu];
    report
        .gs_cpu_id
        .store(topframe_percpu::cpu_id() + 1, Ordering::Relaxed);
    report
        .apic_id
        .store(u64::from(apic::id()), Ordering::Relaxed);
    report.sse_sum.store(sse_check() + 1, Ordering::Relaxed);
    ONLINE.insert(cpu);
}

/// Set up the boot CPU (CPU 0).
pub fn init_boot_cpu() {
    init_this_cpu(0);
}

// The real-mode trampoline, copied to TRAMPOLINE. AT&T syntax; addresses inside it are
// computed relative to its start, plus TRAMPOLINE.
core::arch::global_asm!(
    ".pushsection .rodata.ap_trampoline, \"a\"",
    ".code16",
    ".global ap_trampoline_start",
    "ap_trampoline_start:",
    "cli",                                      // no interrupts until the IDT is ours
    "cld",
    "xorw %ax, %ax",                            // DS = 0: absolute addresses below
    "movw %ax, %ds",
    "lgdtl {base} + (ap_gdt_pointer - ap_trampoline_start)", // a GDT with 64-bit code
    "movl %cr4, %eax",
    "orl $(1 << 5), %eax",                      // CR4.PAE
    "movl %eax, %cr4",
    "movl {base} + (ap_cr3 - ap_trampoline_start), %eax",  // page tables with an identity map
    "movl %eax, %cr3",
    "movl $0xc0000080, %ecx",                   // IA32_EFER
    "rdmsr",
    "orl $((1 << 8) | (1 << 11)), %eax",        // LME | NXE
    "wrmsr",
    "movl %cr0, %eax",
    "orl $((1 << 31) | (1 << 16) | 1), %eax",   // PG | WP | PE: straight into long mode
    "movl %eax, %cr0",
    "ljmpl ${kernel_cs}, ${base} + (ap_long_mode - ap_trampoline_start)",
    ".code64",
    "ap_long_mode:",
    "movl ${kernel_ds}, %eax",                  // flat data segments
    "movl %eax, %ds",
    "movl %eax, %es",
    "movl %eax, %ss",
    "xorl %eax, %eax",                          // FS, GS null until per-CPU setup
    "movl %eax, %fs",
    "movl %eax, %gs",
    "movq {base} + (ap_stack_top - ap_trampoline_start), %rsp", // this AP's guarded stack
    "movq {base} + (ap_argument - ap_trampoline_start), %rdi",  // its CPU number
    "movq {base} + (ap_entry - ap_trampoline_start), %rax",     // ap_start in the higher half
    "jmpq *%rax",
    ".p2align 3",
    "ap_gdt:",
    ".quad 0",                                  // null
    ".quad 0",                                  // 0x08 unused
    ".quad 0x00af9a000000ffff",                 // KERNEL_CS: 64-bit code
    ".quad 0x00cf92000000ffff",                 // KERNEL_DS: data
    "ap_gdt_pointer:",
    ".word 4 * 8 - 1",                          // limit
    ".long {base} + (ap_gdt - ap_trampoline_start)", // base
    ".p2align 3",
    ".global ap_cr3, ap_stack_top, ap_argument, ap_entry",
    "ap_cr3: .quad 0",
    "ap_stack_top: .quad 0",
    "ap_argument: .quad 0",
    "ap_entry: .quad 0",
    ".global ap_trampoline_end",
    "ap_trampoline_end:",
    ".popsection",
    base = const TRAMPOLINE,
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    options(att_syntax),
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_cr3: u8;
    static ap_stack_top: u8;
    static ap_argument: u8;
    static ap_entry: u8;
}

/// Address in the copied trampoline of a symbol in the original.
fn trampoline_slot(symbol: *const u8) -> *mut u64 {
    let offset = symbol as u64 - &raw const ap_trampoline_start as u64;
    phys_to_direct(TRAMPOLINE + offset) as *mut u64
}

/// Page tables for the trampoline: the kernel's upper half plus the first 2 MiB
/// identity-mapped, where the trampoline runs while paging comes on.
fn trampoline_page_tables() -> u64 {
    use crate::memory::frames::allocate_zeroed;
    let pml4 = allocate_zeroed().expect("no frame for the AP page tables");
    let pdpt = allocate_zeroed().expect("no frame for the AP page tables");
    let pd = allocate_zeroed().expect("no frame for the AP page tables");
    // SAFETY: the three frames were just allocated; the kernel PML4 is only read.
    unsafe {
        let kernel = &*(phys_to_direct(paging::kernel_pml4()) as *const PageTable);
        let table = &mut *(phys_to_direct(pml4) as *mut PageTable);
        for index in 256..512 {
            table[index] = kernel[index].clone();
        }
        let writable = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        table[0].set_addr(PhysAddr::new(pdpt), writable);
        (&mut *(phys_to_direct(pdpt) as *mut PageTable))[0].set_addr(PhysAddr::new(pd), writable);
        (&mut *(phys_to_direct(pd) as *mut PageTable))[0]
            .set_addr(PhysAddr::new(0), writable | PageTableFlags::HUGE_PAGE);
    }
    // The trampoline loads CR3 with a 32-bit move, and runs inside the 2 MiB identity page.
    assert!(pml4 + PAGE_SIZE <= 1 << 32 && TRAMPOLINE + PAGE_SIZE <= LARGE_PAGE_SIZE);
    pml4
}

/// Where an AP arrives in the higher half, on its own stack, with the trampoline's
/// page tables.
extern "C" fn ap_start(cpu: u64) -> ! {
    let kernel_tables = PhysFrame::containing_address(PhysAddr::new(paging::kernel_pml4()));
    // SAFETY: the kernel page tables map everything this CPU uses from here on.
    unsafe { Cr3::write(kernel_tables, Cr3Flags::empty()) };
    AP_STARTED.store(true, Ordering::Release);
    init_this_cpu(cpu as usize);
    crate::scheduler::idle_loop()
}

/// How long to wait for an AP to reach Rust after its SIPIs.
const AP_START_TIMEOUT_US: u64 = 1_000_000;

/// Start every CPU in `apic_ids` but the first (the boot CPU). Returns the number of
/// CPUs that did not come up.
pub fn start_application_processors(apic_ids: &[u32]) -> usize {
    let size = &raw const ap_trampoline_end as u64 - &raw const ap_trampoline_start as u64;
    // SAFETY: the trampoline page below 1 MiB is reserved from the frame allocator and
    // direct-mapped; the source is the trampoline's image in .rodata.
    unsafe {
        core::ptr::copy_nonoverlapping(
            &raw const ap_trampoline_start,
            phys_to_direct(TRAMPOLINE) as *mut u8,
            size as usize,
        );
    }
    let tables = trampoline_page_tables();
    let mut failed = 0;
    for (cpu, &apic_id) in apic_ids.iter().enumerate().skip(1) {
        let stack = stacks::allocate(stacks::KERNEL_STACK_SIZE);
        AP_STARTED.store(false, Ordering::Release);
        // SAFETY: the slots are in the copied trampoline; no AP runs it right now (the
        // previous one set AP_STARTED before we got here).
        unsafe {
            trampoline_slot(&raw const ap_cr3).write_volatile(tables);
            trampoline_slot(&raw const ap_stack_top).write_volatile(stack.stack_top);
            trampoline_slot(&raw const ap_argument).write_volatile(cpu as u64);
            trampoline_slot(&raw const ap_entry).write_volatile(ap_start as *const () as u64);
        }
        // INIT, 10 ms, SIPI, 200 us, SIPI if it has not started (Intel's MP protocol).
        apic::send_init(apic_id);
        tsc::delay_us(10_000);
        apic::send_startup(apic_id, (TRAMPOLINE / PAGE_SIZE) as u8);
        tsc::delay_us(200);
        if !AP_STARTED.load(Ordering::Acquire) {
            apic::send_startup(apic_id, (TRAMPOLINE / PAGE_SIZE) as u8);
        }
        let start = tsc::read();
        let timeout = tsc::frequency_hz() / 1_000_000 * AP_START_TIMEOUT_US;
        while !ONLINE.contains(cpu) && tsc::read() - start < timeout {
            core::hint::spin_loop();
        }
        if !ONLINE.contains(cpu) {
            defmt::error!("CPU {} (APIC ID {}) did not come online", cpu, apic_id);
            failed += 1;
        }
    }
    failed
}
