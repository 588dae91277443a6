//! Timer preemption: a CPU-bound spinner must not starve a sleeper on the same CPU. Main,
//! the sleeper and the spinner are all pinned to the first CPU of the affinity mask. The
//! sleeper does 20 rounds of `nanosleep(1 ms)` and a counter increment, then sets a done
//! flag; the spinner spins on that flag without any syscall in its loop (it reads
//! CLOCK_MONOTONIC, by syscall, only every million iterations) and fails if 20 s pass
//! first. Main blocks in the futex join meanwhile. Without timer preemption (or wake-up
//! preemption) the sleeper never runs again once the spinner has the CPU.
#![cfg_attr(not(test), no_std, no_main)]

use core::hint;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::thread::{self, Stack};
use topframe_abi_tests::time::{self, NANOSECONDS_PER_SECOND};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail, println, sched};

abi_test_main!(main);

/// The sleeper's rounds.
const ROUNDS: u32 = 20;
/// How long the spinner gives the sleeper.
const GIVE_UP_AFTER_NANOS: i64 = 20 * NANOSECONDS_PER_SECOND;
/// Spinner iterations between two clock reads.
const ITERATIONS_PER_CLOCK_READ: u64 = 1_000_000;

static CPU: AtomicU64 = AtomicU64::new(0);
static ROUNDS_DONE: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicBool = AtomicBool::new(false);
/// Set once the spinner has started spinning (the sleeper waits for it).
static SPINNING: AtomicBool = AtomicBool::new(false);
/// How often the spinner read the clock.
static CLOCK_READS: AtomicU64 = AtomicU64::new(0);

fn pin() {
    let cpu = CPU.load(Ordering::Relaxed) as usize;
    sched::pin_to(cpu);
    check_eq!(sched::getcpu() as usize, cpu, "getcpu after pinning");
}

fn sleeper(_: u64) {
    pin();
    // Sleep only once the spinner holds the CPU, so that every wake-up has to take the
    // CPU back from it.
    while !SPINNING.load(Ordering::Acquire) {
        sched::yield_now();
    }
    for _ in 0..ROUNDS {
        time::sleep_millis(1);
        ROUNDS_DONE.fetch_add(1, Ordering::Relaxed);
    }
    DONE.store(true, Ordering::Release);
}

fn spinner(_: u64) {
    pin();
    let start = time::monotonic_nanos();
    SPINNING.store(true, Ordering::Release);
    let mut iterations = 0_u64;
    while !DONE.load(Ordering::Acquire) {
        hint::spin_loop();
        iterations += 1;
        if iterations.is_multiple_of(ITERATIONS_PER_CLOCK_READ) {
            CLOCK_READS.fetch_add(1, Ordering::Relaxed);
            if time::monotonic_nanos() - start > GIVE_UP_AFTER_NANOS {
                fail!(
                    "the sleeper starved: {} of {ROUNDS} rounds after 20 s of spinning",
                    ROUNDS_DONE.load(Ordering::Relaxed)
                );
            }
        }
    }
}

fn main(_stack: &InitialStack) {
    let cpu = sched::allowed_cpus()
        .nth(0)
        .expect("allowed_cpus is not empty");
    CPU.store(cpu as u64, Ordering::Relaxed);
    pin();
    let start = time::monotonic_nanos();
    let sleeper = thread::spawn(Stack::new(), sleeper, 0);
    let spinner = thread::spawn(Stack::new(), spinner, 0);
    drop(sleeper.join());
    drop(spinner.join());
    check!(DONE.load(Ordering::Acquire), "the sleeper did not finish");
    check_eq!(
        ROUNDS_DONE.load(Ordering::Relaxed),
        ROUNDS,
        "the sleeper's rounds"
    );
    println!(
        "preempt_spinner: {ROUNDS} sleeps next to a spinner on CPU {cpu} in {} us ({} clock \
         reads by the spinner)",
        (time::monotonic_nanos() - start) / 1000,
        CLOCK_READS.load(Ordering::Relaxed)
    );
}
