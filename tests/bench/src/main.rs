//! `bench NAME[/DIVISOR][,NAME[/DIVISOR]...] ITERATIONS ROUNDS`: the benchmark program
//! `cargo xtask bench` boots as `/init` (on topframe's kernels and on Linux alike).
//!
//! For each named benchmark it runs one untimed warm-up round, then ROUNDS rounds, each
//! timing ITERATIONS / DIVISOR operations (DIVISOR 1 when not given; at least one
//! operation) with `lfence; rdtsc` before and after, and prints one line per round:
//!
//! ```text
//! bench NAME OPERATIONS TICKS
//! ```
//!
//! OPERATIONS is the count actually timed: a benchmark that counts two operations per
//! round trip, or one per thread, rounds the count down to a multiple of that. Then it
//! prints `bench done` and exits 0 (a bad command line: `bench error: ...`, status 2; a
//! benchmark that finds the kernel misbehaving: `bench error: NAME: ...`, status 1).
//! Everything goes through `int $0x80` (see `report`), never SYSCALL, so the floor
//! kernel (whose SYSCALL returns at once) runs the first five benchmarks too. Benchmarks
//! (`threaded` and `slow_paths` define the operations of the last seven exactly):
//!
//! | name | operation |
//! |---|---|
//! | `loop` | the timing loop alone (`nop` for the call) |
//! | `null_syscall` | `getppid` through SYSCALL |
//! | `enosys` | an unassigned number through SYSCALL |
//! | `slow_path_syscall` | `getppid` again: the kernel is booted with `syscall_slow_path` |
//! | `int80_getpid` | i386 `getpid` through `int $0x80` |
//! | `yield` | one `sched_yield` of two threads taking turns on one CPU |
//! | `futex_pingpong` | one futex hand-over between two threads on two CPUs |
//! | `clone_join` | clone a thread that exits at once, wait for its exit on the tid word |
//! | `fork_wait` | fork a child that exits at once, `wait4` for it |
//! | `signal_roundtrip` | `tgkill` self, an empty handler, `rt_sigreturn` |
//! | `ptrace_stop` | one syscall stop of a traced child, and its resume |
//! | `null_syscall_throughput` | one `getppid` of N threads on N CPUs calling at once |
#![cfg_attr(not(test), no_std, no_main)]

mod report;
mod slow_paths;
mod threaded;
mod timed_loops;

use core::ffi::CStr;

use report::println;
use threaded::Round;
use topframe_abi_tests::{InitialStack, abi_test_main};

abi_test_main!(main);

const USAGE: &str = "usage: bench NAME[/DIVISOR][,NAME[/DIVISOR]...] ITERATIONS ROUNDS";

/// Times about the given number of operations (at least 1): how many it timed and the
/// TSC ticks they took.
type Benchmark = fn(u64) -> Round;

/// Every benchmark this program runs, by name.
const BENCHMARKS: [(&str, Benchmark); 12] = [
    ("loop", |count| exact(count, timed_loops::empty_loop)),
    ("null_syscall", |count| {
        exact(count, timed_loops::getppid_loop)
    }),
    ("enosys", |count| exact(count, timed_loops::enosys_loop)),
    ("slow_path_syscall", |count| {
        exact(count, timed_loops::getppid_loop)
    }),
    ("int80_getpid", |count| {
        exact(count, timed_loops::int80_getpid_loop)
    }),
    ("yield", threaded::yield_pair),
    ("futex_pingpong", threaded::futex_pingpong),
    ("clone_join", threaded::clone_join),
    ("fork_wait", threaded::fork_wait),
    ("signal_roundtrip", slow_paths::signal_roundtrip),
    ("ptrace_stop", slow_paths::ptrace_stop),
    ("null_syscall_throughput", threaded::null_syscall_throughput),
];

/// A round of `count` operations of a timed loop (which times at least one).
fn exact(count: u64, timed_loop: fn(u64) -> u64) -> Round {
    let operations = count.max(1);
    Round {
        operations,
        ticks: timed_loop(operations),
    }
}

/// One entry of the NAME list: the benchmark and its operations per round.
fn parse_entry(entry: &str, iterations: u64) -> Option<(&str, Benchmark, u64)> {
    let (name, divisor) = match entry.split_once('/') {
        Some((name, divisor)) => (name, divisor.parse::<u64>().ok().filter(|&d| d > 0)?),
        None => (entry, 1),
    };
    Some((name, benchmark(name)?, (iterations / divisor).max(1)))
}

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
    // Check every entry before timing anything.
    for entry in names.split(',') {
        if parse_entry(entry, iterations).is_none() {
            usage_error(format_args!(
                "unknown benchmark or bad divisor {entry:?}; {USAGE}"
            ));
        }
    }
    for entry in names.split(',') {
        let Some((name, run, count)) = parse_entry(entry, iterations) else {
            continue;
        };
        // Warm-up: caches, TLB and branch predictors (under KVM), page faults.
        run(count);
        for _ in 0..rounds {
            let Round { operations, ticks } = run(count);
            println!("bench {name} {operations} {ticks}");
        }
    }
    println!("bench done");
    report::exit(0)
}

fn benchmark(name: &str) -> Option<Benchmark> {
    BENCHMARKS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, run)| *run)
}

fn usage_error(message: core::fmt::Arguments) -> ! {
    println!("bench error: {message}");
    report::exit(2)
}
