//! The demo init: what `cargo xtask qemu` runs when no `--init` is given. It shows the
//! kernel at work from user mode: who it is (uname), the process, the clocks, a burst of
//! null system calls timed with the TSC (instructions per call under QEMU's icount),
//! memory mapped, touched and unmapped, and then threads on every CPU making system calls
//! and yielding to each other, with a table of what each CPU ran (the kernel prints its
//! own per-CPU table after init exits).
#![cfg_attr(not(test), no_std, no_main)]

use core::ffi::CStr;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::thread::{self, Stack};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, getpid, getppid, nr, println, sched, syscall1,
    syscall2, syscall6,
};

abi_test_main!(main);

/// Threads per allowed CPU in the busy phase: two, so each CPU has someone to yield to.
const THREADS_PER_CPU: usize = 2;
/// Rounds each thread runs: a burst of null syscalls, then a yield.
const ROUNDS: u64 = 200;
const CALLS_PER_ROUND: u64 = 50;
/// Most CPUs the table shows.
const TABLE_CPUS: usize = 64;

/// Per CPU: syscalls made there and yields, as the threads counted them.
static SYSCALLS: [AtomicU64; TABLE_CPUS] = [const { AtomicU64::new(0) }; TABLE_CPUS];
static YIELDS: [AtomicU64; TABLE_CPUS] = [const { AtomicU64::new(0) }; TABLE_CPUS];

/// Null system calls in the timed burst.
const BURST: u64 = 100_000;
const CLOCK_MONOTONIC: u64 = 1;

fn main(stack: &InitialStack) {
    let mut uts = [[0u8; 65]; 6];
    // SAFETY: uname writes one struct new_utsname (6 x 65 bytes) into `uts`.
    let result = unsafe { syscall1(nr::UNAME, uts.as_mut_ptr() as u64) };
    check_eq!(result, 0, "uname");
    let field = |index: usize| {
        CStr::from_bytes_until_nul(&uts[index])
            .ok()
            .and_then(|s| s.to_str().ok())
            .unwrap_or("?")
    };
    println!(
        "demo: running on {} {} ({}), as pid {} (parent {})",
        field(0),
        field(2),
        field(4),
        getpid(),
        getppid()
    );
    let program = stack
        .args()
        .next()
        .and_then(|arg| arg.to_str().ok())
        .unwrap_or("?");
    println!("demo: argv[0] = {program}, {} arguments", stack.argc());

    let started = monotonic_ns();
    let ticks = time_null_syscalls(BURST);
    let elapsed = monotonic_ns().saturating_sub(started);
    println!(
        "demo: {BURST} getppid calls: {} TSC ticks each (instructions, under icount), {elapsed} ns in all",
        ticks / BURST
    );

    const LENGTH: u64 = 16 << 20;
    // SAFETY: a fresh private anonymous mapping, used only here.
    let address = unsafe { syscall6(nr::MMAP, 0, LENGTH, 3, 0x22, u64::MAX, 0) };
    check!(address > 0, "mmap of 16 MiB: {address}");
    // SAFETY: the mapping is ours, readable and writable; one byte per page is touched.
    let pages = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, LENGTH as usize) };
    for page in pages.chunks_mut(4096) {
        page[0] = 1;
    }
    let touched = pages.chunks(4096).filter(|page| page[0] == 1).count();
    // SAFETY: unmaps exactly the mapping made above.
    let result = unsafe { syscall2(nr::MUNMAP, address as u64, LENGTH) };
    check_eq!(result, 0, "munmap");
    println!("demo: mapped 16 MiB, touched {touched} pages (populated on demand), unmapped");

    busy_threads();
}

/// Two threads pinned to each allowed CPU run rounds of null syscalls and yields; then
/// a table of what each CPU did.
fn busy_threads() {
    let cpus = sched::allowed_cpus();
    let pinned: usize = cpus.iter().take(TABLE_CPUS).count();
    let mut threads = [const { None }; TABLE_CPUS * THREADS_PER_CPU];
    for (slot, cpu) in cpus
        .iter()
        .take(TABLE_CPUS)
        .flat_map(|cpu| core::iter::repeat_n(cpu, THREADS_PER_CPU))
        .enumerate()
    {
        threads[slot] = Some(thread::spawn(Stack::new(), busy_thread, cpu as u64));
    }
    for thread in threads.iter_mut().filter_map(Option::take) {
        thread.join();
    }
    println!(
        "demo: {} threads on {pinned} CPUs, {ROUNDS} rounds of {CALLS_PER_ROUND} getppid calls and a sched_yield each:",
        pinned * THREADS_PER_CPU
    );
    println!("demo: {:>4} {:>10} {:>8}", "cpu", "syscalls", "yields");
    for cpu in cpus.iter().take(TABLE_CPUS) {
        println!(
            "demo: {cpu:>4} {:>10} {:>8}",
            SYSCALLS[cpu].load(Ordering::Relaxed),
            YIELDS[cpu].load(Ordering::Relaxed)
        );
    }
    let total: u64 = SYSCALLS
        .iter()
        .map(|count| count.load(Ordering::Relaxed))
        .sum();
    let expected = (pinned * THREADS_PER_CPU) as u64 * ROUNDS * (CALLS_PER_ROUND + 2);
    check_eq!(total, expected, "syscalls counted by the threads");
}

/// One busy thread: pinned to `cpu`, rounds of getppid calls and a yield, counted per
/// CPU (getcpu tells which: the pin holds, so it is always `cpu`).
fn busy_thread(cpu: u64) {
    let cpu = cpu as usize;
    sched::pin_to(cpu);
    for _ in 0..ROUNDS {
        for _ in 0..CALLS_PER_ROUND {
            getppid();
        }
        let here = sched::getcpu() as usize;
        check_eq!(here, cpu, "getcpu of a thread pinned to CPU {cpu}");
        sched::yield_now();
        SYSCALLS[here].fetch_add(CALLS_PER_ROUND + 2, Ordering::Relaxed);
        YIELDS[here].fetch_add(1, Ordering::Relaxed);
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut timespec = [0i64; 2];
    // SAFETY: clock_gettime writes one struct timespec into `timespec`.
    let result = unsafe {
        syscall2(
            nr::CLOCK_GETTIME,
            CLOCK_MONOTONIC,
            timespec.as_mut_ptr() as u64,
        )
    };
    check_eq!(result, 0, "clock_gettime");
    timespec[0] as u64 * 1_000_000_000 + timespec[1] as u64
}

/// TSC ticks for `count` getppid calls in a tight loop.
fn time_null_syscalls(count: u64) -> u64 {
    let ticks: u64;
    // SAFETY: only registers change: the loop counter, RAX/RCX/R11 (the syscall's), and
    // RDX/RSI/RDI for the TSC readings.
    unsafe {
        core::arch::asm!(
            "lfence",                       // earlier instructions done
            "rdtsc",                        // start: EDX:EAX
            "shl rdx, 32",
            "or rax, rdx",
            "mov rdi, rax",                 // keep the start
            "2:",
            "mov eax, {getppid}",           // the null syscall
            "syscall",
            "dec {count}",
            "jnz 2b",
            "lfence",
            "rdtsc",                        // end
            "shl rdx, 32",
            "or rax, rdx",
            "sub rax, rdi",                 // elapsed ticks
            getppid = const nr::GETPPID,
            count = inout(reg) count => _,
            out("rax") ticks,
            out("rcx") _,
            out("rdx") _,
            out("rdi") _,
            out("r11") _,
            options(nostack),
        );
    }
    ticks
}
