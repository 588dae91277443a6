//! The benchmarks of the slow paths the seed thread is about: signal delivery and
//! rt_sigreturn, and a tracer's syscall stops. Each pins the main thread (and so a child
//! it forks) to its first allowed CPU, and gives it its whole affinity back when done.
//!
//! - `signal_roundtrip`: one `tgkill` of the calling thread with SIGUSR1, whose handler
//!   (SA_SIGINFO, an empty function) runs on the way back to user mode and returns through
//!   the restorer's `rt_sigreturn`. The kernel builds the signal frame from the complete
//!   register frame (the lazy strategy's fixup) and restores every register from it.
//! - `ptrace_stop`: one syscall stop of a traced child and its resume: the tracer's
//!   `PTRACE_SYSCALL` lets the child run to its next syscall entry or exit (the child
//!   calls getppid in a loop), where it stops, and the tracer's `wait4` returns that stop.
//!   Two operations per child syscall (entry and exit); both processes share one CPU.

use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::ptrace::{self, PTRACE_KILL, PTRACE_SETOPTIONS, PTRACE_SYSCALL};
use topframe_abi_tests::ptrace::{PTRACE_O_TRACESYSGOOD, PTRACE_TRACEME};
use topframe_abi_tests::signal::{self, SIGKILL, SIGSTOP, SIGTRAP, SIGUSR1, SigInfo, UContext};
use topframe_abi_tests::{exit_group, getpid, getppid, gettid, process};

use crate::report::bench_fail;
use crate::threaded::{Round, allowed_cpus, pinned};
use crate::timed_loops::read_tsc;

// ---- signal_roundtrip -------------------------------------------------------------------

/// How many times [`count_signal`] ran.
static SIGNALS_HANDLED: AtomicU64 = AtomicU64::new(0);

/// The SIGUSR1 handler: counts, and returns into the restorer.
extern "C" fn count_signal(_signal: u32, _info: &mut SigInfo, _context: &mut UContext) {
    SIGNALS_HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Times `operations` signal round trips (see the module documentation).
pub fn signal_roundtrip(operations: u64) -> Round {
    let operations = operations.max(1);
    let (allowed, cpu) = allowed_cpus();
    pinned(cpu, &allowed, || {
        let installed = signal::install(SIGUSR1, count_signal, 0, 0);
        if installed != 0 {
            bench_fail!(
                "signal_roundtrip",
                "rt_sigaction(SIGUSR1) returned {installed}"
            );
        }
        let (pid, tid) = (getpid(), gettid());
        SIGNALS_HANDLED.store(0, Ordering::Relaxed);
        let start = read_tsc();
        for _ in 0..operations {
            let sent = signal::tgkill(pid, tid, SIGUSR1);
            if sent != 0 {
                bench_fail!("signal_roundtrip", "tgkill returned {sent}");
            }
        }
        let ticks = read_tsc() - start;
        let handled = SIGNALS_HANDLED.load(Ordering::Relaxed);
        if handled != operations {
            bench_fail!(
                "signal_roundtrip",
                "the handler ran {handled} times for {operations} signals"
            );
        }
        signal::set_disposition(SIGUSR1, signal::SIG_DFL);
        Round { operations, ticks }
    })
}

// ---- ptrace_stop ------------------------------------------------------------------------

/// The traced child: asks to be traced, stops itself, then calls getppid until the tracer
/// kills it.
fn traced_child() -> ! {
    if ptrace::request(PTRACE_TRACEME, 0, 0, 0) != 0 || signal::raise(SIGSTOP) != 0 {
        exit_group(1);
    }
    loop {
        getppid();
    }
}

/// The tracer's `wait4(child)`, which must report a stop by `signal`.
fn wait_for_stop(child: i64, signal: u8) {
    let (result, status) = process::wait4(child, 0);
    if result != child || ptrace::stopped_by(status) != Some(signal) {
        bench_fail!(
            "ptrace_stop",
            "wait4({child}) returned {result} with status {status:#x}, expected a stop by \
             {signal:#x}"
        );
    }
}

/// Times `operations` syscall stops of a traced child (see the module documentation).
pub fn ptrace_stop(operations: u64) -> Round {
    let operations = operations.max(1);
    let (allowed, cpu) = allowed_cpus();
    pinned(cpu, &allowed, || {
        let child = process::fork();
        if child == 0 {
            traced_child();
        }
        if child < 0 {
            bench_fail!("ptrace_stop", "fork returned {child}");
        }
        wait_for_stop(child, SIGSTOP as u8);
        let set = ptrace::request(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACESYSGOOD);
        if set != 0 {
            bench_fail!("ptrace_stop", "PTRACE_SETOPTIONS returned {set}");
        }
        let syscall_stop = SIGTRAP as u8 | 0x80;
        let start = read_tsc();
        for _ in 0..operations {
            let resumed = ptrace::request(PTRACE_SYSCALL, child, 0, 0);
            if resumed != 0 {
                bench_fail!("ptrace_stop", "PTRACE_SYSCALL returned {resumed}");
            }
            wait_for_stop(child, syscall_stop);
        }
        let ticks = read_tsc() - start;
        let killed = ptrace::request(PTRACE_KILL, child, 0, 0);
        let (result, status) = process::wait4(child, 0);
        if killed != 0 || result != child || process::killed_by(status) != Some(SIGKILL as u8) {
            bench_fail!(
                "ptrace_stop",
                "PTRACE_KILL returned {killed}, then wait4 {result} with status {status:#x}"
            );
        }
        Round { operations, ticks }
    })
}
