//! CPU affinity and `getcpu`. For every CPU of the affinity mask: `sched_setaffinity(0,
//! {cpu})` returns 0; `getcpu` then reports that CPU, again after each of several
//! `sched_yield`s; `sched_getaffinity` returns exactly {cpu} (its return value is the
//! kernel's cpumask size in bytes: only checked to be positive and a multiple of 8). Then
//! the errors: `sched_setaffinity` with an empty mask gives -EINVAL, `sched_getaffinity`
//! with a 4-byte buffer (not a multiple of `sizeof(long)`) gives -EINVAL. The original mask
//! is restored at the end (and read back).
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::EINVAL;
use topframe_abi_tests::sched::{self, CpuSet};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, println};

abi_test_main!(main);

/// `getcpu` checks per CPU, with a `sched_yield` before each but the first.
const CHECKS_PER_CPU: usize = 5;

/// `sched_getaffinity(0)` into a zeroed set, with its return value checked: the set.
fn getaffinity(what: &str) -> CpuSet {
    let mut set = CpuSet::EMPTY;
    let result = sched::getaffinity_raw(0, CpuSet::size(), &mut set);
    check!(
        result > 0 && result % 8 == 0 && result as u64 <= CpuSet::size(),
        "sched_getaffinity {what}: returned {result}"
    );
    set
}

fn main(_stack: &InitialStack) {
    let original = getaffinity("at the start");
    println!(
        "getcpu_pinned: {} CPUs allowed: {original:?}",
        original.count()
    );
    for cpu in original.iter() {
        let only = CpuSet::single(cpu);
        check_eq!(
            sched::setaffinity(0, &only),
            0,
            "sched_setaffinity(0, {{{cpu}}})"
        );
        for check in 0..CHECKS_PER_CPU {
            if check > 0 {
                sched::yield_now();
            }
            check_eq!(
                sched::getcpu() as usize,
                cpu,
                "getcpu after pinning to CPU {cpu} (check {check})"
            );
        }
        let set = getaffinity("after pinning");
        check_eq!(set, only, "sched_getaffinity after pinning to CPU {cpu}");
    }

    check_eq!(
        sched::setaffinity(0, &CpuSet::EMPTY),
        -EINVAL,
        "sched_setaffinity with an empty mask"
    );
    let mut set = CpuSet::EMPTY;
    check_eq!(
        sched::getaffinity_raw(0, 4, &mut set),
        -EINVAL,
        "sched_getaffinity with a 4-byte buffer"
    );
    check_eq!(
        set,
        CpuSet::EMPTY,
        "a failed sched_getaffinity wrote the set"
    );

    check_eq!(
        sched::setaffinity(0, &original),
        0,
        "sched_setaffinity back to the original mask"
    );
    check_eq!(
        getaffinity("at the end"),
        original,
        "the mask after restoring it"
    );
}
