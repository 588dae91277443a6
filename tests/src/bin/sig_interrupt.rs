//! Blocking system calls interrupted by signals, single-threaded, the signals coming from
//! forked children.
//!
//! `nanosleep` of 10 s, with a SIGUSR1 handler, while a child sends SIGUSR1 (first after
//! 20 ms, then every 5 ms until killed): it returns -EINTR and writes the time left to
//! `rem` (more than 0, less than 10 s, `tv_nsec` below 10^9), both without and with
//! SA_RESTART (Linux never restarts a nanosleep after a handler ran); the handler's
//! siginfo names the child (SI_USER, si_pid) and its sigcontext shows the call returning
//! -EINTR (RIP right after the `syscall`, RAX = -EINTR).
//!
//! `wait4` for a child that does not exit, interrupted the same way: without SA_RESTART it
//! returns -EINTR (sigcontext as above); with SA_RESTART the handler sees the call set up
//! to be restarted (RIP on the `syscall`, RAX = wait4's number), kills the waited-for child
//! with SIGTERM, and the restarted call returns that child's PID with its status (killed
//! by SIGTERM).
//!
//! Signals that are ignored, by SIG_IGN (SIGUSR2) or by default (SIGWINCH, SIGCHLD with
//! SIG_DFL, also the SIGCHLD of the sender's exit), do not interrupt: a 40 ms `nanosleep`
//! returns 0 and a `wait4` for a child that exits after 30 ms returns it, although another
//! child sends them meanwhile. Nothing depends on timing but the runtime: a signal that
//! comes before the call is handled before it, and the next one interrupts it.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use topframe_abi_tests::errno::EINTR;
use topframe_abi_tests::process::{self, exit_status, killed_by};
use topframe_abi_tests::signal::SIGCHLD;
use topframe_abi_tests::signal::SIGWINCH;
use topframe_abi_tests::signal::{
    self, SA_RESTART, SI_USER, SIG_DFL, SIG_IGN, SIG_SETMASK, SIGKILL, SIGTERM, SIGUSR1, SIGUSR2,
    SigInfo, UContext, bit,
};
use topframe_abi_tests::time::{self, NANOSECONDS_PER_SECOND, Timespec};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, getpid, nr,
};

abi_test_main!(main);

/// The address of [`labeled_syscall4`]'s `syscall` instruction and of the one after it,
/// and the number of the call it makes: stored before the `syscall`.
static SYSCALL_AT: AtomicU64 = AtomicU64::new(0);
static SYSCALL_AFTER: AtomicU64 = AtomicU64::new(0);
static SYSCALL_NUMBER: AtomicU64 = AtomicU64::new(u64::MAX);

/// Runs of [`note`] and the last run's si_code and si_pid.
static RUNS: AtomicU64 = AtomicU64::new(0);
static CODE: AtomicI64 = AtomicI64::new(i64::MIN);
static PID: AtomicI64 = AtomicI64::new(0);
/// Runs that found the labeled call returning -EINTR, set up to be restarted, or neither.
static INTERRUPTED: AtomicU64 = AtomicU64::new(0);
static RESTARTING: AtomicU64 = AtomicU64::new(0);
static ELSEWHERE: AtomicU64 = AtomicU64::new(0);
/// A child the first restarting run kills with SIGTERM (0: none).
static KILL_ON_RESTART: AtomicI64 = AtomicI64::new(0);

/// The SIGUSR1 handler: records the run and where it found the labeled call.
extern "C" fn note(_signal: u32, info: &mut SigInfo, context: &mut UContext) {
    RUNS.fetch_add(1, Ordering::SeqCst);
    CODE.store(i64::from(info.code), Ordering::SeqCst);
    PID.store(i64::from(info.pid()), Ordering::SeqCst);
    let rip = context.mcontext.rip;
    let rax = context.mcontext.rax;
    if rip == SYSCALL_AFTER.load(Ordering::SeqCst) && rax == (-EINTR) as u64 {
        INTERRUPTED.fetch_add(1, Ordering::SeqCst);
    } else if rip == SYSCALL_AT.load(Ordering::SeqCst)
        && rax == SYSCALL_NUMBER.load(Ordering::SeqCst)
    {
        RESTARTING.fetch_add(1, Ordering::SeqCst);
        let victim = KILL_ON_RESTART.swap(0, Ordering::SeqCst);
        if victim != 0 {
            let result = signal::kill(victim, SIGTERM);
            if result != 0 {
                fail!("kill({victim}, SIGTERM) in the handler returned {result}");
            }
        }
    } else {
        ELSEWHERE.fetch_add(1, Ordering::SeqCst);
    }
}

fn reset_records() {
    for counter in [&RUNS, &INTERRUPTED, &RESTARTING, &ELSEWHERE] {
        counter.store(0, Ordering::SeqCst);
    }
    CODE.store(i64::MIN, Ordering::SeqCst);
    PID.store(0, Ordering::SeqCst);
    KILL_ON_RESTART.store(0, Ordering::SeqCst);
}

/// `syscall(number, a0, a1, a2, a3)` through one `syscall` instruction whose address (and
/// the next one's) and number it publishes first, for [`note`] to compare with its
/// sigcontext.
///
/// # Safety
/// As for the system call made.
#[inline(never)]
unsafe fn labeled_syscall4(number: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    SYSCALL_NUMBER.store(number, Ordering::SeqCst);
    let result: i64;
    // SAFETY: the call's own effects are the caller's (above); the stores go to two
    // AtomicU64 statics that only this (single) thread writes and its handler reads. A
    // restart re-executes the `syscall` with the argument registers as they were (the
    // handler's sigreturn restores them).
    unsafe {
        asm!(
            "lea {scratch}, [rip + 2f]",                // the address of the `syscall`
            "mov qword ptr [rip + {at}], {scratch}",    // SYSCALL_AT = it
            "lea {scratch}, [rip + 3f]",                // the address after it
            "mov qword ptr [rip + {after}], {scratch}", // SYSCALL_AFTER = it
            "2:",
            "syscall",                                  // number(a0, a1, a2, a3)
            "3:",
            at = sym SYSCALL_AT,
            after = sym SYSCALL_AFTER,
            scratch = out(reg) _,
            inlateout("rax") number => result,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") a3,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// `nanosleep(request, &rem)` through [`labeled_syscall4`]: (result, rem). `rem` starts
/// as (-1, -1), so that an unwritten one shows.
fn nanosleep_labeled(request: &Timespec) -> (i64, Timespec) {
    let mut rem = Timespec {
        seconds: -1,
        nanoseconds: -1,
    };
    // SAFETY: nanosleep reads the request and writes the 16-byte `rem`, both locals.
    let result = unsafe {
        labeled_syscall4(
            nr::NANOSLEEP,
            request as *const Timespec as u64,
            &raw mut rem as u64,
            0,
            0,
        )
    };
    (result, rem)
}

/// `wait4(pid, &status, 0, NULL)` through [`labeled_syscall4`]: (result, status).
fn wait4_labeled(pid: i64) -> (i64, u32) {
    let mut status = 0_u32;
    // SAFETY: wait4 writes the 4-byte status, a local; no rusage.
    let result = unsafe { labeled_syscall4(nr::WAIT4, pid as u64, &raw mut status as u64, 0, 0) };
    (result, status)
}

fn set_mask(mask: u64) {
    let (result, _) = signal::procmask(SIG_SETMASK, Some(mask));
    check_eq!(result, 0, "rt_sigprocmask(SIG_SETMASK, {mask:#x})");
}

fn set_disposition(signal: u32, handler: u64) {
    let result = signal::set_disposition(signal, handler);
    check_eq!(result, 0, "rt_sigaction({signal}, {handler})");
}

/// Forks a child that runs `body` and then exits with status 0.
fn spawn_child(body: fn(i64)) -> i64 {
    let parent = getpid();
    let child = process::fork();
    if child == 0 {
        body(parent);
        exit_group(0);
    }
    check!(child > 0, "fork returned {child}");
    child
}

/// The pestering child: SIGUSR1 to the parent after 20 ms, then every 5 ms, until it is
/// killed (after 1000 of them it gives up with status 3).
fn pester(parent: i64) {
    time::sleep_millis(20);
    for _ in 0..1000 {
        let result = signal::kill(parent, SIGUSR1);
        check_eq!(result, 0, "pester: kill(parent, SIGUSR1)");
        time::sleep_millis(5);
    }
    exit_group(3);
}

/// A child that waits to be killed (after 2 s it gives up with status 4).
fn linger(_parent: i64) {
    for _ in 0..200 {
        time::sleep_millis(10);
    }
    exit_group(4);
}

/// Kills `child` with SIGKILL and reaps it, with SIGUSR1 blocked meanwhile; then
/// discards a SIGUSR1 still pending (SIG_IGN), and leaves SIGUSR1 at SIG_DFL, unblocked.
fn kill_and_reap(children: &[i64]) {
    set_mask(bit(SIGUSR1));
    for &child in children {
        check_eq!(
            signal::kill(child, SIGKILL),
            0,
            "kill(child {child}, SIGKILL)"
        );
        let (result, status) = process::wait4(child, 0);
        check_eq!(result, child, "wait4(killed child)");
        check_eq!(
            killed_by(status),
            Some(SIGKILL as u8),
            "the killed child's end (wait status {status:#x})"
        );
    }
    set_disposition(SIGUSR1, SIG_IGN);
    set_disposition(SIGUSR1, SIG_DFL);
    set_mask(0);
}

fn install_note(flags: u64) {
    let result = signal::install(SIGUSR1, note, flags, 0);
    check_eq!(result, 0, "rt_sigaction(SIGUSR1, note, {flags:#x})");
}

fn interrupted_nanosleep(flags: u64, what: &str) {
    install_note(flags);
    reset_records();
    let request = Timespec::from_millis(10_000);
    let pesterer = spawn_child(pester);
    let (result, rem) = nanosleep_labeled(&request);
    check_eq!(
        result,
        -EINTR,
        "{what}: nanosleep(10 s) interrupted by SIGUSR1"
    );
    check!(
        rem > Timespec::ZERO
            && rem < request
            && (0..NANOSECONDS_PER_SECOND).contains(&rem.nanoseconds),
        "{what}: the time left written to rem: {rem:?}"
    );
    check!(
        INTERRUPTED.load(Ordering::SeqCst) >= 1 && RESTARTING.load(Ordering::SeqCst) == 0,
        "{what}: handler runs in the nanosleep: {} returning -EINTR, {} restarting \
         (expected at least 1 and 0)",
        INTERRUPTED.load(Ordering::SeqCst),
        RESTARTING.load(Ordering::SeqCst)
    );
    check_eq!(
        CODE.load(Ordering::SeqCst),
        i64::from(SI_USER),
        "{what}: si_code"
    );
    check_eq!(PID.load(Ordering::SeqCst), pesterer, "{what}: si_pid");
    kill_and_reap(&[pesterer]);
}

fn interrupted_wait4() {
    // Without SA_RESTART: -EINTR.
    install_note(0);
    reset_records();
    let lingerer = spawn_child(linger);
    let pesterer = spawn_child(pester);
    let (result, _) = wait4_labeled(lingerer);
    check_eq!(result, -EINTR, "no SA_RESTART: wait4(lingering child)");
    check!(
        INTERRUPTED.load(Ordering::SeqCst) >= 1 && RESTARTING.load(Ordering::SeqCst) == 0,
        "no SA_RESTART: handler runs in the wait4: {} returning -EINTR, {} restarting \
         (expected at least 1 and 0)",
        INTERRUPTED.load(Ordering::SeqCst),
        RESTARTING.load(Ordering::SeqCst)
    );
    check_eq!(
        PID.load(Ordering::SeqCst),
        pesterer,
        "no SA_RESTART: si_pid"
    );
    kill_and_reap(&[pesterer, lingerer]);

    // With SA_RESTART: restarted; the handler ends the child, whose status it returns.
    install_note(SA_RESTART);
    reset_records();
    let lingerer = spawn_child(linger);
    KILL_ON_RESTART.store(lingerer, Ordering::SeqCst);
    let pesterer = spawn_child(pester);
    let (result, status) = wait4_labeled(lingerer);
    check_eq!(
        result,
        lingerer,
        "SA_RESTART: wait4(lingering child), restarted"
    );
    check_eq!(
        killed_by(status),
        Some(SIGTERM as u8),
        "SA_RESTART: the child's end (wait status {status:#x})"
    );
    check!(
        INTERRUPTED.load(Ordering::SeqCst) == 0 && RESTARTING.load(Ordering::SeqCst) >= 1,
        "SA_RESTART: handler runs in the wait4: {} returning -EINTR, {} restarting \
         (expected 0 and at least 1)",
        INTERRUPTED.load(Ordering::SeqCst),
        RESTARTING.load(Ordering::SeqCst)
    );
    check_eq!(
        KILL_ON_RESTART.load(Ordering::SeqCst),
        0,
        "SA_RESTART: the handler killed the child"
    );
    kill_and_reap(&[pesterer]);
}

/// The child that sends ignored signals: after 5 ms, three rounds of SIGUSR2 (SIG_IGN),
/// SIGWINCH and SIGCHLD (SIG_DFL: ignore) 1 ms apart; then it exits (another SIGCHLD).
fn send_ignored(parent: i64) {
    time::sleep_millis(5);
    for _ in 0..3 {
        for signal in [SIGUSR2, SIGWINCH, SIGCHLD] {
            let result = signal::kill(parent, signal);
            check_eq!(result, 0, "sender: kill(parent, {signal})");
        }
        time::sleep_millis(1);
    }
}

/// A child that exits with status 7 after 30 ms.
fn exit_later(_parent: i64) {
    time::sleep_millis(30);
    exit_group(7);
}

fn ignored_signals() {
    install_note(0);
    set_disposition(SIGUSR2, SIG_IGN);
    set_disposition(SIGWINCH, SIG_DFL);
    set_disposition(SIGCHLD, SIG_DFL);
    reset_records();

    let sender = spawn_child(send_ignored);
    let (result, _) = nanosleep_labeled(&Timespec::from_millis(40));
    check_eq!(result, 0, "nanosleep(40 ms) while ignored signals come");
    let (result, status) = process::wait4(sender, 0);
    check_eq!(
        (result, exit_status(status)),
        (sender, Some(0)),
        "wait4(sender): (result, exit status)"
    );

    let exiter = spawn_child(exit_later);
    let sender = spawn_child(send_ignored);
    let (result, status) = wait4_labeled(exiter);
    check_eq!(
        (result, exit_status(status)),
        (exiter, Some(7)),
        "wait4(child exiting after 30 ms) while ignored signals come: (result, exit status)"
    );
    let (result, status) = process::wait4(sender, 0);
    check_eq!(
        (result, exit_status(status)),
        (sender, Some(0)),
        "wait4(sender): (result, exit status)"
    );
    check_eq!(RUNS.load(Ordering::SeqCst), 0, "SIGUSR1 handler runs");
    set_disposition(SIGUSR2, SIG_DFL);
    set_disposition(SIGUSR1, SIG_DFL);
}

fn main(_stack: &InitialStack) {
    set_mask(0);
    interrupted_nanosleep(0, "no SA_RESTART");
    interrupted_nanosleep(SA_RESTART, "SA_RESTART");
    interrupted_wait4();
    ignored_signals();
    check_eq!(
        process::wait4(-1, process::WNOHANG).0,
        -topframe_abi_tests::errno::ECHILD,
        "wait4(-1, WNOHANG) at the end: no children left"
    );
}
