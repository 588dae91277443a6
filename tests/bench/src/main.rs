//! `bench NAME[,NAME...] ITERATIONS ROUNDS`: the benchmark program `cargo xtask bench`
//! boots as `/init` (on topframe's kernels and on Linux alike).
//!
//! For each named benchmark it runs one untimed warm-up round, then ROUNDS rounds, each
//! timing ITERATIONS operations with `lfence; rdtsc` before and after the loop, and prints
//! one line per round:
//!
//! ```text
//! bench NAME ITERATIONS TICKS
//! ```
//!
//! then `bench done` and exits 0 (a bad command line: `bench error: ...`, status 2).
//! Everything goes through `int $0x80` (see `report`), never SYSCALL, so the floor
//! kernel (whose SYSCALL returns at once) runs it too. Benchmarks:
//!
//! | name | operation |
//! |---|---|
//! | `loop` | the timing loop alone (`nop` for the call) |
//! | `null_syscall` | `getppid` through SYSCALL |
//! | `enosys` | an unassigned number through SYSCALL |
//! | `slow_path_syscall` | `getppid` again: the kernel is booted with `syscall_slow_path` |
//! | `int80_getpid` | i386 `getpid` through `int $0x80` |
#![cfg_attr(not(test), no_std, no_main)]

mod report;
mod timed_loops;

use core::ffi::CStr;

use report::println;
use topframe_abi_tests::{InitialStack, abi_test_main};

abi_test_main!(main);

const USAGE: &str = "usage: bench NAME[,NAME...] ITERATIONS ROUNDS";

/// Times ITERATIONS operations; returns the TSC ticks.
type TimedLoop = fn(u64) -> u64;

/// Every benchmark this program runs, by name.
const BENCHMARKS: [(&str, TimedLoop); 5] = [
    ("loop", timed_loops::empty_loop),
    ("null_syscall", timed_loops::getppid_loop),
    ("enosys", timed_loops::enosys_loop),
    ("slow_path_syscall", timed_loops::getppid_loop),
    ("int80_getpid", timed_loops::int80_getpid_loop),
];

fn main(stack: &InitialStack) {
    let mut args = stack.args().skip(1).map(CStr::to_str);
    let (Some(Ok(names)), Some(Ok(iterations)), Some(Ok(rounds)), None) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        usage_error(format_args!("{USAGE}"))
    };
    let (Ok(iterations), Ok(rounds)) = (iterations.parse::<u64>(), rounds.parse::<u32>()) else {
        usage_error(format_args!(
            "ITERATIONS and ROUNDS are whole numbers; {USAGE}"
        ))
    };
    if iterations == 0 {
        usage_error(format_args!("ITERATIONS must be at least 1"));
    }
    // Check every name before timing anything.
    for name in names.split(',') {
        if benchmark(name).is_none() {
            usage_error(format_args!("unknown benchmark {name:?}; {USAGE}"));
        }
    }
    for name in names.split(',') {
        let Some(timed_loop) = benchmark(name) else {
            continue;
        };
        // Warm-up: caches, TLB and branch predictors (under KVM), page faults.
        timed_loop(iterations);
        for _ in 0..rounds {
            let ticks = timed_loop(iterations);
            println!("bench {name} {iterations} {ticks}");
        }
    }
    println!("bench done");
    report::exit(0)
}

fn benchmark(name: &str) -> Option<TimedLoop> {
    BENCHMARKS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, timed_loop)| *timed_loop)
}

fn usage_error(message: core::fmt::Arguments) -> ! {
    println!("bench error: {message}");
    report::exit(2)
}
