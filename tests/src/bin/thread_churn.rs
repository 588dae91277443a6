//! Thread creation and exit at volume: 1000 short-lived threads, at most 32 alive at once,
//! each stack reused as soon as its previous thread is joined (so the kernel must have
//! cleared the tid word only after the thread stopped using the stack). Each thread adds 1
//! to a shared atomic counter and records its argument; the counter must end at 1000 and
//! every thread must have run exactly once.
#![cfg_attr(not(test), no_std, no_main)]

use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use topframe_abi_tests::thread::{self, Stack, Thread};
use topframe_abi_tests::{InitialStack, abi_test_main, check_eq, time};

abi_test_main!(main);

/// Threads in all.
const THREADS: usize = 1000;
/// Threads alive at once (and stacks).
const SLOTS: usize = 32;
/// Each thread's stack: small, so that 32 of them map quickly.
const STACK_SIZE: u64 = 16 * 1024;

static COUNTER: AtomicU32 = AtomicU32::new(0);
/// How many times thread `n` ran.
static RAN: [AtomicU8; THREADS] = [const { AtomicU8::new(0) }; THREADS];

fn short_lived(index: u64) {
    COUNTER.fetch_add(1, Ordering::Relaxed);
    RAN[index as usize].fetch_add(1, Ordering::Relaxed);
}

fn main(_stack: &InitialStack) {
    let start = time::monotonic_nanos();
    let mut stacks: [Option<Stack>; SLOTS] =
        core::array::from_fn(|_| Some(Stack::with_size(STACK_SIZE)));
    let mut threads: [Option<Thread>; SLOTS] = core::array::from_fn(|_| None);
    for index in 0..THREADS {
        let slot = index % SLOTS;
        if let Some(thread) = threads[slot].take() {
            stacks[slot] = Some(thread.join());
        }
        let stack = stacks[slot].take().expect("joined above");
        threads[slot] = Some(thread::spawn(stack, short_lived, index as u64));
    }
    for thread in threads.iter_mut() {
        if let Some(thread) = thread.take() {
            drop(thread.join());
        }
    }
    check_eq!(
        COUNTER.load(Ordering::Relaxed),
        THREADS as u32,
        "the counter"
    );
    for (index, ran) in RAN.iter().enumerate() {
        check_eq!(ran.load(Ordering::Relaxed), 1, "thread {index} ran");
    }
    topframe_abi_tests::println!(
        "thread_churn: {THREADS} threads in {} us",
        (time::monotonic_nanos() - start) / 1000
    );
}
