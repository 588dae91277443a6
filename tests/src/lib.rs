//! The runtime of the user-mode ABI test programs in `src/bin/`: static, `no_std`,
//! libc-free x86_64 Linux executables, each asserting one part of Linux's user-visible ABI
//! (syscall register contract, error returns, initial stack, faults). They run natively
//! (Linux is the oracle) and inside the topframe kernel; `tests/native.rs` runs them on the
//! host and checks each outcome against `expected.toml`.
//!
//! A program is a `fn main(stack: &InitialStack)` handed to [`abi_test_main!`], which
//! generates `_start`, the panic handler and the exit path. It reports with [`check!`],
//! [`check_eq!`] and [`fail!`] (`FAIL <program>: <message>`, exit status 1); returning
//! from `main` prints `PASS <program>` and exits 0. Output goes through [`println!`]: a
//! formatter into a buffer on the stack, written to fd 1 with `write`.
//!
//! Nothing here needs more than the kernel gives a fresh process: no libc, no TLS (FS base
//! is 0), no heap, no files but fds 0-2. The programs are linked by
//! `build.rs` as static non-PIE executables without start files.
//!
//! The multi-threading and scheduler programs use [`thread`] (raw `clone` threads on
//! mmap'ed stacks, joined through `CLONE_CHILD_CLEARTID`), [`process`] (`fork` as a raw
//! `clone(SIGCHLD)`, `wait4`), [`futex`], [`sched`] (affinity, `getcpu`, `sched_yield`),
//! [`time`] (clocks and sleeps) and [`mman`] (anonymous mappings). The signal and ptrace
//! programs use [`signal`] (actions, masks, alternate stacks, the signal frame's layout)
//! and [`ptrace`] (requests and `user_regs_struct`). Threads share state
//! through statics (atomics); a failure in any thread ends the whole process.
#![no_std]

mod console;
pub mod errno;
pub mod futex;
mod initial_stack;
mod mem;
pub mod mman;
pub mod nr;
pub mod process;
pub mod ptrace;
pub mod registers;
mod runtime;
pub mod sched;
pub mod signal;
mod syscall;
pub mod thread;
pub mod time;

pub use console::{exit_group, fail_with, print, write};
pub use initial_stack::{InitialStack, auxv_type};
pub use runtime::{fail_on_panic, run};
pub use syscall::{syscall0, syscall1, syscall2, syscall3, syscall4, syscall6};

/// This process's ID (`getpid`).
pub fn getpid() -> i64 {
    // SAFETY: getpid takes no arguments and touches no memory.
    unsafe { syscall0(nr::GETPID) }
}

/// The parent's process ID (`getppid`).
pub fn getppid() -> i64 {
    // SAFETY: getppid takes no arguments and touches no memory.
    unsafe { syscall0(nr::GETPPID) }
}

/// The calling thread's ID (`gettid`).
pub fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and touches no memory.
    unsafe { syscall0(nr::GETTID) }
}
