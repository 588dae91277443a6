//! Sleeps last at least as long as asked: `nanosleep`, `clock_nanosleep(CLOCK_MONOTONIC)`
//! relative, and `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, of 1, 5 and 20 ms
//! each, measured with CLOCK_MONOTONIC before and after (an absolute sleep must end at or
//! after its deadline). A zero `nanosleep` returns 0. Errors: `tv_nsec` of 10^9 or
//! negative, or a negative `tv_sec`, gives -EINVAL (for both calls); `nanosleep` and
//! `clock_nanosleep` with a NULL or unmapped request give -EFAULT; `clock_nanosleep` on an
//! invalid clock gives -EINVAL.
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::{EFAULT, EINVAL};
use topframe_abi_tests::time::{self, CLOCK_MONOTONIC, TIMER_ABSTIME, Timespec};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, nr, syscall2, syscall4};

abi_test_main!(main);

/// The sleeps, in milliseconds.
const SLEEPS: [i64; 3] = [1, 5, 20];
/// Never mapped: below `vm.mmap_min_addr`.
const UNMAPPED: u64 = 0x1000;
/// Not a clock ID.
const INVALID_CLOCK: u64 = 1000;

fn main(_stack: &InitialStack) {
    for millis in SLEEPS {
        let request = Timespec::from_millis(millis);
        let asked = request.as_nanos();

        let before = time::monotonic_nanos();
        check_eq!(time::nanosleep(&request), 0, "nanosleep({millis} ms)");
        let slept = time::monotonic_nanos() - before;
        check!(slept >= asked, "nanosleep({millis} ms) slept {slept} ns");

        let before = time::monotonic_nanos();
        check_eq!(
            time::clock_nanosleep(CLOCK_MONOTONIC, 0, &request),
            0,
            "clock_nanosleep(CLOCK_MONOTONIC, {millis} ms)"
        );
        let slept = time::monotonic_nanos() - before;
        check!(
            slept >= asked,
            "clock_nanosleep(CLOCK_MONOTONIC, {millis} ms) slept {slept} ns"
        );

        let deadline = time::monotonic().plus_nanos(asked);
        check_eq!(
            time::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline),
            0,
            "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, now + {millis} ms)"
        );
        let now = time::monotonic();
        check!(
            now >= deadline,
            "clock_nanosleep(TIMER_ABSTIME) until {deadline:?} woke at {now:?}"
        );
    }
    // An absolute time in the past returns at once.
    check_eq!(
        time::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &Timespec::ZERO),
        0,
        "clock_nanosleep(TIMER_ABSTIME) until 0"
    );
    check_eq!(time::nanosleep(&Timespec::ZERO), 0, "nanosleep(0)");

    for invalid in [
        Timespec {
            seconds: 0,
            nanoseconds: 1_000_000_000,
        },
        Timespec {
            seconds: 0,
            nanoseconds: -1,
        },
        Timespec {
            seconds: -1,
            nanoseconds: 0,
        },
    ] {
        check_eq!(time::nanosleep(&invalid), -EINVAL, "nanosleep({invalid:?})");
        check_eq!(
            time::clock_nanosleep(CLOCK_MONOTONIC, 0, &invalid),
            -EINVAL,
            "clock_nanosleep(CLOCK_MONOTONIC, {invalid:?})"
        );
    }
    check_eq!(
        time::clock_nanosleep(INVALID_CLOCK, 0, &Timespec::from_millis(1)),
        -EINVAL,
        "clock_nanosleep on clock {INVALID_CLOCK}"
    );
    for address in [0, UNMAPPED] {
        // SAFETY: nanosleep reads the request; a bad address fails with -EFAULT.
        let result = unsafe { syscall2(nr::NANOSLEEP, address, 0) };
        check_eq!(result, -EFAULT, "nanosleep({address:#x}, NULL)");
        // SAFETY: as above.
        let result = unsafe { syscall4(nr::CLOCK_NANOSLEEP, CLOCK_MONOTONIC, 0, address, 0) };
        check_eq!(
            result,
            -EFAULT,
            "clock_nanosleep(CLOCK_MONOTONIC, 0, {address:#x}, NULL)"
        );
    }
}
