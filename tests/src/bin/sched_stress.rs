//! Scheduler and futex stress, no lost wake-ups: 2 x (CPUs in the affinity mask) threads
//! (at least 4, at most 64) pass a token round a ring for 500 laps. Each waits on its own
//! futex word (FUTEX_WAIT_PRIVATE) for the token, checks and increments a shared counter (a
//! plain load and store: the token is the only lock), passes the token on (a store and
//! FUTEX_WAKE_PRIVATE), then spins a little, so that several CPUs are busy at once. Every
//! thread checks that the counter shows exactly the passes that came before its own in the
//! ring; main joins them all and checks that the counter is threads x laps. A thread whose
//! wait times out (5 s) while its token has been there for more than a second reports a
//! lost wake-up.
#![cfg_attr(not(test), no_std, no_main)]

use core::hint;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::errno::{EAGAIN, EINTR, ETIMEDOUT};
use topframe_abi_tests::thread::{self, Stack, Thread};
use topframe_abi_tests::time::{self, NANOSECONDS_PER_SECOND, Timespec};
use topframe_abi_tests::{InitialStack, abi_test_main, check_eq, fail, futex, println, sched};

abi_test_main!(main);

/// The most threads.
const MAX_THREADS: usize = 64;
/// Rounds of the token.
const LAPS: u64 = 500;
/// Spin iterations after each pass.
const SPIN: u32 = 2000;
/// A FUTEX_WAIT's timeout.
const WAIT_TIMEOUT: Timespec = Timespec::from_nanos(5 * NANOSECONDS_PER_SECOND);
/// A token this long unclaimed at a timeout was not woken for.
const LOST_AFTER_NANOS: i64 = NANOSECONDS_PER_SECOND;

/// One thread's futex word (1: it holds the token), alone in its cache line(s).
#[repr(align(128))]
struct Seat {
    token: AtomicU32,
    /// When the token was passed to this seat (CLOCK_MONOTONIC nanoseconds).
    passed_at: AtomicI64,
}

static SEATS: [Seat; MAX_THREADS] = [const {
    Seat {
        token: AtomicU32::new(0),
        passed_at: AtomicI64::new(0),
    }
}; MAX_THREADS];
/// The ring's size.
static THREADS: AtomicU64 = AtomicU64::new(0);
/// Passes so far: only the token holder changes it.
static COUNTER: AtomicU64 = AtomicU64::new(0);
/// FUTEX_WAITs that slept (returned 0), for the report.
static SLEPT: AtomicU64 = AtomicU64::new(0);

/// Waits until seat `index` holds the token.
fn wait_for_token(index: usize) {
    let seat = &SEATS[index];
    while seat.token.load(Ordering::Acquire) == 0 {
        match futex::wait(&seat.token, 0, Some(&WAIT_TIMEOUT)) {
            0 => {
                SLEPT.fetch_add(1, Ordering::Relaxed);
            }
            result if result == -EAGAIN || result == -EINTR => {}
            result if result == -ETIMEDOUT => {
                if seat.token.load(Ordering::Acquire) != 0 {
                    let waiting = time::monotonic_nanos() - seat.passed_at.load(Ordering::Relaxed);
                    if waiting > LOST_AFTER_NANOS {
                        fail!(
                            "thread {index}: lost wake-up: the token came {waiting} ns before \
                             the FUTEX_WAIT timed out"
                        );
                    }
                }
            }
            result => fail!("thread {index}: FUTEX_WAIT_PRIVATE returned {result}"),
        }
    }
}

/// Passes the token to seat `index`.
fn pass_token(index: usize) {
    let seat = &SEATS[index];
    seat.passed_at
        .store(time::monotonic_nanos(), Ordering::Relaxed);
    seat.token.store(1, Ordering::Release);
    let woken = futex::wake(&seat.token, 1);
    if !(0..=1).contains(&woken) {
        fail!("FUTEX_WAKE_PRIVATE of 1 returned {woken}");
    }
}

fn ring_member(index: u64) {
    let threads = THREADS.load(Ordering::Relaxed);
    let next = ((index + 1) % threads) as usize;
    for lap in 0..LAPS {
        wait_for_token(index as usize);
        SEATS[index as usize].token.store(0, Ordering::Relaxed);
        let count = COUNTER.load(Ordering::Relaxed);
        check_eq!(
            count,
            lap * threads + index,
            "thread {index}, lap {lap}: the counter when the token came"
        );
        COUNTER.store(count + 1, Ordering::Relaxed);
        pass_token(next);
        for _ in 0..SPIN {
            hint::spin_loop();
        }
    }
}

fn main(_stack: &InitialStack) {
    let cpus = sched::allowed_cpus().count();
    let threads = (2 * cpus).clamp(4, MAX_THREADS);
    THREADS.store(threads as u64, Ordering::Relaxed);
    let start = time::monotonic_nanos();
    let mut ring: [Option<Thread>; MAX_THREADS] = core::array::from_fn(|_| None);
    for (index, member) in ring.iter_mut().enumerate().take(threads) {
        *member = Some(thread::spawn(Stack::new(), ring_member, index as u64));
    }
    pass_token(0);
    for member in ring.iter_mut() {
        if let Some(member) = member.take() {
            drop(member.join());
        }
    }
    check_eq!(
        COUNTER.load(Ordering::Relaxed),
        threads as u64 * LAPS,
        "the counter after {threads} threads x {LAPS} laps"
    );
    println!(
        "sched_stress: {threads} threads on {cpus} CPUs, {} passes in {} us, {} FUTEX_WAITs \
         slept",
        threads as u64 * LAPS,
        (time::monotonic_nanos() - start) / 1000,
        SLEPT.load(Ordering::Relaxed)
    );
}
