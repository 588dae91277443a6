//! The topframe reference kernel: boots through PVH on QEMU, brings every CPU online and
//! runs the `topframe-entry`, `topframe-percpu` and `topframe-sched` crates.
//!
//! Built only by `cargo xtask` (`--features image`, target `x86_64-unknown-none`).
#![no_std]
#![no_main]

extern crate alloc;

mod acpi;
mod apic;
mod boot;
#[cfg(feature = "selftest")]
mod bringup_tests;
mod console;
mod cpu;
mod gdt;
mod idt;
mod log;
mod memory;
mod panic;
mod power;
#[cfg(feature = "selftest")]
mod selftest;
mod serial;
mod smp;
mod sync;
mod traps;
mod tsc;

use alloc::boxed::Box;
use topframe_kernel::cmdline::{Cmdline, Setting};
use topframe_kernel::layout::phys_to_direct;
use topframe_kernel::pvh::{BootInfo, PhysicalRead};

/// Reads physical memory through the boot page tables' direct map (first 4 GiB).
struct BootMemory;

impl PhysicalRead for BootMemory {
    fn read(&self, address: u64, out: &mut [u8]) -> bool {
        let Some(end) = address.checked_add(out.len() as u64) else {
            return false;
        };
        if end > 1 << 32 {
            return false;
        }
        // SAFETY: the boot tables map physical 0..4 GiB at the direct-map base, and the
        // firmware's start info, memory map and command line are in RAM.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_direct(address) as *const u8,
                out.as_mut_ptr(),
                out.len(),
            );
        }
        true
    }
}

/// Rust's entry from the PVH boot code, on the boot stack, boot page tables live.
extern "C" fn start_kernel(start_info: u64) -> ! {
    console::init();
    log::init();
    let boot = BootInfo::parse(&BootMemory, start_info)
        .unwrap_or_else(|error| panic!("unusable PVH start info at {start_info:#x}: {error:?}"));
    memory::frames::init(&boot);
    memory::paging::init(&boot);
    let heap_bytes = memory::heap::init(boot.usable_bytes());
    defmt::info!("heap: {=u64} MiB", heap_bytes >> 20);

    // Leave the boot stack (no guard page) for a guarded one.
    let stack = memory::stacks::allocate(memory::stacks::KERNEL_STACK_SIZE);
    let boot = Box::into_raw(Box::new(boot));
    // SAFETY: the new stack is mapped and unused; kernel_main never returns, so nothing
    // on the boot stack is needed again; `boot` is a leaked box handed over.
    unsafe {
        core::arch::asm!(
            "mov rsp, {stack_top}",         // switch to the guarded stack
            "call {kernel_main}",           // kernel_main(boot): never returns
            "ud2",
            stack_top = in(reg) stack.stack_top,
            kernel_main = sym kernel_main,
            in("rdi") boot,
            options(noreturn),
        )
    }
}

/// The rest of boot, on the boot CPU's guarded stack.
extern "C" fn kernel_main(boot: *mut BootInfo) -> ! {
    // SAFETY: start_kernel passes a leaked Box<BootInfo>.
    let boot = unsafe { Box::from_raw(boot) };
    smp::init_boot_cpu();
    let tsc_source = tsc::calibrate();

    let rsdp = boot.rsdp.expect("no ACPI RSDP in the PVH start info");
    let processors = acpi::processors(rsdp, apic::id())
        .unwrap_or_else(|error| panic!("cannot read the ACPI MADT: {error:?}"));
    let failed = smp::start_application_processors(processors.apic_ids());

    let (free_frames, _) = memory::frames::counts();
    println!("topframe: {}", env!("CARGO_PKG_DESCRIPTION"));
    println!(
        "memory: {} MiB usable, {} MiB free",
        boot.usable_bytes() >> 20,
        (free_frames * topframe_kernel::layout::PAGE_SIZE) >> 20
    );
    println!(
        "cpus online: {}/{}",
        smp::online().len(),
        processors.apic_ids().len()
    );
    if failed > 0 || processors.ignored > 0 {
        println!(
            "cpus offline: {failed} failed to start, {} beyond MAX_CPUS",
            processors.ignored
        );
    }
    println!("apic mode: {}", apic::mode().name());
    println!(
        "tsc: {}.{:03} MHz ({})",
        tsc::frequency_hz() / 1_000_000,
        tsc::frequency_hz() / 1000 % 1000,
        tsc_source.name()
    );
    println!("entry strategy: {}", entry_strategy());
    defmt::info!("boot complete: {=usize} CPUs online", smp::online().len());

    let cmdline = Cmdline(boot.cmdline());
    power::exit(run_workload(cmdline))
}

/// The entry strategy this kernel was built with.
fn entry_strategy() -> &'static str {
    if cfg!(feature = "lazy-top-of-stack") {
        "lazy top of stack (Linux <= 4.0)"
    } else {
        "complete frame (Linux >= 4.1)"
    }
}

/// What the command line asks for; returns the exit status.
fn run_workload(cmdline: Cmdline) -> u32 {
    match cmdline.get("selftest") {
        Setting::Absent => 0,
        #[cfg(feature = "selftest")]
        Setting::Flag => u32::from(selftest::run(None).1 > 0),
        #[cfg(feature = "selftest")]
        Setting::Value(name) => u32::from(selftest::run(Some(name)).1 > 0),
        #[cfg(not(feature = "selftest"))]
        Setting::Flag | Setting::Value(_) => {
            println!("this kernel was built without self tests (cargo feature `selftest`)");
            1
        }
    }
}
