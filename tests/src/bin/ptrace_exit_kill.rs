//! How tracees end, and the ptrace errors of a caller that is not (or not now) able to
//! act on a process:
//!
//! - ptrace requests on this process itself, on a PID no process has, and on a fork child
//!   that is not traced (GETREGS, CONT, KILL) fail with -ESRCH; that child, blocked in a
//!   futex wait, is then killed with kill(SIGKILL).
//! - In a child, a second PTRACE_TRACEME fails with -EPERM. That child stops itself with
//!   SIGSTOP (a stop by SIGSTOP for the tracer, which suppresses it with PTRACE_SYSCALL
//!   and no TRACESYSGOOD), then calls exit_group(23): the syscall-entry stop reports a
//!   plain SIGTRAP, with ORIG_RAX = exit_group and RDI = 23; after PTRACE_CONT, wait4
//!   reports the exit with status 23. Once the child is reaped, ptrace on its PID gives
//!   -ESRCH.
//! - PTRACE_KILL of a tracee in its SIGSTOP stop (GETREGS works there): wait4 reports it
//!   killed by SIGKILL, not the exit_group(24) it would call next.
//! - A tracee resumed with PTRACE_CONT into a futex wait that never ends: right after the
//!   CONT, GETREGS, PEEKUSER and PTRACE_SETOPTIONS fail with -ESRCH (it is no longer in a
//!   ptrace stop) and wait4(WNOHANG) returns 0; PTRACE_KILL then succeeds and wait4
//!   reports it killed by SIGKILL.
//!
//! At the end no child is left: wait4(-1, WNOHANG) gives -ECHILD.
#![cfg_attr(not(test), no_std, no_main)]

use core::sync::atomic::AtomicU32;

use topframe_abi_tests::errno::{ECHILD, EPERM, ESRCH};
use topframe_abi_tests::process::{self, WNOHANG};
use topframe_abi_tests::ptrace::{
    self, PTRACE_CONT, PTRACE_KILL, PTRACE_O_TRACESYSGOOD, PTRACE_PEEKUSER, PTRACE_SETOPTIONS,
    PTRACE_SYSCALL, PTRACE_TRACEME, UserRegs,
};
use topframe_abi_tests::signal::{self, SIGKILL, SIGSTOP, SIGTRAP};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, futex, getpid, nr,
};

abi_test_main!(main);

/// The exit status of the child that exits at its syscall-entry stop.
const EXIT_STATUS: u8 = 23;
/// The exit status of the child that PTRACE_KILL must kill before it gets there.
const UNREACHED_STATUS: u8 = 24;
/// A PID no process has: above the largest `pid_max` Linux allows (2^22).
const NO_SUCH_PID: i64 = 0x7fff_ffff;

/// A futex word that never changes: waiting on it blocks until the waiter is killed.
static NEVER: AtomicU32 = AtomicU32::new(0);

/// What wait4 reported.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Exited(u8),
    Killed(u8),
    Stopped(u8),
    Unknown(u32),
}

fn event(status: u32) -> Event {
    if let Some(status) = process::exit_status(status) {
        Event::Exited(status)
    } else if let Some(signal) = ptrace::stopped_by(status) {
        Event::Stopped(signal)
    } else if let Some(signal) = process::killed_by(status) {
        Event::Killed(signal)
    } else {
        Event::Unknown(status)
    }
}

/// Waits for `pid`'s next event, which must be `expected`.
fn expect_event(pid: i64, expected: Event, what: &str) {
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "wait4 for {what}");
    check_eq!(
        event(status),
        expected,
        "{what} (wait status {status:#x}; Exited(1) is a failure the child reported)"
    );
}

/// Blocks the calling process until it is killed.
fn block_forever() -> ! {
    loop {
        futex::wait(&NEVER, 0, None);
    }
}

/// Forks a child that runs `child`.
fn spawn(child: fn() -> !) -> i64 {
    let pid = process::fork();
    if pid == 0 {
        child();
    }
    check!(pid > 0, "fork: {pid}");
    pid
}

/// The child's side of every traced case: PTRACE_TRACEME, then a stop by SIGSTOP.
fn trace_me_and_stop() {
    check_eq!(
        ptrace::request(PTRACE_TRACEME, 0, 0, 0),
        0,
        "child: PTRACE_TRACEME"
    );
    check_eq!(signal::raise(SIGSTOP), 0, "child: raise(SIGSTOP)");
}

fn untraced_child() -> ! {
    block_forever()
}

fn exiting_child() -> ! {
    check_eq!(
        ptrace::request(PTRACE_TRACEME, 0, 0, 0),
        0,
        "child: PTRACE_TRACEME"
    );
    check_eq!(
        ptrace::request(PTRACE_TRACEME, 0, 0, 0),
        -EPERM,
        "child: a second PTRACE_TRACEME"
    );
    check_eq!(signal::raise(SIGSTOP), 0, "child: raise(SIGSTOP)");
    exit_group(EXIT_STATUS)
}

fn stopped_child() -> ! {
    trace_me_and_stop();
    exit_group(UNREACHED_STATUS)
}

fn blocking_child() -> ! {
    trace_me_and_stop();
    block_forever()
}

/// ptrace requests on `pid`, which this process does not trace: all -ESRCH.
fn check_not_traced(pid: i64, what: &str) {
    check_eq!(
        ptrace::get_registers(pid),
        Err(-ESRCH),
        "PTRACE_GETREGS on {what}"
    );
    check_eq!(
        ptrace::request(PTRACE_CONT, pid, 0, 0),
        -ESRCH,
        "PTRACE_CONT on {what}"
    );
    check_eq!(
        ptrace::request(PTRACE_KILL, pid, 0, 0),
        -ESRCH,
        "PTRACE_KILL on {what}"
    );
}

fn main(_stack: &InitialStack) {
    check_not_traced(getpid(), "this process");
    check_not_traced(NO_SUCH_PID, "a PID no process has");

    let pid = spawn(untraced_child);
    check_not_traced(pid, "an untraced child");
    check_eq!(
        signal::kill(pid, SIGKILL),
        0,
        "kill(untraced child, SIGKILL)"
    );
    expect_event(
        pid,
        Event::Killed(SIGKILL as u8),
        "the untraced child's end",
    );

    let pid = spawn(exiting_child);
    expect_event(
        pid,
        Event::Stopped(SIGSTOP as u8),
        "the exiting child's SIGSTOP",
    );
    check_eq!(
        ptrace::request(PTRACE_SYSCALL, pid, 0, 0),
        0,
        "PTRACE_SYSCALL after the SIGSTOP"
    );
    expect_event(
        pid,
        Event::Stopped(SIGTRAP as u8),
        "the syscall-entry stop of exit_group (no TRACESYSGOOD: plain SIGTRAP)",
    );
    let regs: UserRegs = ptrace::get_registers(pid)
        .unwrap_or_else(|error| fail!("GETREGS at the entry stop: {error}"));
    check_eq!(regs.orig_rax, nr::EXIT_GROUP, "ORIG_RAX at the entry stop");
    check_eq!(regs.rdi, u64::from(EXIT_STATUS), "RDI at the entry stop");
    check_eq!(
        ptrace::request(PTRACE_CONT, pid, 0, 0),
        0,
        "PTRACE_CONT at the entry stop of exit_group"
    );
    expect_event(
        pid,
        Event::Exited(EXIT_STATUS),
        "the exit after the entry stop of exit_group(23)",
    );
    check_not_traced(pid, "a reaped tracee");

    let pid = spawn(stopped_child);
    expect_event(
        pid,
        Event::Stopped(SIGSTOP as u8),
        "the stopped child's SIGSTOP",
    );
    check!(
        ptrace::get_registers(pid).is_ok(),
        "GETREGS of the tracee in its SIGSTOP stop: {:?}",
        ptrace::get_registers(pid)
    );
    check_eq!(
        ptrace::request(PTRACE_KILL, pid, 0, 0),
        0,
        "PTRACE_KILL of a stopped tracee"
    );
    expect_event(
        pid,
        Event::Killed(SIGKILL as u8),
        "the end of the tracee killed in its stop",
    );

    let pid = spawn(blocking_child);
    expect_event(
        pid,
        Event::Stopped(SIGSTOP as u8),
        "the blocking child's SIGSTOP",
    );
    check_eq!(
        ptrace::request(PTRACE_CONT, pid, 0, 0),
        0,
        "PTRACE_CONT of the blocking child"
    );
    check_eq!(
        ptrace::get_registers(pid),
        Err(-ESRCH),
        "GETREGS of a running tracee"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKUSER, pid, 0),
        Err(-ESRCH),
        "PEEKUSER of a running tracee"
    );
    check_eq!(
        ptrace::request(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD),
        -ESRCH,
        "PTRACE_SETOPTIONS of a running tracee"
    );
    check_eq!(
        process::wait4(pid, WNOHANG),
        (0, 0),
        "wait4(WNOHANG) of a running tracee"
    );
    check_eq!(
        ptrace::request(PTRACE_KILL, pid, 0, 0),
        0,
        "PTRACE_KILL of a running tracee"
    );
    expect_event(
        pid,
        Event::Killed(SIGKILL as u8),
        "the end of the tracee killed while running",
    );

    check_eq!(
        process::wait4(-1, WNOHANG).0,
        -ECHILD,
        "wait4(-1, WNOHANG) with no children left"
    );
}
