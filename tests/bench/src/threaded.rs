//! The benchmarks that need a real kernel: threads, futexes, the scheduler, clone, fork
//! and wait4 (never run on the floor build, whose SYSCALL does nothing). Each takes the
//! number of operations a round should have, and returns how many it timed and the TSC
//! ticks they took; what one operation is:
//!
//! - `yield`: one `sched_yield` by one of two threads pinned to the same CPU, each
//!   yielding in a loop: every call hands the CPU to the other thread, so a round trip
//!   (there and back) is two operations. The main thread times its own calls and counts
//!   two per call; the partner's count checks that they alternated.
//! - `futex_pingpong`: one hand-over between two threads pinned to two different CPUs: the
//!   thread whose turn it is increments the word and FUTEX_WAKE_PRIVATEs it; the other,
//!   in FUTEX_WAIT_PRIVATE on it (or finding it already changed), sees its turn. A round
//!   trip is two operations.
//! - `clone_join`: one `clone` of a thread (pthread_create's flags with
//!   CLONE_PARENT_SETTID and CLONE_CHILD_CLEARTID) that exits at once (SYS_exit), and the
//!   creator's (shared) FUTEX_WAIT on the tid word until the kernel has cleared it.
//! - `fork_wait`: one `fork` (`clone(SIGCHLD)`) of a child that calls exit_group(0) at
//!   once, and the parent's `wait4` for it.
//! - `null_syscall_throughput`: one getppid by any of N threads, one pinned to each CPU
//!   the program may run on, all calling at once; the round is timed from the start
//!   signal to the last thread's end.
//!
//! `yield`, `clone_join` and `fork_wait` pin the main thread (and so every thread or child
//! it starts, which inherits the affinity) to its first allowed CPU: they measure one CPU.
//! Every benchmark gives the main thread its whole affinity back when done.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::errno::{EAGAIN, EINTR};
use topframe_abi_tests::sched::{self, CpuSet};
use topframe_abi_tests::thread::{self, Stack, THREAD_FLAGS, Thread};
use topframe_abi_tests::{exit_group, futex, nr, process};

use crate::report::{self, bench_fail};
use crate::timed_loops::{self, read_tsc};

/// What a round measured.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    /// Operations timed.
    pub operations: u64,
    /// TSC ticks they took.
    pub ticks: u64,
}

/// Runs `body` with the calling thread pinned to `cpu`, then gives it `allowed` back.
pub fn pinned<R>(cpu: usize, allowed: &CpuSet, body: impl FnOnce() -> R) -> R {
    sched::pin_to(cpu);
    let result = body();
    let restored = sched::setaffinity(0, allowed);
    if restored != 0 {
        report::fail(format_args!(
            "sched_setaffinity(0, {allowed:?}) returned {restored}"
        ));
    }
    result
}

/// The calling thread's CPUs, and the first of them.
pub fn allowed_cpus() -> (CpuSet, usize) {
    let allowed = sched::allowed_cpus();
    let first = allowed.nth(0).expect("allowed_cpus is never empty");
    (allowed, first)
}

/// FUTEX_WAIT_PRIVATE on `word` while it holds `value`: returns when it changed (or
/// spuriously, which the callers' loops absorb); fails the program on an error other
/// than -EAGAIN or -EINTR.
fn wait_while(word: &AtomicU32, value: u32) {
    let result = futex::wait(word, value, None);
    if result != 0 && result != -EAGAIN && result != -EINTR {
        report::fail(format_args!("FUTEX_WAIT_PRIVATE returned {result}"));
    }
}

/// FUTEX_WAKE_PRIVATE of up to `count` waiters on `word`; fails the program on an error.
fn wake(word: &AtomicU32, count: u32) {
    let result = futex::wake(word, count);
    if result < 0 {
        report::fail(format_args!("FUTEX_WAKE_PRIVATE returned {result}"));
    }
}

/// Pins the calling thread to `cpu` and checks with `getcpu` that it runs there.
fn pin_and_check(cpu: usize) {
    sched::pin_to(cpu);
    let on = sched::getcpu() as usize;
    if on != cpu {
        report::fail(format_args!(
            "a thread pinned to CPU {cpu} runs on CPU {on}"
        ));
    }
}

// ---- yield ------------------------------------------------------------------------------

/// Set by the main thread when the yield partner is to stop.
static YIELD_STOP: AtomicU32 = AtomicU32::new(0);
/// Set by the yield partner once it runs.
static YIELD_PARTNER_READY: AtomicU32 = AtomicU32::new(0);
/// The partner's `sched_yield` calls, stored when it stops.
static YIELD_PARTNER_CALLS: AtomicU64 = AtomicU64::new(0);

/// The yield partner: `sched_yield` in a loop until [`YIELD_STOP`], counting its calls.
fn yield_partner(_: u64) {
    YIELD_PARTNER_READY.store(1, Ordering::Release);
    let calls: u64;
    // SAFETY: sched_yield touches no memory; the loop only reads YIELD_STOP (an aligned
    // AtomicU32 that lives for ever: a plain 32-bit load is an atomic relaxed load on
    // x86_64). SYSCALL overwrites RCX and R11, declared clobbered; the count lives in a
    // register every entry preserves.
    unsafe {
        asm!(
            "xor {calls:e}, {calls:e}",     // calls = 0
            "2:",
            "mov eax, {yield_number}",      // sched_yield
            "syscall",                      // hand the CPU to the main thread
            "inc {calls}",                  // one call more
            "cmp dword ptr [{stop}], 0",    // asked to stop?
            "je 2b",                        // not yet: yield again
            yield_number = const nr::SCHED_YIELD,
            stop = in(reg) YIELD_STOP.as_ptr(),
            calls = out(reg) calls,
            out("rax") _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    YIELD_PARTNER_CALLS.store(calls, Ordering::Release);
}

/// `yield`: two threads on one CPU handing it over with `sched_yield`.
pub fn yield_pair(operations: u64) -> Round {
    let (allowed, cpu) = allowed_cpus();
    pinned(cpu, &allowed, || {
        YIELD_STOP.store(0, Ordering::Relaxed);
        YIELD_PARTNER_READY.store(0, Ordering::Relaxed);
        // The partner inherits the pinning: both threads share `cpu`.
        let partner = thread::spawn(Stack::new(), yield_partner, 0);
        while YIELD_PARTNER_READY.load(Ordering::Acquire) == 0 {
            sched::yield_now();
        }
        let calls = (operations / 2).max(1);
        let ticks = timed_loops::sched_yield_loop(calls);
        YIELD_STOP.store(1, Ordering::Release);
        drop(partner.join());
        // The partner yields once per call of ours (within the round), plus a few around
        // it: anything else means the calls did not hand the CPU over.
        let partner_calls = YIELD_PARTNER_CALLS.load(Ordering::Acquire);
        let slack = calls / 100 + 4;
        if partner_calls + slack < calls || partner_calls > calls + slack {
            bench_fail!(
                "yield",
                "the main thread made {calls} timed sched_yield calls, its partner on the same \
                 CPU {partner_calls}: the calls did not alternate"
            );
        }
        Round {
            operations: 2 * calls,
            ticks,
        }
    })
}

// ---- futex_pingpong ---------------------------------------------------------------------

/// The ball: even values are the main thread's turn, odd ones the partner's.
static BALL: AtomicU32 = AtomicU32::new(0);
/// The ball's last value in this round: the partner stops there.
static BALL_END: AtomicU32 = AtomicU32::new(0);
/// Set by the ping-pong partner once it runs on its CPU.
static PINGPONG_PARTNER_READY: AtomicU32 = AtomicU32::new(0);

/// The ping-pong partner, on `cpu`: whenever the ball is odd, makes it even and wakes the
/// main thread; sleeps on it while it is even.
fn pingpong_partner(cpu: u64) {
    pin_and_check(cpu as usize);
    PINGPONG_PARTNER_READY.store(1, Ordering::Release);
    let end = BALL_END.load(Ordering::Relaxed);
    loop {
        let ball = BALL.load(Ordering::Acquire);
        if ball >= end {
            break;
        }
        if ball.is_multiple_of(2) {
            wait_while(&BALL, ball);
            continue;
        }
        BALL.store(ball + 1, Ordering::Release);
        wake(&BALL, 1);
    }
}

/// `futex_pingpong`: two threads on two CPUs handing a futex word to each other.
pub fn futex_pingpong(operations: u64) -> Round {
    let (allowed, first) = allowed_cpus();
    let Some(second) = allowed.nth(1) else {
        bench_fail!(
            "futex_pingpong",
            "needs two CPUs, the program may run on {allowed:?} only"
        );
    };
    let round_trips = (operations / 2).max(1);
    let Ok(end) = u32::try_from(2 * round_trips) else {
        bench_fail!(
            "futex_pingpong",
            "{operations} operations: too many for the word"
        );
    };
    pinned(first, &allowed, || {
        BALL.store(0, Ordering::Relaxed);
        BALL_END.store(end, Ordering::Relaxed);
        PINGPONG_PARTNER_READY.store(0, Ordering::Relaxed);
        let partner = thread::spawn(Stack::new(), pingpong_partner, second as u64);
        while PINGPONG_PARTNER_READY.load(Ordering::Acquire) == 0 {
            sched::yield_now();
        }
        let start = read_tsc();
        for mine in (0..end).step_by(2) {
            // Our turn: hand the ball over...
            BALL.store(mine + 1, Ordering::Release);
            wake(&BALL, 1);
            // ...and sleep until it comes back.
            loop {
                let ball = BALL.load(Ordering::Acquire);
                if ball == mine + 2 {
                    break;
                }
                wait_while(&BALL, ball);
            }
        }
        let ticks = read_tsc() - start;
        drop(partner.join());
        Round {
            operations: u64::from(end),
            ticks,
        }
    })
}

// ---- clone_join -------------------------------------------------------------------------

/// The tid word of `clone_join`'s threads: the kernel stores the new thread's ID there
/// (CLONE_PARENT_SETTID) and clears it, with a FUTEX_WAKE, when the thread has exited
/// (CLONE_CHILD_CLEARTID).
static CLONE_TID: AtomicU32 = AtomicU32::new(0);

/// What [`CLONE_TID`] holds before each `clone`: no thread ID (so a join never mistakes
/// a stale 0 for an exit).
const TID_UNSET: u32 = u32::MAX;

/// The stack pointer of `clone_join`'s threads: they exit before touching any memory, but
/// a thread gets a stack of its own as pthread_create gives it one. One thread at a time
/// uses it: each has exited (its tid word cleared) before the next is cloned.
#[repr(C, align(64))]
struct CloneStack(UnsafeCell<[u8; 4096]>);

// SAFETY: no code reads or writes the bytes; only the address is used.
unsafe impl Sync for CloneStack {}

static CLONE_STACK: CloneStack = CloneStack(UnsafeCell::new([0; 4096]));

/// `clone(THREAD_FLAGS, stack, &CLONE_TID, &CLONE_TID, 0)` of a thread that calls
/// SYS_exit(0) as its first instruction; the thread's ID or `-errno`.
fn clone_exiting_thread() -> i64 {
    let stack_top = CLONE_STACK.0.get() as u64 + 4096;
    let tid_word = CLONE_TID.as_ptr() as u64;
    let result: i64;
    // SAFETY: the new thread shares this address space and runs only the three
    // instructions after the `jnz`: SYS_exit ends it without touching memory (the kernel
    // then clears the tid word, an atomic, and wakes its waiters). The creator leaves the
    // block with RAX = the thread ID (or -errno) and every register but RAX, RCX and R11
    // preserved (the syscall contract).
    unsafe {
        asm!(
            "syscall",              // clone(flags, stack, &tid, &tid, tls 0)
            "test rax, rax",        // 0 in the new thread, its ID (or -errno) in the creator
            "jnz 2f",               // the creator: leave the block
            "mov eax, {exit}",      // the new thread: SYS_exit...
            "xor edi, edi",         // ...with status 0
            "syscall",              // ends the thread: never returns
            "ud2",                  // unreachable: trap if it ever is reached
            "2:",
            exit = const nr::EXIT,
            inlateout("rax") nr::CLONE => result,
            in("rdi") THREAD_FLAGS,
            in("rsi") stack_top,
            in("rdx") tid_word,
            in("r10") tid_word,
            in("r8") 0_u64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// `clone_join`: clone a thread that exits at once, and wait until it has.
pub fn clone_join(operations: u64) -> Round {
    let (allowed, cpu) = allowed_cpus();
    pinned(cpu, &allowed, || {
        let start = read_tsc();
        for _ in 0..operations {
            CLONE_TID.store(TID_UNSET, Ordering::Relaxed);
            let tid = clone_exiting_thread();
            if tid <= 0 {
                bench_fail!("clone_join", "clone of a thread returned {tid}");
            }
            // The join: as pthread_join, a shared FUTEX_WAIT (the kernel's wake at the
            // thread's exit is a shared one) until the word is 0.
            loop {
                let word = CLONE_TID.load(Ordering::Acquire);
                if word == 0 {
                    break;
                }
                let result = futex::wait_shared(&CLONE_TID, word, None);
                if result != 0 && result != -EAGAIN && result != -EINTR {
                    bench_fail!("clone_join", "FUTEX_WAIT on the tid word returned {result}");
                }
            }
        }
        let ticks = read_tsc() - start;
        Round {
            operations: operations.max(1),
            ticks,
        }
    })
}

// ---- fork_wait --------------------------------------------------------------------------

/// `fork_wait`: fork a child that exits at once, and wait4 for it.
pub fn fork_wait(operations: u64) -> Round {
    let (allowed, cpu) = allowed_cpus();
    pinned(cpu, &allowed, || {
        let start = read_tsc();
        for _ in 0..operations {
            let pid = process::fork();
            if pid == 0 {
                exit_group(0);
            }
            if pid < 0 {
                bench_fail!("fork_wait", "fork returned {pid}");
            }
            let (result, status) = process::wait4(pid, 0);
            if result != pid || status != 0 {
                bench_fail!(
                    "fork_wait",
                    "wait4({pid}) returned {result} with status {status:#x}, expected {pid} \
                     with 0"
                );
            }
        }
        let ticks = read_tsc() - start;
        Round {
            operations: operations.max(1),
            ticks,
        }
    })
}

// ---- null_syscall_throughput ------------------------------------------------------------

/// The most threads `null_syscall_throughput` starts (topframe's kernel has at most 64
/// CPUs).
const MAX_THREADS: usize = 64;

/// How many workers are pinned and waiting for [`THROUGHPUT_GO`].
static THROUGHPUT_READY: AtomicU32 = AtomicU32::new(0);
/// Set (and woken) by the main thread: start calling.
static THROUGHPUT_GO: AtomicU32 = AtomicU32::new(0);
/// How many workers have made their calls.
static THROUGHPUT_DONE: AtomicU32 = AtomicU32::new(0);
/// The calls each thread makes.
static THROUGHPUT_CALLS: AtomicU64 = AtomicU64::new(0);

/// A worker on `cpu`: waits for the start, makes its getppid calls, reports done.
fn throughput_worker(cpu: u64) {
    pin_and_check(cpu as usize);
    THROUGHPUT_READY.fetch_add(1, Ordering::Release);
    wake(&THROUGHPUT_READY, 1);
    while THROUGHPUT_GO.load(Ordering::Acquire) == 0 {
        wait_while(&THROUGHPUT_GO, 0);
    }
    timed_loops::getppid_loop(THROUGHPUT_CALLS.load(Ordering::Relaxed));
    THROUGHPUT_DONE.fetch_add(1, Ordering::Release);
    wake(&THROUGHPUT_DONE, 1);
}

/// Waits until `counter` reaches `target`.
fn wait_for_count(counter: &AtomicU32, target: u32) {
    loop {
        let count = counter.load(Ordering::Acquire);
        if count >= target {
            return;
        }
        wait_while(counter, count);
    }
}

/// `null_syscall_throughput`: getppid on every allowed CPU at once.
pub fn null_syscall_throughput(operations: u64) -> Round {
    let (allowed, first) = allowed_cpus();
    let cpus = allowed.count();
    if cpus > MAX_THREADS {
        bench_fail!(
            "null_syscall_throughput",
            "{cpus} CPUs: the program starts at most {MAX_THREADS} threads"
        );
    }
    let calls = (operations / cpus as u64).max(1);
    pinned(first, &allowed, || {
        THROUGHPUT_READY.store(0, Ordering::Relaxed);
        THROUGHPUT_GO.store(0, Ordering::Relaxed);
        THROUGHPUT_DONE.store(0, Ordering::Relaxed);
        THROUGHPUT_CALLS.store(calls, Ordering::Relaxed);
        let mut workers: [Option<Thread>; MAX_THREADS] = [const { None }; MAX_THREADS];
        for (slot, cpu) in workers.iter_mut().zip(allowed.iter().skip(1)) {
            *slot = Some(thread::spawn(Stack::new(), throughput_worker, cpu as u64));
        }
        let others = (cpus - 1) as u32;
        wait_for_count(&THROUGHPUT_READY, others);
        let start = read_tsc();
        THROUGHPUT_GO.store(1, Ordering::Release);
        wake(&THROUGHPUT_GO, others);
        timed_loops::getppid_loop(calls);
        wait_for_count(&THROUGHPUT_DONE, others);
        let ticks = read_tsc() - start;
        for worker in workers.into_iter().flatten() {
            drop(worker.join());
        }
        Round {
            operations: calls * cpus as u64,
            ticks,
        }
    })
}
