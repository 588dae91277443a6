//! PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_DETACH and PTRACE_KILL on fork children that did not
//! ask to be traced. Each child runs an assembly function that first sends its parent
//! SIGUSR2 (blocked there: the parent polls `rt_sigpending` for it, so it knows the child
//! is inside the function, then discards it by ignoring it) and then loops on
//! `sched_yield` until a static flag is set; memory is not shared after a fork, so the
//! parent sets the child's flag with PTRACE_POKEDATA. After the loop the child checks the
//! flag's value and exits 0. The parent checks:
//! - ATTACH returns 0 and wait4 reports a SIGSTOP stop; GETREGS works: RIP inside the
//!   function, RDX = the flag's address, RDI/RSI = kill's arguments, ORIG_RAX -1 or the
//!   number of a syscall the function makes, CS/SS the user selectors, FS base 0; a
//!   second ATTACH and a SEIZE give -EPERM; POKEDATA sets the flag, DETACH (signal 0)
//!   returns 0, ptrace then gives -ESRCH (no longer traced), and the child runs on and
//!   exits 0;
//! - SEIZE (options TRACESYSGOOD) returns 0 and does not stop the child (wait4 WNOHANG
//!   gives 0, PEEKDATA and GETREGS -ESRCH: not stopped); a SIGUSR1 (no handler: its
//!   default action kills) gives a signal-delivery stop (stopped by SIGUSR1) in the
//!   function; PTRACE_CONT with signal 0 suppresses it: the child exits 0;
//! - on a second seized child: a SIGUSR1 stop resumed with PTRACE_SYSCALL (signal 0) gives
//!   a syscall-entry stop reported as SIGTRAP | 0x80 (the seized TRACESYSGOOD) with
//!   ORIG_RAX = sched_yield; a SIGUSR1 sent during that stop gives, after PTRACE_CONT, a
//!   signal-delivery stop, and PTRACE_CONT with data = SIGUSR1 delivers it: the child is
//!   killed by SIGUSR1;
//! - PTRACE_KILL of an attached, stopped child returns 0 and the child is killed by
//!   SIGKILL;
//! - ATTACH to this process gives -EPERM; to a reaped child, a PID that cannot exist, 0
//!   and -1 gives -ESRCH; at the end no child is left.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::naked_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::errno::{ECHILD, EPERM, ESRCH};
use topframe_abi_tests::process::{self, WNOHANG};
use topframe_abi_tests::ptrace::{
    self, PTRACE_ATTACH, PTRACE_CONT, PTRACE_DETACH, PTRACE_KILL, PTRACE_O_TRACESYSGOOD,
    PTRACE_PEEKDATA, PTRACE_POKEDATA, PTRACE_SEIZE, PTRACE_SYSCALL, UserRegs,
};
use topframe_abi_tests::signal::{
    self, SIG_BLOCK, SIG_DFL, SIG_IGN, SIGKILL, SIGSTOP, SIGTRAP, SIGUSR1, SIGUSR2, USER_CS,
    USER_DS,
};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, getpid, nr, sched,
};

abi_test_main!(main);

/// The flag's value once the parent releases a child (0 before).
const RELEASE_VALUE: u64 = 0x5eed_0000_0000_0001;
/// Set (in the child's copy) by the parent's POKEDATA.
static RELEASE: AtomicU64 = AtomicU64::new(0);
/// No more than the size of [`announce_and_wait`]'s code.
const FUNCTION_SIZE_AT_MOST: u64 = 64;
/// A PID above Linux's largest possible `pid_max` (2^22).
const NO_SUCH_PID: i64 = 0x7fff_fff0;

/// `kill(parent, signal)`, then loops on `sched_yield` until `*flag` is non-zero.
#[unsafe(naked)]
extern "C" fn announce_and_wait(parent: i64, signal: u64, flag: *const u64) {
    naked_asm!(
        "mov eax, {kill}",        // RAX = kill
        "syscall",                // kill(parent, signal): RDI, RSI and RDX are kept
        "2:",
        "cmp qword ptr [rdx], 0", // the flag still clear?
        "jne 3f",                 // no: return
        "mov eax, {sched_yield}", // RAX = sched_yield
        "syscall",                // yield (RDX is kept)
        "jmp 2b",                 // check again
        "3:",
        "ret", // to the caller
        kill = const nr::KILL,
        sched_yield = const nr::SCHED_YIELD,
    )
}

/// A fork child that announces itself and waits for its flag; returns its PID once it is
/// inside [`announce_and_wait`] (its SIGUSR2 arrived).
fn spawn(parent: i64) -> i64 {
    let pid = process::fork();
    if pid == 0 {
        // The function reads only the flag and makes kill and sched_yield calls; it
        // clobbers only RAX, RCX and R11, which the C ABI lets it.
        announce_and_wait(parent, u64::from(SIGUSR2), RELEASE.as_ptr());
        check_eq!(
            RELEASE.load(Ordering::Relaxed),
            RELEASE_VALUE,
            "child: the flag"
        );
        exit_group(0);
    }
    check!(pid > 0, "fork returned {pid}");
    loop {
        match signal::pending() {
            Ok(set) if set & signal::bit(SIGUSR2) != 0 => break,
            Ok(_) => sched::yield_now(),
            Err(error) => fail!("rt_sigpending returned {error}"),
        }
    }
    // Ignoring a signal drops it from the pending set; then back to the default.
    check_eq!(
        signal::set_disposition(SIGUSR2, SIG_IGN),
        0,
        "SIGUSR2: SIG_IGN"
    );
    check_eq!(
        signal::set_disposition(SIGUSR2, SIG_DFL),
        0,
        "SIGUSR2: SIG_DFL"
    );
    check_eq!(
        signal::pending().map(|set| set & signal::bit(SIGUSR2)),
        Ok(0),
        "SIGUSR2 pending after ignoring it"
    );
    pid
}

/// Waits for the stop of `pid`, which must be by `signal`.
fn expect_stop(pid: i64, signal: u32, what: &str) {
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "{what}: wait4");
    check_eq!(
        ptrace::stopped_by(status),
        Some(signal as u8),
        "{what}: the stop (wait status {status:#x})"
    );
}

/// Waits for the end of `pid` and returns its wait status.
fn end_of(pid: i64, what: &str) -> u32 {
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "{what}: wait4 for the end");
    status
}

/// The registers of a child stopped inside [`announce_and_wait`].
fn check_waiting_registers(pid: i64, parent: i64, what: &str) -> UserRegs {
    let registers = match ptrace::get_registers(pid) {
        Ok(registers) => registers,
        Err(error) => fail!("{what}: PTRACE_GETREGS returned {error}"),
    };
    let function = announce_and_wait as *const () as u64;
    check!(
        (function..function + FUNCTION_SIZE_AT_MOST).contains(&registers.rip),
        "{what}: RIP {:#x} not in the function at {function:#x}",
        registers.rip
    );
    check_eq!(registers.rdx, RELEASE.as_ptr() as u64, "{what}: RDX");
    check_eq!(registers.rdi, parent as u64, "{what}: RDI");
    check_eq!(registers.rsi, u64::from(SIGUSR2), "{what}: RSI");
    check!(
        [u64::MAX, nr::KILL, nr::SCHED_YIELD].contains(&registers.orig_rax),
        "{what}: ORIG_RAX {:#x}",
        registers.orig_rax
    );
    check_eq!(registers.cs, u64::from(USER_CS), "{what}: CS");
    check_eq!(registers.ss, u64::from(USER_DS), "{what}: SS");
    check_eq!(registers.fs_base, 0, "{what}: FS base");
    registers
}

/// Sets the child's flag.
fn release(pid: i64, what: &str) {
    check_eq!(
        ptrace::request(PTRACE_POKEDATA, pid, RELEASE.as_ptr() as u64, RELEASE_VALUE),
        0,
        "{what}: POKEDATA of the flag"
    );
}

/// ATTACH, GETREGS, DETACH.
fn attach_and_detach(parent: i64) {
    let pid = spawn(parent);
    check_eq!(ptrace::request(PTRACE_ATTACH, pid, 0, 0), 0, "ATTACH");
    expect_stop(pid, SIGSTOP, "ATTACH");
    check_waiting_registers(pid, parent, "ATTACH");
    check_eq!(
        ptrace::request(PTRACE_ATTACH, pid, 0, 0),
        -EPERM,
        "a second ATTACH"
    );
    check_eq!(
        ptrace::request(PTRACE_SEIZE, pid, 0, 0),
        -EPERM,
        "SEIZE of an attached child"
    );
    release(pid, "ATTACH");
    check_eq!(ptrace::request(PTRACE_DETACH, pid, 0, 0), 0, "DETACH");
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, RELEASE.as_ptr() as u64),
        Err(-ESRCH),
        "PEEKDATA after DETACH"
    );
    let status = end_of(pid, "DETACH");
    check_eq!(
        process::exit_status(status),
        Some(0),
        "the detached child's end (wait status {status:#x})"
    );
    check_eq!(
        ptrace::request(PTRACE_ATTACH, pid, 0, 0),
        -ESRCH,
        "ATTACH to the reaped child"
    );
}

/// SEIZE: no stop; a SIGUSR1 stop; the signal suppressed.
fn seize_and_suppress(parent: i64) {
    let pid = spawn(parent);
    check_eq!(
        ptrace::request(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD),
        0,
        "SEIZE"
    );
    check_eq!(
        process::wait4(pid, WNOHANG).0,
        0,
        "wait4(WNOHANG) after SEIZE (no stop)"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, RELEASE.as_ptr() as u64),
        Err(-ESRCH),
        "PEEKDATA of the running seized child"
    );
    check_eq!(
        ptrace::get_registers(pid),
        Err(-ESRCH),
        "GETREGS of the running seized child"
    );
    check_eq!(
        ptrace::request(PTRACE_ATTACH, pid, 0, 0),
        -EPERM,
        "ATTACH of a seized child"
    );
    check_eq!(signal::kill(pid, SIGUSR1), 0, "kill(SIGUSR1)");
    expect_stop(pid, SIGUSR1, "SIGUSR1 to the seized child");
    check_waiting_registers(pid, parent, "the SIGUSR1 stop");
    release(pid, "the SIGUSR1 stop");
    check_eq!(
        ptrace::request(PTRACE_CONT, pid, 0, 0),
        0,
        "CONT without the signal"
    );
    let status = end_of(pid, "the suppressed SIGUSR1");
    check_eq!(
        process::exit_status(status),
        Some(0),
        "the end of the child whose SIGUSR1 was suppressed (wait status {status:#x})"
    );
}

/// SEIZE: a syscall stop with TRACESYSGOOD; a SIGUSR1 delivered by the tracer.
fn seize_and_deliver(parent: i64) {
    let pid = spawn(parent);
    check_eq!(
        ptrace::request(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD),
        0,
        "SEIZE"
    );
    check_eq!(signal::kill(pid, SIGUSR1), 0, "kill(SIGUSR1)");
    expect_stop(pid, SIGUSR1, "the first SIGUSR1");
    check_eq!(
        ptrace::request(PTRACE_SYSCALL, pid, 0, 0),
        0,
        "PTRACE_SYSCALL without the signal"
    );
    expect_stop(pid, SIGTRAP | 0x80, "the syscall-entry stop");
    let registers = check_waiting_registers(pid, parent, "the syscall-entry stop");
    check_eq!(
        registers.orig_rax,
        nr::SCHED_YIELD,
        "the syscall-entry stop: ORIG_RAX"
    );
    check_eq!(
        signal::kill(pid, SIGUSR1),
        0,
        "kill(SIGUSR1) at the syscall stop"
    );
    check_eq!(
        ptrace::request(PTRACE_CONT, pid, 0, 0),
        0,
        "CONT from the syscall stop"
    );
    expect_stop(pid, SIGUSR1, "the second SIGUSR1");
    check_waiting_registers(pid, parent, "the second SIGUSR1 stop");
    check_eq!(
        ptrace::request(PTRACE_CONT, pid, 0, u64::from(SIGUSR1)),
        0,
        "CONT with SIGUSR1"
    );
    let status = end_of(pid, "the delivered SIGUSR1");
    check_eq!(
        process::killed_by(status),
        Some(SIGUSR1 as u8),
        "the end of the child given SIGUSR1 (wait status {status:#x})"
    );
}

/// ATTACH, then PTRACE_KILL.
fn attach_and_kill(parent: i64) {
    let pid = spawn(parent);
    check_eq!(ptrace::request(PTRACE_ATTACH, pid, 0, 0), 0, "ATTACH");
    expect_stop(pid, SIGSTOP, "ATTACH before KILL");
    check_eq!(ptrace::request(PTRACE_KILL, pid, 0, 0), 0, "PTRACE_KILL");
    let status = end_of(pid, "PTRACE_KILL");
    check_eq!(
        process::killed_by(status),
        Some(SIGKILL as u8),
        "the end of the killed child (wait status {status:#x})"
    );
}

fn main(_stack: &InitialStack) {
    let parent = getpid();
    // The children's announcements stay pending here until the parent drops them.
    let (result, _) = signal::procmask(SIG_BLOCK, Some(signal::bit(SIGUSR2)));
    check_eq!(result, 0, "blocking SIGUSR2");

    check_eq!(
        ptrace::request(PTRACE_ATTACH, parent, 0, 0),
        -EPERM,
        "ATTACH to this process"
    );
    for pid in [NO_SUCH_PID, 0, -1] {
        check_eq!(
            ptrace::request(PTRACE_ATTACH, pid, 0, 0),
            -ESRCH,
            "ATTACH to PID {pid}"
        );
    }

    attach_and_detach(parent);
    seize_and_suppress(parent);
    seize_and_deliver(parent);
    attach_and_kill(parent);

    check_eq!(process::wait4(-1, WNOHANG).0, -ECHILD, "no child left");
}
