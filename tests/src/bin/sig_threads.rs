//! Signals and threads (raw `clone` threads sharing the signal handlers).
//!
//! A thread-directed signal (tgkill and tkill of a second thread's ID) runs its handler in
//! that thread: `gettid` in the handler is the thread's ID, si_code SI_TKILL, si_pid this
//! process. Masks are per thread: a new thread starts with its creator's mask, and a
//! thread blocking SIGUSR2 changes nothing in the main thread's mask. A process-directed
//! signal (kill of the PID) is taken by a thread that does not block it: by the main
//! thread (before `kill` returns) when the other thread blocks it, and by the other
//! thread (with nothing left pending) when the main thread blocks it.
//!
//! A thread blocked in FUTEX_WAIT (no timeout) is interrupted by a signal sent to it, and
//! the handler runs in that thread: without SA_RESTART the wait returns -EINTR and the
//! handler's sigcontext shows RAX = -EINTR, RIP right after the `syscall`; with SA_RESTART
//! the handler sees the call set up to be restarted (RIP on the `syscall`, RAX = the futex
//! number), and the same wait, restarted, ends with 0 when the main thread wakes it.
//! FUTEX_WAIT with a timeout is not restarted after a handler even with SA_RESTART: it
//! returns -EINTR. Nothing depends on timing: the main thread sends the signal again until
//! the handler reports that it interrupted the wait (an earlier one may find the thread
//! before its wait, in user mode), and wakes the restarted wait until FUTEX_WAKE reports
//! that it woke it.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::errno::{EINTR, ESRCH};
use topframe_abi_tests::futex::{self, FUTEX_WAIT_PRIVATE};
use topframe_abi_tests::signal::{
    self, SA_RESTART, SI_TKILL, SI_USER, SIG_BLOCK, SIG_DFL, SIG_SETMASK, SIG_UNBLOCK, SIGHUP,
    SIGUSR1, SIGUSR2, SigInfo, UContext, bit,
};
use topframe_abi_tests::thread::{self, Stack};
use topframe_abi_tests::time::Timespec;
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail, getpid, gettid, nr};

abi_test_main!(main);

/// How many times the main thread sends a signal before giving up on the thread being
/// interrupted in its wait (each send is followed by a 1 ms wait for the report).
const SEND_LIMIT: u32 = 5000;
/// How long the main thread waits for a report before it looks (and sends) again.
const POLL: Timespec = Timespec::from_millis(1);

/// Runs of [`note`], and the last run's `gettid`, si_code and si_pid.
static RUNS: AtomicU64 = AtomicU64::new(0);
static HANDLER_TID: AtomicI64 = AtomicI64::new(0);
static HANDLER_CODE: AtomicI64 = AtomicI64::new(i64::MIN);
static HANDLER_PID: AtomicI64 = AtomicI64::new(0);
/// Set to 1 (and woken) by [`note`].
static HANDLED: AtomicU32 = AtomicU32::new(0);

/// The plain handler: records where and why it ran, then reports through [`HANDLED`].
extern "C" fn note(_signal: u32, info: &mut SigInfo, _context: &mut UContext) {
    HANDLER_TID.store(gettid(), Ordering::SeqCst);
    HANDLER_CODE.store(i64::from(info.code), Ordering::SeqCst);
    HANDLER_PID.store(i64::from(info.pid()), Ordering::SeqCst);
    RUNS.fetch_add(1, Ordering::SeqCst);
    HANDLED.store(1, Ordering::SeqCst);
    futex::wake(&HANDLED, u32::MAX);
}

/// Waits (FUTEX_WAIT, any interruptions retried) until `word` is not 0 any more.
fn wait_until_set(word: &AtomicU32, what: &str) {
    loop {
        if word.load(Ordering::SeqCst) != 0 {
            return;
        }
        let result = futex::wait(word, 0, None);
        check!(
            result == 0 || result == -topframe_abi_tests::errno::EAGAIN || result == -EINTR,
            "FUTEX_WAIT for {what} returned {result}"
        );
    }
}

/// Sets `word` to 1 and wakes its waiters.
fn set_and_wake(word: &AtomicU32) {
    word.store(1, Ordering::SeqCst);
    futex::wake(word, u32::MAX);
}

/// The state the plain threads share with the main thread: a thread stores its ID, its
/// mask at its start and after its own change, sets READY, waits for STOP, then stores
/// what is pending for it.
static THREAD_TID: AtomicI64 = AtomicI64::new(0);
static THREAD_START_MASK: AtomicU64 = AtomicU64::new(u64::MAX);
static THREAD_MASK: AtomicU64 = AtomicU64::new(u64::MAX);
static THREAD_PENDING: AtomicU64 = AtomicU64::new(u64::MAX);
static READY: AtomicU32 = AtomicU32::new(0);
static STOP: AtomicU32 = AtomicU32::new(0);

fn reset_shared() {
    RUNS.store(0, Ordering::SeqCst);
    HANDLER_TID.store(0, Ordering::SeqCst);
    HANDLER_CODE.store(i64::MIN, Ordering::SeqCst);
    HANDLER_PID.store(0, Ordering::SeqCst);
    HANDLED.store(0, Ordering::SeqCst);
    THREAD_TID.store(0, Ordering::SeqCst);
    THREAD_START_MASK.store(u64::MAX, Ordering::SeqCst);
    THREAD_MASK.store(u64::MAX, Ordering::SeqCst);
    THREAD_PENDING.store(u64::MAX, Ordering::SeqCst);
    READY.store(0, Ordering::SeqCst);
    STOP.store(0, Ordering::SeqCst);
}

/// A plain thread: applies `how` (SIG_BLOCK or SIG_UNBLOCK) to {SIGUSR2} (any other value:
/// leaves its mask), then as described at [`THREAD_TID`].
fn plain_thread(how: u64) {
    THREAD_TID.store(gettid(), Ordering::SeqCst);
    THREAD_START_MASK.store(signal::mask(), Ordering::SeqCst);
    if how == SIG_BLOCK || how == SIG_UNBLOCK {
        let (result, _) = signal::procmask(how, Some(bit(SIGUSR2)));
        check_eq!(result, 0, "thread: rt_sigprocmask({how}, {{USR2}})");
    }
    THREAD_MASK.store(signal::mask(), Ordering::SeqCst);
    set_and_wake(&READY);
    wait_until_set(&STOP, "STOP");
    let pending = signal::pending().unwrap_or_else(|error| fail!("thread: rt_sigpending: {error}"));
    THREAD_PENDING.store(pending, Ordering::SeqCst);
}

fn set_mask(mask: u64) {
    let (result, _) = signal::procmask(SIG_SETMASK, Some(mask));
    check_eq!(result, 0, "rt_sigprocmask(SIG_SETMASK, {mask:#x})");
}

fn install(signal: u32, handler: signal::Handler, flags: u64) {
    let result = signal::install(signal, handler, flags, 0);
    check_eq!(result, 0, "rt_sigaction({signal})");
}

fn thread_directed() {
    install(SIGUSR1, note, 0);
    set_mask(0);
    for (what, use_tkill) in [("tgkill", false), ("tkill", true)] {
        reset_shared();
        let thread = thread::spawn(Stack::new(), plain_thread, u64::MAX);
        let tid = thread.tid();
        check!(
            tid != gettid(),
            "{what}: the thread's ID {tid} is the main thread's"
        );
        let result = if use_tkill {
            signal::tkill(tid, SIGUSR1)
        } else {
            signal::tgkill(getpid(), tid, SIGUSR1)
        };
        check_eq!(result, 0, "{what}(thread, SIGUSR1)");
        wait_until_set(&HANDLED, "the handler");
        check_eq!(RUNS.load(Ordering::SeqCst), 1, "{what}: handler runs");
        check_eq!(
            HANDLER_TID.load(Ordering::SeqCst),
            tid,
            "{what}: gettid in the handler (the target thread's)"
        );
        check_eq!(
            HANDLER_CODE.load(Ordering::SeqCst),
            i64::from(SI_TKILL),
            "{what}: si_code"
        );
        check_eq!(
            HANDLER_PID.load(Ordering::SeqCst),
            getpid(),
            "{what}: si_pid"
        );
        set_and_wake(&STOP);
        drop(thread.join());
        check_eq!(
            THREAD_TID.load(Ordering::SeqCst),
            tid,
            "{what}: the thread's gettid"
        );
        check_eq!(
            THREAD_PENDING.load(Ordering::SeqCst),
            0,
            "{what}: the thread's pending set"
        );
    }
    check_eq!(
        signal::set_disposition(SIGUSR1, SIG_DFL),
        0,
        "SIG_DFL for SIGUSR1"
    );
}

fn process_directed() {
    install(SIGUSR2, note, 0);

    // The other thread blocks SIGUSR2: the main thread takes it, before kill returns.
    set_mask(bit(SIGHUP));
    reset_shared();
    let thread = thread::spawn(Stack::new(), plain_thread, SIG_BLOCK);
    wait_until_set(&READY, "the thread");
    check_eq!(
        THREAD_START_MASK.load(Ordering::SeqCst),
        bit(SIGHUP),
        "the new thread's mask (its creator's)"
    );
    check_eq!(
        THREAD_MASK.load(Ordering::SeqCst),
        bit(SIGHUP) | bit(SIGUSR2),
        "the thread's mask after blocking SIGUSR2"
    );
    check_eq!(
        signal::mask(),
        bit(SIGHUP),
        "the main thread's mask after the thread blocked SIGUSR2"
    );
    check_eq!(
        signal::kill(getpid(), SIGUSR2),
        0,
        "kill(getpid(), SIGUSR2)"
    );
    check_eq!(
        RUNS.load(Ordering::SeqCst),
        1,
        "handler runs when kill returns (the main thread does not block SIGUSR2)"
    );
    check_eq!(
        HANDLER_TID.load(Ordering::SeqCst),
        gettid(),
        "gettid in the handler of the process-directed SIGUSR2"
    );
    check_eq!(
        HANDLER_CODE.load(Ordering::SeqCst),
        i64::from(SI_USER),
        "si_code of kill"
    );
    check_eq!(
        HANDLER_PID.load(Ordering::SeqCst),
        getpid(),
        "si_pid of kill"
    );
    set_and_wake(&STOP);
    drop(thread.join());
    check_eq!(
        THREAD_PENDING.load(Ordering::SeqCst),
        0,
        "pending in the thread that blocks SIGUSR2 (the main thread took it)"
    );

    // The main thread blocks SIGUSR2: the other thread takes it.
    set_mask(bit(SIGUSR2));
    reset_shared();
    let thread = thread::spawn(Stack::new(), plain_thread, SIG_UNBLOCK);
    let tid = thread.tid();
    wait_until_set(&READY, "the thread");
    check_eq!(
        THREAD_START_MASK.load(Ordering::SeqCst),
        bit(SIGUSR2),
        "the new thread's mask (its creator's)"
    );
    check_eq!(
        THREAD_MASK.load(Ordering::SeqCst),
        0,
        "the thread's mask after unblocking"
    );
    check_eq!(
        signal::mask(),
        bit(SIGUSR2),
        "the main thread's mask after the thread unblocked SIGUSR2"
    );
    check_eq!(
        signal::kill(getpid(), SIGUSR2),
        0,
        "kill(getpid(), SIGUSR2)"
    );
    wait_until_set(&HANDLED, "the handler");
    check_eq!(RUNS.load(Ordering::SeqCst), 1, "handler runs");
    check_eq!(
        HANDLER_TID.load(Ordering::SeqCst),
        tid,
        "gettid in the handler (the thread that does not block SIGUSR2)"
    );
    check_eq!(
        HANDLER_CODE.load(Ordering::SeqCst),
        i64::from(SI_USER),
        "si_code of kill"
    );
    let pending = signal::pending().unwrap_or_else(|error| fail!("rt_sigpending: {error}"));
    check_eq!(
        pending,
        0,
        "pending in the main thread after the thread took SIGUSR2"
    );
    set_and_wake(&STOP);
    drop(thread.join());
    set_mask(0);
    check_eq!(
        signal::set_disposition(SIGUSR2, SIG_DFL),
        0,
        "SIG_DFL for SIGUSR2"
    );
}

// The futex-wait tests.

/// The waiter's futex word: stays 0 (only woken, never changed).
static WORD: AtomicU32 = AtomicU32::new(0);
/// The address of the waiter's `syscall` instruction and of the one after it, stored by
/// [`futex_wait_labeled`] before it executes the `syscall`.
static SYSCALL_AT: AtomicU64 = AtomicU64::new(0);
static SYSCALL_AFTER: AtomicU64 = AtomicU64::new(0);
/// The waiter's ID, its wait's result, and DONE (set when it has the result).
static WAITER_TID: AtomicI64 = AtomicI64::new(0);
static WAIT_RESULT: AtomicI64 = AtomicI64::new(i64::MIN);
static DONE: AtomicU32 = AtomicU32::new(0);
/// What [`interrupt`] saw: runs that interrupted the wait so that it returns -EINTR, runs
/// that found it set up for a restart, runs elsewhere (before the wait), runs in a thread
/// other than the waiter. (A signal sent again while the handler runs is delivered when it
/// returns, into the same registers: it counts as the first one did.)
static INTERRUPTED: AtomicU64 = AtomicU64::new(0);
static RESTARTING: AtomicU64 = AtomicU64::new(0);
static ELSEWHERE: AtomicU64 = AtomicU64::new(0);
static WRONG_THREAD: AtomicU64 = AtomicU64::new(0);
/// Set to 1 (and woken) by a run of [`interrupt`] that found the thread in its wait.
static SEEN_IN_WAIT: AtomicU32 = AtomicU32::new(0);

/// FUTEX_WAIT_PRIVATE(word, expected, timeout) through one `syscall` whose address (and
/// the next instruction's) it publishes first, for the handler to compare with its RIP.
#[inline(never)]
fn futex_wait_labeled(word: &AtomicU32, expected: u32, timeout: *const Timespec) -> i64 {
    let result: i64;
    // SAFETY: FUTEX_WAIT reads the word (a valid atomic) and the timeout (NULL or valid);
    // the stores go to two AtomicU64 statics that only this thread writes (their readers,
    // the handler, run in this thread). A restart re-executes the `syscall` with the
    // argument registers as they were (the handler's sigreturn restores them).
    unsafe {
        asm!(
            "lea {scratch}, [rip + 2f]",              // the address of the `syscall`
            "mov qword ptr [rip + {at}], {scratch}",  // SYSCALL_AT = it
            "lea {scratch}, [rip + 3f]",              // the address after it
            "mov qword ptr [rip + {after}], {scratch}", // SYSCALL_AFTER = it
            "2:",
            "syscall",                                // futex(word, WAIT_PRIVATE, expected, timeout)
            "3:",
            at = sym SYSCALL_AT,
            after = sym SYSCALL_AFTER,
            scratch = out(reg) _,
            inlateout("rax") nr::FUTEX => result,
            in("rdi") word.as_ptr(),
            in("rsi") u64::from(FUTEX_WAIT_PRIVATE),
            in("rdx") u64::from(expected),
            in("r10") timeout,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// The handler of the futex tests: classifies where it found the waiter (see
/// [`INTERRUPTED`]).
extern "C" fn interrupt(_signal: u32, _info: &mut SigInfo, context: &mut UContext) {
    if gettid() != WAITER_TID.load(Ordering::SeqCst) {
        WRONG_THREAD.fetch_add(1, Ordering::SeqCst);
    }
    let rip = context.mcontext.rip;
    let rax = context.mcontext.rax;
    if rip == SYSCALL_AFTER.load(Ordering::SeqCst) && rax == (-EINTR) as u64 {
        INTERRUPTED.fetch_add(1, Ordering::SeqCst);
    } else if rip == SYSCALL_AT.load(Ordering::SeqCst) && rax == nr::FUTEX {
        RESTARTING.fetch_add(1, Ordering::SeqCst);
    } else {
        ELSEWHERE.fetch_add(1, Ordering::SeqCst);
        return;
    }
    set_and_wake(&SEEN_IN_WAIT);
}

/// The long timeout of the timed variant.
static LONG_TIMEOUT: Timespec = Timespec::from_millis(10_000);

/// The waiter: one FUTEX_WAIT on [`WORD`] (value 0), with [`LONG_TIMEOUT`] if `timed` is
/// 1; reports its result through [`WAIT_RESULT`] and [`DONE`].
fn waiter(timed: u64) {
    WAITER_TID.store(gettid(), Ordering::SeqCst);
    let timeout = if timed == 1 {
        &raw const LONG_TIMEOUT
    } else {
        core::ptr::null()
    };
    let result = futex_wait_labeled(&WORD, 0, timeout);
    WAIT_RESULT.store(result, Ordering::SeqCst);
    set_and_wake(&DONE);
}

/// One futex test: a waiter (timed or not), the handler with `flags`; the wait's result
/// and the counts of the handler's runs that interrupted it (returning -EINTR) and that
/// found it set up to restart.
fn interrupted_wait(flags: u64, timed: bool, what: &str) -> (i64, u64, u64) {
    install(SIGUSR1, interrupt, flags);
    WORD.store(0, Ordering::SeqCst);
    WAIT_RESULT.store(i64::MIN, Ordering::SeqCst);
    DONE.store(0, Ordering::SeqCst);
    for counter in [&INTERRUPTED, &RESTARTING, &ELSEWHERE, &WRONG_THREAD] {
        counter.store(0, Ordering::SeqCst);
    }
    SEEN_IN_WAIT.store(0, Ordering::SeqCst);
    let thread = thread::spawn(Stack::new(), waiter, u64::from(timed));
    let tid = thread.tid();
    WAITER_TID.store(tid, Ordering::SeqCst);

    // Send until a run finds the thread in its wait (an earlier one may come before it).
    let mut sends = 0;
    while SEEN_IN_WAIT.load(Ordering::SeqCst) == 0 {
        check!(
            sends < SEND_LIMIT,
            "{what}: {SEND_LIMIT} signals and none interrupted the FUTEX_WAIT"
        );
        let result = signal::tgkill(getpid(), tid, SIGUSR1);
        check!(
            result == 0 || (result == -ESRCH && SEEN_IN_WAIT.load(Ordering::SeqCst) != 0),
            "{what}: tgkill(waiter, SIGUSR1) returned {result}"
        );
        sends += 1;
        let _ = futex::wait(&SEEN_IN_WAIT, 0, Some(&POLL));
    }
    if flags & SA_RESTART != 0 && !timed {
        // The wait was restarted: wake it (its word stays 0) until a wake reports it woke
        // the waiter. Before that, the waiter may still run the handler or restart.
        let mut wakes = 0;
        loop {
            check!(
                DONE.load(Ordering::SeqCst) == 0,
                "{what}: the restarted wait returned {} before any wake",
                WAIT_RESULT.load(Ordering::SeqCst)
            );
            let woken = futex::wake(&WORD, 1);
            check!(
                (0..=1).contains(&woken),
                "{what}: FUTEX_WAKE returned {woken}"
            );
            if woken == 1 {
                break;
            }
            wakes += 1;
            check!(
                wakes < SEND_LIMIT,
                "{what}: {SEND_LIMIT} wakes found no waiter"
            );
            let _ = futex::wait(&DONE, 0, Some(&POLL));
        }
    }
    wait_until_set(&DONE, "the waiter's result");
    drop(thread.join());
    check_eq!(
        WRONG_THREAD.load(Ordering::SeqCst),
        0,
        "{what}: handler runs in a thread other than the waiter"
    );
    check_eq!(
        signal::set_disposition(SIGUSR1, SIG_DFL),
        0,
        "SIG_DFL for SIGUSR1"
    );
    (
        WAIT_RESULT.load(Ordering::SeqCst),
        INTERRUPTED.load(Ordering::SeqCst),
        RESTARTING.load(Ordering::SeqCst),
    )
}

fn futex_interruption() {
    set_mask(0);
    let (result, interrupted, restarting) = interrupted_wait(0, false, "no SA_RESTART");
    check_eq!(result, -EINTR, "no SA_RESTART: the FUTEX_WAIT's result");
    check!(
        interrupted >= 1 && restarting == 0,
        "no SA_RESTART: handler runs in the wait: {interrupted} returning -EINTR, {restarting} \
         restarting (expected at least 1 and 0)"
    );

    let (result, interrupted, restarting) = interrupted_wait(SA_RESTART, false, "SA_RESTART");
    check_eq!(
        result,
        0,
        "SA_RESTART: the FUTEX_WAIT's result (restarted, then woken)"
    );
    check!(
        interrupted == 0 && restarting >= 1,
        "SA_RESTART: handler runs in the wait: {interrupted} returning -EINTR, {restarting} \
         restarting (expected 0 and at least 1)"
    );

    let (result, interrupted, restarting) =
        interrupted_wait(SA_RESTART, true, "SA_RESTART, timeout");
    check_eq!(
        result,
        -EINTR,
        "SA_RESTART: the FUTEX_WAIT with a timeout's result (not restarted)"
    );
    check!(
        interrupted >= 1 && restarting == 0,
        "SA_RESTART, timeout: handler runs in the wait: {interrupted} returning -EINTR, {restarting} \
         restarting (expected at least 1 and 0)"
    );
}

fn main(_stack: &InitialStack) {
    set_mask(0);
    thread_directed();
    process_directed();
    futex_interruption();
}
