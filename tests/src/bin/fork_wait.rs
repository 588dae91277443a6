//! Process creation and reaping: the parent forks 8 children (`clone(SIGCHLD)`). Each
//! checks that `getppid` is the parent's PID, then ends its own way: five with
//! exit_group(10..=14), one with exit_group(0), one by its own SIGSEGV (a write to address
//! 0), and one, forked last, after `nanosleep(50 ms)` with exit_group(17). The parent
//! checks: the PIDs are positive, distinct and not its own; `wait4(sleeper, WNOHANG)`
//! right after the forks returns 0 (still running); `wait4(pid, ...)` of given children
//! and then `wait4(-1, ...)` for the rest return each child exactly once with its status
//! (WIFEXITED and the code, or WIFSIGNALED with 11); the sleeper is reaped no earlier than
//! 50 ms after its fork; and at the end `wait4(-1, WNOHANG)` gives -ECHILD.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::errno::ECHILD;
use topframe_abi_tests::process::{self, WNOHANG};
use topframe_abi_tests::time::{self, NANOSECONDS_PER_MILLISECOND};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, getpid, getppid,
};

abi_test_main!(main);

/// How a child ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// exit_group(status).
    Exit(u8),
    /// Killed by this signal.
    Signal(u8),
}

const SIGSEGV: u8 = 11;
/// How long the last child sleeps before it exits.
const SLEEP_MILLIS: i64 = 50;

/// Child `n`'s ending; the last one sleeps first.
const ENDINGS: [Ending; 8] = [
    Ending::Exit(10),
    Ending::Exit(11),
    Ending::Exit(12),
    Ending::Exit(13),
    Ending::Exit(14),
    Ending::Signal(SIGSEGV),
    Ending::Exit(0),
    Ending::Exit(17),
];
const SLEEPER: usize = ENDINGS.len() - 1;

fn child(index: usize, parent: i64) -> ! {
    check_eq!(getppid(), parent, "child {index}: getppid");
    if index == SLEEPER {
        time::sleep_millis(SLEEP_MILLIS);
    }
    match ENDINGS[index] {
        Ending::Exit(status) => exit_group(status),
        Ending::Signal(_) => {
            // SAFETY: the write faults (address 0 is never mapped) and the SIGSEGV, with no
            // handler, ends this child.
            unsafe {
                asm!(
                    "mov byte ptr [{address}], 1", // write to address 0: #PF, SIGSEGV
                    address = in(reg) 0_u64,
                    options(nostack),
                );
            }
            fail!("child {index} survived a write to address 0")
        }
    }
}

/// The ending a wait status describes.
fn ending(status: u32) -> Option<Ending> {
    match (process::exit_status(status), process::killed_by(status)) {
        (Some(code), None) => Some(Ending::Exit(code)),
        (None, Some(signal)) => Some(Ending::Signal(signal)),
        _ => None,
    }
}

fn main(_stack: &InitialStack) {
    let parent = getpid();
    let mut pids = [0_i64; ENDINGS.len()];
    let mut sleeper_forked_at = 0;
    for (index, pid) in pids.iter_mut().enumerate() {
        if index == SLEEPER {
            sleeper_forked_at = time::monotonic_nanos();
        }
        *pid = process::fork();
        if *pid == 0 {
            child(index, parent);
        }
        check!(*pid > 0, "fork of child {index} returned {pid}");
    }
    // Right after its fork, the sleeper still sleeps.
    let (result, status) = process::wait4(pids[SLEEPER], WNOHANG);
    check_eq!(
        result,
        0,
        "wait4(sleeping child, WNOHANG) (status {status:#x})"
    );

    for (index, pid) in pids.iter().enumerate() {
        check!(*pid != parent, "child {index}'s PID is the parent's");
        check!(
            !pids[..index].contains(pid),
            "child {index}'s PID {pid} is not unique: {pids:?}"
        );
    }

    let mut reaped = [false; ENDINGS.len()];
    let mut reap = |result: i64, status: u32, how: &str| {
        let Some(index) = pids.iter().position(|&pid| pid == result) else {
            fail!("{how} returned {result}, not a child's PID (children {pids:?})");
        };
        check!(!reaped[index], "{how}: child {index} reaped twice");
        reaped[index] = true;
        check_eq!(
            ending(status),
            Some(ENDINGS[index]),
            "{how}: child {index}'s ending (wait status {status:#x})"
        );
        index
    };
    // Given children first: one that exits, the one killed by SIGSEGV, the sleeper.
    for index in [3, 5, SLEEPER] {
        let (result, status) = process::wait4(pids[index], 0);
        check_eq!(result, pids[index], "wait4(child {index})");
        reap(result, status, "wait4(pid)");
    }
    let slept = time::monotonic_nanos() - sleeper_forked_at;
    check!(
        slept >= SLEEP_MILLIS * NANOSECONDS_PER_MILLISECOND,
        "the sleeper was reaped {slept} ns after its fork"
    );
    // Then the others, in whatever order.
    for _ in 3..ENDINGS.len() {
        let (result, status) = process::wait4(-1, 0);
        reap(result, status, "wait4(-1)");
    }
    check!(reaped.iter().all(|&reaped| reaped), "reaped: {reaped:?}");
    check_eq!(
        process::wait4(-1, WNOHANG).0,
        -ECHILD,
        "wait4(-1, WNOHANG) with every child reaped"
    );
}
