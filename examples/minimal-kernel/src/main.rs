//! A minimal kernel on topframe's three library crates: `topframe-entry` (the SYSCALL and
//! interrupt entry), `topframe-percpu` (per-CPU data) and `topframe-sched` (run queues).
//!
//! It boots through PVH, starts every CPU the ACPI MADT lists, and runs one tiny user
//! program in ring 3 once on each CPU, as one task per CPU. Each greets through a system
//! call and exits; the kernel then powers QEMU off. `README.md` walks through it in order:
//! [`boot`], [`console`], [`cpu`], [`interrupts`], [`smp`], [`user`], [`syscall`], [`task`].
#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod console;
mod cpu;
mod interrupts;
mod smp;
mod syscall;
mod task;
mod user;

use core::panic::PanicInfo;
use talc::TalcLock;
use talc::source::Claim;
use topframe_entry::EntryStrategy;
use x86_64::instructions::{hlt, interrupts as irq, port::Port};

/// Bytes of the heap: tasks, kernel stacks, per-CPU areas, the scheduler's queues.
const HEAP_SIZE: usize = 4 << 20;

/// The heap's memory, in .bss (below the per-CPU template, see linker.ld).
static mut HEAP_MEMORY: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

/// The global allocator (`alloc` is what topframe-sched needs): talc over HEAP_MEMORY. Its
/// spin lock does not disable interrupts, which is enough here: no interrupt handler
/// allocates.
#[global_allocator]
// SAFETY: HEAP_MEMORY is used by nothing but this allocator, which claims it once.
static HEAP: TalcLock<spin::Mutex<()>, Claim> =
    TalcLock::new(unsafe { Claim::array(&raw mut HEAP_MEMORY) });

/// The boot CPU's Rust entry, called by `boot.rs` in 64-bit mode on the boot stack with
/// the physical address of PVH's `hvm_start_info`.
extern "C" fn kernel_main(start_info: u64) -> ! {
    console::init();
    println!(
        "topframe example kernel: entry strategy {}",
        topframe_entry::Selected::NAME
    );
    interrupts::mask_legacy_pic();
    cpu::patch_smap_sites();
    cpu::init(0);
    let apic_ids = smp::apic_ids(start_info, cpu::APIC_ID.read());
    smp::start_other_cpus(&apic_ids);
    println!("cpus online: {}, APIC IDs {apic_ids:?}", apic_ids.len());
    user::load_program();
    task::start(apic_ids.len())
}

/// Print the status line `cargo xtask` reads, then end QEMU through its `isa-debug-exit`
/// device (port 0xf4), which exits with `(status << 1) | 1`: hence the line.
pub fn power_off(status: u32) -> ! {
    println!("topframe: exit status {status}");
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit (xtask adds the device); writing ends QEMU.
    unsafe { Port::<u32>::new(0xf4).write(status) };
    // Without the device (another VM): stop here.
    loop {
        irq::disable();
        hlt();
    }
}

/// A kernel bug: report it and power off with status 101.
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    irq::disable();
    console::print_panic(format_args!(
        "KERNEL PANIC on CPU {}: {info}\n",
        topframe_percpu::cpu_id()
    ));
    power_off(101)
}
