//! Threads share one process: as many threads as CPUs in the affinity mask (at least 2, at
//! most 64) each count to a fixed number into their own cache-line-padded slot, with
//! `sched_yield` now and then, and record their `gettid` and `getpid`. Halfway, the
//! workers wait at a gate while one extra thread ends itself with SYS_exit and a nonzero
//! status: that must end that thread only (not the process), and its `CLONE_CHILD_CLEARTID`
//! wake-up must come. Then the workers finish and main joins them all (through the
//! `CLONE_CHILD_CLEARTID` futex) and checks: every slot holds the count; every thread ID
//! is distinct and differs from the PID (main's thread ID); every thread saw main's PID;
//! `clone` returned each thread's `gettid`. The process ends with exit_group(0) (PASS).
#![cfg_attr(not(test), no_std, no_main)]

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::thread::{self, Stack, Thread};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, getpid, gettid, sched};

abi_test_main!(main);

/// The most worker threads.
const MAX_THREADS: usize = 64;
/// What every worker counts to.
const COUNT: u64 = 200_000;
/// A worker yields every this many increments.
const YIELD_EVERY: u64 = 10_000;
/// The extra thread's SYS_exit status.
const EXTRA_EXIT_STATUS: u8 = 42;

/// One worker's results, alone in its cache line(s).
#[repr(align(128))]
struct Slot {
    count: AtomicU64,
    tid: AtomicI64,
    pid: AtomicI64,
}

/// The workers' slots, then the extra thread's.
static SLOTS: [Slot; MAX_THREADS + 1] = [const {
    Slot {
        count: AtomicU64::new(0),
        tid: AtomicI64::new(0),
        pid: AtomicI64::new(0),
    }
}; MAX_THREADS + 1];
/// Workers that reached the gate (halfway).
static AT_GATE: AtomicU32 = AtomicU32::new(0);
/// Opened by main once the extra thread has exited.
static GATE_OPEN: AtomicBool = AtomicBool::new(false);
/// Set by the extra thread just before its SYS_exit.
static EXTRA_EXITING: AtomicBool = AtomicBool::new(false);

fn record_ids(slot: &Slot) {
    slot.tid.store(gettid(), Ordering::Relaxed);
    slot.pid.store(getpid(), Ordering::Relaxed);
}

fn worker(index: u64) {
    let slot = &SLOTS[index as usize];
    record_ids(slot);
    for done in 1..=COUNT {
        // A load and a store, not an atomic add: the slot is this thread's alone.
        let count = slot.count.load(Ordering::Relaxed);
        slot.count.store(count + 1, Ordering::Relaxed);
        if done % YIELD_EVERY == 0 {
            sched::yield_now();
        }
        if done == COUNT / 2 {
            AT_GATE.fetch_add(1, Ordering::Release);
            while !GATE_OPEN.load(Ordering::Acquire) {
                sched::yield_now();
            }
        }
    }
}

fn extra(index: u64) {
    record_ids(&SLOTS[index as usize]);
    EXTRA_EXITING.store(true, Ordering::Release);
    // Should SYS_exit return, `exit` fails the program.
    thread::exit(EXTRA_EXIT_STATUS)
}

fn main(_stack: &InitialStack) {
    let pid = getpid();
    check_eq!(gettid(), pid, "main's thread ID");
    let workers = sched::allowed_cpus().count().clamp(2, MAX_THREADS);

    let mut threads: [Option<Thread>; MAX_THREADS] = core::array::from_fn(|_| None);
    for (index, thread) in threads.iter_mut().enumerate().take(workers) {
        *thread = Some(thread::spawn(Stack::new(), worker, index as u64));
    }
    // Every worker is halfway and waits; the extra thread exits meanwhile.
    while AT_GATE.load(Ordering::Acquire) < workers as u32 {
        sched::yield_now();
    }
    let extra_thread = thread::spawn(Stack::new(), extra, workers as u64);
    let extra_tid = extra_thread.tid();
    drop(extra_thread.join());
    check!(
        EXTRA_EXITING.load(Ordering::Acquire),
        "the extra thread was joined before it ran"
    );
    check_eq!(
        SLOTS[workers].tid.load(Ordering::Relaxed),
        extra_tid,
        "the extra thread's gettid vs. clone's result"
    );
    for (index, slot) in SLOTS.iter().enumerate().take(workers) {
        check_eq!(
            slot.count.load(Ordering::Relaxed),
            COUNT / 2,
            "worker {index}'s count at the gate"
        );
    }
    GATE_OPEN.store(true, Ordering::Release);

    let mut tids = [0_i64; MAX_THREADS + 1];
    for (index, thread) in threads.iter_mut().enumerate().take(workers) {
        let thread = thread.take().expect("spawned above");
        tids[index] = thread.tid();
        drop(thread.join());
    }
    tids[workers] = extra_tid;
    let tids = &tids[..=workers];

    for (index, slot) in SLOTS.iter().enumerate().take(workers + 1) {
        if index < workers {
            check_eq!(
                slot.count.load(Ordering::Relaxed),
                COUNT,
                "worker {index}'s count"
            );
        }
        let tid = slot.tid.load(Ordering::Relaxed);
        check_eq!(
            tid,
            tids[index],
            "thread {index}'s gettid vs. clone's result"
        );
        check!(
            tid > 0 && tid != pid,
            "thread {index}'s gettid {tid} (pid {pid})"
        );
        check_eq!(
            slot.pid.load(Ordering::Relaxed),
            pid,
            "thread {index}'s getpid"
        );
    }
    for (index, tid) in tids.iter().enumerate() {
        check!(
            !tids[..index].contains(tid),
            "thread {index}'s ID {tid} is not unique: {tids:?}"
        );
    }
    check_eq!(getpid(), pid, "getpid after the threads exited");
    check_eq!(gettid(), pid, "gettid after the threads exited");
}
