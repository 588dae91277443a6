//! FUTEX_WAIT_PRIVATE / FUTEX_WAKE_PRIVATE between two threads, each pinned (its own
//! `sched_setaffinity(0, ...)`) to a different CPU of the affinity mask (both to the one
//! CPU if there is only one): they bounce a futex word 2000 times, each waiting for its
//! turn and waking the other, so every wake-up crosses CPUs. Checks the final count and
//! each thread's share. Then, in main alone: FUTEX_WAIT (private and shared) with a value
//! the word does not hold returns -EAGAIN at once; FUTEX_WAIT with a 10 ms relative timeout
//! returns -ETIMEDOUT after at least 10 ms of CLOCK_MONOTONIC, with a zero timeout
//! -ETIMEDOUT at once, with `tv_nsec` = 10^9 -EINVAL; FUTEX_WAKE (private and shared) with
//! no waiter returns 0; an unaligned futex address gives -EINVAL (for WAIT and WAKE).
#![cfg_attr(not(test), no_std, no_main)]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::errno::{EAGAIN, EINTR, EINVAL, ETIMEDOUT};
use topframe_abi_tests::futex::{self, FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE};
use topframe_abi_tests::thread::{self, Stack};
use topframe_abi_tests::time::{self, Timespec};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail, sched};

abi_test_main!(main);

/// Increments of the word in all: each thread makes half of them.
const BOUNCES: u32 = 2000;

/// The ball: even values are thread 0's turn, odd ones thread 1's.
static BALL: AtomicU32 = AtomicU32::new(0);
/// The CPU each thread pins itself to.
static CPUS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// How many increments each thread made.
static TURNS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
/// How many FUTEX_WAITs each thread made that actually slept (returned 0).
static SLEPT: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

fn player(index: u64) {
    let cpu = CPUS[index as usize].load(Ordering::Relaxed) as usize;
    sched::pin_to(cpu);
    let on = sched::getcpu();
    check_eq!(
        on as usize,
        cpu,
        "player {index} runs on its CPU after pinning"
    );
    let me = index as u32;
    loop {
        let ball = BALL.load(Ordering::Acquire);
        if ball >= BOUNCES {
            break;
        }
        if ball % 2 != me {
            // The other's turn: sleep until the ball changes.
            match futex::wait(&BALL, ball, None) {
                0 => {
                    SLEPT[index as usize].fetch_add(1, Ordering::Relaxed);
                }
                result if result == -EAGAIN || result == -EINTR => {}
                result => fail!("player {index}: FUTEX_WAIT_PRIVATE returned {result}"),
            }
            continue;
        }
        BALL.store(ball + 1, Ordering::Release);
        TURNS[index as usize].fetch_add(1, Ordering::Relaxed);
        let woken = futex::wake(&BALL, 1);
        check!(
            (0..=1).contains(&woken),
            "player {index}: FUTEX_WAKE_PRIVATE of 1 returned {woken}"
        );
    }
}

/// A futex word for the single-thread checks.
static LONELY: AtomicU32 = AtomicU32::new(7);
/// Two words, for an unaligned address inside them.
static PAIR: AtomicU64 = AtomicU64::new(0);

fn single_thread_checks() {
    check_eq!(
        futex::wait(&LONELY, 8, None),
        -EAGAIN,
        "FUTEX_WAIT_PRIVATE with a value the word does not hold"
    );
    check_eq!(
        futex::wait_shared(&LONELY, 8, None),
        -EAGAIN,
        "FUTEX_WAIT (shared) with a value the word does not hold"
    );

    let timeout = Timespec::from_millis(10);
    let before = time::monotonic_nanos();
    let result = futex::wait(&LONELY, 7, Some(&timeout));
    let slept = time::monotonic_nanos() - before;
    check_eq!(
        result,
        -ETIMEDOUT,
        "FUTEX_WAIT_PRIVATE with a 10 ms timeout"
    );
    check!(
        slept >= timeout.as_nanos(),
        "FUTEX_WAIT_PRIVATE with a 10 ms timeout returned after {slept} ns"
    );
    // A zero timeout expires at once.
    let result = futex::wait(&LONELY, 7, Some(&Timespec::ZERO));
    check_eq!(result, -ETIMEDOUT, "FUTEX_WAIT_PRIVATE with a zero timeout");
    // An invalid timeout.
    let invalid = Timespec {
        seconds: 0,
        nanoseconds: 1_000_000_000,
    };
    let result = futex::wait(&LONELY, 7, Some(&invalid));
    check_eq!(result, -EINVAL, "FUTEX_WAIT_PRIVATE with tv_nsec = 10^9");

    check_eq!(
        futex::wake(&LONELY, 1),
        0,
        "FUTEX_WAKE_PRIVATE with no waiter"
    );
    check_eq!(
        futex::wake(&LONELY, i32::MAX as u32),
        0,
        "FUTEX_WAKE_PRIVATE of INT_MAX with no waiter"
    );
    check_eq!(
        futex::wake_shared(&LONELY, 1),
        0,
        "FUTEX_WAKE with no waiter"
    );

    let unaligned = (PAIR.as_ptr() as usize + 2) as *const u32;
    for (operation, name) in [
        (FUTEX_WAIT_PRIVATE, "FUTEX_WAIT_PRIVATE"),
        (FUTEX_WAKE_PRIVATE, "FUTEX_WAKE_PRIVATE"),
    ] {
        // SAFETY: WAIT and WAKE never write memory; the address is inside PAIR anyway.
        let result = unsafe { futex::futex(unaligned, operation, 0, core::ptr::null()) };
        check_eq!(result, -EINVAL, "{name} on an unaligned address");
    }
}

fn main(_stack: &InitialStack) {
    let allowed = sched::allowed_cpus();
    let first = allowed.nth(0).expect("allowed_cpus is not empty");
    let second = allowed.nth(1).unwrap_or(first);
    CPUS[0].store(first as u64, Ordering::Relaxed);
    CPUS[1].store(second as u64, Ordering::Relaxed);

    let players = [
        thread::spawn(Stack::new(), player, 0),
        thread::spawn(Stack::new(), player, 1),
    ];
    let start = time::monotonic_nanos();
    for player in players {
        drop(player.join());
    }
    let elapsed = time::monotonic_nanos() - start;
    check_eq!(BALL.load(Ordering::Acquire), BOUNCES, "the final count");
    for (index, turns) in TURNS.iter().enumerate() {
        check_eq!(
            turns.load(Ordering::Relaxed),
            BOUNCES / 2,
            "player {index}'s increments"
        );
    }
    topframe_abi_tests::println!(
        "futex_pingpong: {BOUNCES} bounces between CPUs {first} and {second} in {} us; \
         FUTEX_WAITs that slept: {} and {}",
        elapsed / 1000,
        SLEPT[0].load(Ordering::Relaxed),
        SLEPT[1].load(Ordering::Relaxed)
    );
    single_thread_checks();
}
