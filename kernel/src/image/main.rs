//! The topframe reference kernel: boots through PVH on QEMU, brings every CPU online and
//! runs the `topframe-entry`, `topframe-percpu` and `topframe-sched` crates.
//!
//! Built only by `cargo xtask` (`--features image`, target `x86_64-unknown-none`).
#![no_std]
#![no_main]
// The bench's floor build answers SYSCALL with three instructions: the syscall table and
// everything only syscalls reach are deliberately unused there.
#![cfg_attr(feature = "floor-entry", allow(dead_code))]

extern crate alloc;

mod acpi;
mod apic;
mod boot;
#[cfg(feature = "selftest")]
mod bringup_tests;
mod console;
mod cpu;
mod futex;
mod gdt;
mod idt;
mod initramfs;
mod ipi;
mod log;
mod memory;
mod panic;
mod pic;
mod power;
mod ptrace;
mod rtc;
mod scheduler;
#[cfg(feature = "selftest")]
mod selftest;
mod serial;
mod signal;
mod smp;
mod sync;
mod syscall;
mod task;
mod time;
mod timer;
mod tlb;
mod traps;
mod tsc;
mod user;
mod watchdog;

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
    pic::disable();
    smp::init_boot_cpu();
    let tsc_source = tsc::calibrate();
    timer::init_boot_cpu();

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
    println!("timer: {}", timer::describe());
    println!("entry strategy: {}", entry_strategy());
    defmt::info!("boot complete: {=usize} CPUs online", smp::online().len());

    let cmdline = Cmdline(boot.cmdline());
    if cmdline.get("syscall_slow_path") == Setting::Flag {
        syscall::force_slow_path();
    }
    if cmdline.get("selftest") != Setting::Absent {
        power::exit(run_self_tests(cmdline));
    }
    task::init_fpu(&cpu::Features::detect());
    scheduler::init();
    if cmdline.get("watchdog") == Setting::Flag {
        watchdog::start();
    }
    task::spawn_kernel_thread(run_workload, Box::into_raw(boot) as u64);
    scheduler::idle_loop()
}

/// The kernel thread that runs the programs, then powers off with init's status.
fn run_workload(boot: u64) -> ! {
    // SAFETY: kernel_main hands over its leaked Box<BootInfo>, used only here.
    let boot = unsafe { Box::from_raw(boot as *mut BootInfo) };
    let cmdline = Cmdline(boot.cmdline());
    #[cfg(feature = "selftest")]
    if let Setting::Value(cpu) = cmdline.get("stall_cpu") {
        watchdog::stall(cpu.parse().unwrap_or(0));
    }
    let status = run_programs(cmdline, &boot);
    power::exit(status)
}

/// The entry strategy this kernel was built with.
fn entry_strategy() -> &'static str {
    if cfg!(feature = "floor-entry") {
        "floor (swapgs; swapgs; sysretq: the bench's bound)"
    } else {
        <topframe_entry::Selected as topframe_entry::EntryStrategy>::NAME
    }
}

/// The self tests the command line asks for (`selftest` or `selftest=NAME`), on the boot
/// CPU before the scheduler starts; returns the exit status.
fn run_self_tests(cmdline: Cmdline) -> u32 {
    match cmdline.get("selftest") {
        #[cfg(feature = "selftest")]
        Setting::Value(name) => u32::from(selftest::run(Some(name)).1 > 0),
        #[cfg(feature = "selftest")]
        _ => u32::from(selftest::run(None).1 > 0),
        #[cfg(not(feature = "selftest"))]
        _ => {
            println!("this kernel was built without self tests (cargo feature `selftest`)");
            1
        }
    }
}

/// The environment every program starts with (Linux gives init HOME and TERM).
const ENVIRONMENT: [&[u8]; 2] = [b"HOME=/", b"TERM=linux"];

/// Run `/init` (or `init=PATH`) with the arguments after ` -- `, or with `runlist`
/// every line of `/runlist` (`PATH ARGS...`) in turn. Returns init's status (128 +
/// signal when killed), 0 after a run list, 0 without an initramfs.
fn run_programs(cmdline: Cmdline, boot: &BootInfo) -> u32 {
    let Some(archive) = initramfs::archive(boot) else {
        return 0;
    };
    if cmdline.get("runlist") == Setting::Flag {
        let Some(list) = initramfs::read_file(archive, "/runlist") else {
            println!("runlist: no /runlist in the initramfs");
            return 1;
        };
        let list = core::str::from_utf8(&list).unwrap_or("");
        for line in list.lines().filter(|line| !line.trim().is_empty()) {
            let words: alloc::vec::Vec<&str> = line.split_ascii_whitespace().collect();
            match run_program(archive, words[0], &words) {
                Some(status) => println!("[run] {}: {}", words[0], describe(status)),
                None => println!("[run] {}: could not start", words[0]),
            }
        }
        println!(
            "[run] returns to user mode through the slow path: {}",
            syscall::slow_exits()
        );
        return 0;
    }
    let path = match cmdline.get("init") {
        Setting::Value(path) => path,
        _ => "/init",
    };
    let arguments = boot
        .cmdline()
        .split_once(" -- ")
        .map_or("", |(_, after)| after);
    let argv: alloc::vec::Vec<&str> = core::iter::once(path)
        .chain(arguments.split_ascii_whitespace())
        .collect();
    let status = match run_program(archive, path, &argv) {
        Some(status) => {
            println!("init: {}", describe(status));
            status.shell_status()
        }
        None => 127,
    };
    print_cpu_table();
    status
}

/// What each CPU did while the programs ran: the scheduler's figures and idle time.
fn print_cpu_table() {
    println!(
        "{:>4} {:>17} {:>11} {:>7} {:>10} {:>8}",
        "cpu", "context switches", "migrations", "ticks", "idle ms", "idle %"
    );
    let uptime_ns = tsc::nanoseconds().max(1);
    for cpu in smp::online().iter() {
        let figures = scheduler::cpu_figures(cpu);
        println!(
            "{cpu:>4} {:>17} {:>11} {:>7} {:>10} {:>7}%",
            figures.stats.context_switches,
            figures.stats.migrations,
            figures.ticks,
            figures.idle_ns / 1_000_000,
            figures.idle_ns * 100 / uptime_ns
        );
    }
    println!("entry strategy: {}", entry_strategy());
}

/// Load and run one program to its end.
fn run_program(archive: &[u8], path: &str, argv: &[&str]) -> Option<task::ExitStatus> {
    let Some(image) = initramfs::read_file(archive, path) else {
        println!("{path}: not in the initramfs");
        return None;
    };
    let argv: alloc::vec::Vec<&[u8]> = argv.iter().map(|arg| arg.as_bytes()).collect();
    let parent = task::current().process.clone();
    match task::spawn_program(&parent, path, &image, &argv, &ENVIRONMENT) {
        Ok(process) => Some(task::wait_for_child(process.pid)),
        Err(error) => {
            println!("{path}: cannot run: {error}");
            None
        }
    }
}

fn describe(status: task::ExitStatus) -> alloc::string::String {
    match status {
        task::ExitStatus::Exited(code) => alloc::format!("exited with status {code}"),
        task::ExitStatus::Killed(signal) => alloc::format!("killed by signal {signal}"),
    }
}
