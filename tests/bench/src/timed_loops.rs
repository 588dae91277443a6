//! The timed loops: `lfence; rdtsc` before and after ITERATIONS operations, every loop
//! the same four instructions per iteration so that their differences are the kernel's:
//!
//! ```text
//! 2:  mov eax, NUMBER    ; the call's number (any value for `loop`)
//!     OPERATION          ; syscall, int $0x80, or nop for `loop`
//!     dec r8             ; the count, in a register every entry preserves
//!     jnz 2b
//! ```
//!
//! `loop` is exactly `null_syscall` with `nop` in place of `syscall`, so under TCG icount
//! (one TSC tick per instruction) "per call minus `loop`" is what the kernel executed.
//!
//! The benchmarks with threads and processes (`threaded`) time whole Rust loops between
//! two [`read_tsc`]s; `yield` and `null_syscall_throughput` use the loops here.

use core::arch::asm;

/// x86_64 `getppid`.
const GETPPID: u32 = 110;
/// No x86_64 system call has this number (Linux's table ends below 500): `-ENOSYS`.
const UNASSIGNED: u32 = 1000;
/// i386 `getpid`, through `int $0x80`.
const I386_GETPID: u32 = 20;
/// x86_64 `sched_yield`.
const SCHED_YIELD: u32 = 24;

/// The TSC once every earlier instruction has completed (`lfence; rdtsc`), as the loops
/// below read it.
pub fn read_tsc() -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: LFENCE and RDTSC touch no memory. (No `nomem`: the compiler keeps memory
    // accesses on their side of the reading.)
    unsafe {
        asm!(
            "lfence",   // earlier instructions done before reading TSC
            "rdtsc",    // EDX:EAX = TSC
            out("eax") low,
            out("edx") high,
            options(nostack, preserves_flags),
        );
    }
    (u64::from(high) << 32) | u64::from(low)
}

/// Generates a function timing `iterations` (at least 1) runs of `$operation` with
/// `$number` in EAX; returns the TSC ticks between the two `lfence; rdtsc`.
macro_rules! timed_loop {
    ($(#[$doc:meta])* $name:ident, $operation:literal, $number:expr) => {
        $(#[$doc])*
        pub fn $name(iterations: u64) -> u64 {
            let ticks;
            // SAFETY: the operations are getppid, an unassigned number, i386 getpid,
            // sched_yield or a nop: none touches memory or changes the process (a yield
            // only lets other threads run first). SYSCALL overwrites RCX and
            // R11 (declared clobbered for every loop, so that all compile alike); the
            // count (R8) and the start time (R9) live in registers every entry preserves.
            unsafe {
                asm!(
                    "lfence",               // earlier instructions done before reading TSC
                    "rdtsc",                // EDX:EAX = TSC
                    "shl rdx, 32",
                    "or rax, rdx",
                    "mov r9, rax",          // start
                    "2:",
                    "mov eax, {number}",    // the call's number
                    $operation,             // the operation measured
                    "dec r8",               // one iteration done
                    "jnz 2b",
                    "lfence",               // the loop done before reading TSC
                    "rdtsc",
                    "shl rdx, 32",
                    "or rax, rdx",
                    "sub rax, r9",          // ticks = end - start
                    number = const $number,
                    inout("r8") iterations.max(1) => _,
                    out("r9") _,
                    out("rax") ticks,
                    out("rdx") _,
                    out("rcx") _,
                    out("r11") _,
                    options(nostack),
                );
            }
            ticks
        }
    };
}

timed_loop!(
    /// The loop alone: `nop` where the others enter the kernel.
    empty_loop,
    "nop",
    GETPPID
);
timed_loop!(
    /// `getppid` through SYSCALL: the fast path with the lightest real handler.
    getppid_loop,
    "syscall",
    GETPPID
);
timed_loop!(
    /// An unassigned number through SYSCALL: the entry, the range check, no handler.
    enosys_loop,
    "syscall",
    UNASSIGNED
);
timed_loop!(
    /// i386 `getpid` through `int $0x80`: the IDT path and IRETQ.
    int80_getpid_loop,
    "int 0x80",
    I386_GETPID
);
timed_loop!(
    /// `sched_yield` through SYSCALL: with a second thread yielding on the same CPU, each
    /// call hands the CPU over (see `threaded::yield_pair`).
    sched_yield_loop,
    "syscall",
    SCHED_YIELD
);
