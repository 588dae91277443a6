//! Signal masks, pending signals, actions and sending, single-threaded, as Linux does them.
//!
//! `rt_sigprocmask`: SIG_BLOCK adds, SIG_UNBLOCK removes, SIG_SETMASK replaces, each
//! returning the previous mask; SIGKILL and SIGSTOP silently leave any mask; an invalid
//! `how` is -EINVAL (and changes nothing) unless the set is NULL (then `how` is not looked
//! at); a sigsetsize other than 8 is -EINVAL; an unreadable set is -EFAULT and changes
//! nothing; an unwritable old set is -EFAULT after the new mask took effect.
//!
//! Pending: a blocked signal stays pending (`rt_sigpending` shows it, its handler does not
//! run); unblocking it runs the handler before `rt_sigprocmask` returns, with the siginfo of
//! the first sending (two sendings of a standard signal to the same queue coalesce: one
//! handler run); a thread-directed (tgkill) and a process-directed (kill) instance are
//! queued separately: two runs, the thread's first. Several pending signals are delivered
//! synchronous ones (SIGTRAP, SIGSEGV) first, then lowest number first (observed with each
//! handler blocking all the others); with handlers that block nothing, Linux sets up all
//! the frames before returning to user mode, so the last one set up (the highest) runs
//! first, each handler seeing the signals set up before it blocked.
//!
//! `rt_sigaction`: SIGKILL and SIGSTOP cannot get an action (-EINVAL; reading it works),
//! signals 0, 65 and -1 are -EINVAL, a sigsetsize other than 8 is -EINVAL; the old action
//! comes back exactly (handler, flags with SA_RESTORER, restorer, mask) less SIGKILL and
//! SIGSTOP in the mask and less unknown flag bits (SA_UNSUPPORTED, bit 32); an unreadable
//! action is -EFAULT (nothing changes), an unwritable old action -EFAULT after the change.
//!
//! Handlers: one runs with its signal and its sa_mask added to the mask (`uc_sigmask` and
//! `sigcontext.oldmask` hold the mask before), which is restored when it returns; a raise
//! of the signal inside its handler stays pending until the handler returns, then runs it
//! again (depth 1), while with SA_NODEFER it nests at once (depth 2). SA_RESETHAND: inside
//! the handler the action reads back as SIG_DFL with flags, restorer and mask kept (and
//! the signal blocked: no implied SA_NODEFER); a second SIGWINCH then takes the default
//! (ignore), and in a child a second SIGUSR1 kills it.
//!
//! Ignoring: a SIG_IGN'd unblocked signal is dropped when sent (nothing runs, nothing stays
//! pending), but a blocked one is queued; setting SIG_IGN (or SIG_DFL for a signal whose
//! default is to ignore) discards a pending one.
//!
//! Sending: kill, tgkill and tkill with signal 0 return 0; kill of a reaped child's PID or
//! of PID INT_MAX is -ESRCH, as are tkill and tgkill of a reaped thread and tgkill with a
//! tgid that is not the thread's; signal 65 or -1 is -EINVAL; tgkill with tgid or tid <= 0
//! and tkill with tid <= 0 are -EINVAL. si_code is SI_USER for kill, SI_TKILL for tgkill
//! and tkill, si_pid the sender's PID, si_signo the signal, si_errno 0.
#![cfg_attr(not(test), no_std, no_main)]

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use topframe_abi_tests::errno::{EFAULT, EINVAL, ESRCH};
use topframe_abi_tests::process::{self, killed_by};
use topframe_abi_tests::signal::SIGWINCH;
use topframe_abi_tests::signal::{
    self, SA_NODEFER, SA_RESETHAND, SA_RESTART, SA_RESTORER, SA_SIGINFO, SI_TKILL, SI_USER,
    SIG_BLOCK, SIG_DFL, SIG_IGN, SIG_SETMASK, SIG_UNBLOCK, SIGHUP, SIGKILL, SIGSEGV, SIGSTOP,
    SIGTERM, SIGTRAP, SIGUSR1, SIGUSR2, SigAction, SigInfo, UContext, bit,
};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, getpid, gettid, nr, syscall4,
};

abi_test_main!(main);

/// A real-time signal (SIGRTMIN + 6 as glibc counts): delivered after the standard ones.
const SIGRT: u32 = 40;
/// `sa_flags` bit that no kernel supports: Linux clears it, so that programs can detect
/// which flags are supported.
const SA_UNSUPPORTED: u64 = 0x400;
/// Addresses no user access may reach: the unmapped page 0 and the kernel half.
const BAD_ADDRESSES: [u64; 2] = [0x8, 0xffff_8000_0000_0000];
/// SIGKILL and SIGSTOP, which leave every mask.
const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// How many handler runs [`record`] keeps details of.
const RECORDS: usize = 16;

/// Handler runs so far.
static RUNS: AtomicU64 = AtomicU64::new(0);
/// Handler runs in progress (nesting depth).
static DEPTH: AtomicU64 = AtomicU64::new(0);
/// Per run (up to [`RECORDS`]): the signal, si_signo, si_errno, si_code, si_pid, the mask
/// while the handler ran, `uc_sigmask`, `sigcontext.oldmask` and the depth at entry.
static SIGNALS: [AtomicU64; RECORDS] = [const { AtomicU64::new(0) }; RECORDS];
static SIGNOS: [AtomicI64; RECORDS] = [const { AtomicI64::new(0) }; RECORDS];
static ERRNOS: [AtomicI64; RECORDS] = [const { AtomicI64::new(0) }; RECORDS];
static CODES: [AtomicI64; RECORDS] = [const { AtomicI64::new(0) }; RECORDS];
static PIDS: [AtomicI64; RECORDS] = [const { AtomicI64::new(0) }; RECORDS];
static MASKS: [AtomicU64; RECORDS] = [const { AtomicU64::new(0) }; RECORDS];
static UC_MASKS: [AtomicU64; RECORDS] = [const { AtomicU64::new(0) }; RECORDS];
static OLD_MASKS: [AtomicU64; RECORDS] = [const { AtomicU64::new(0) }; RECORDS];
static DEPTHS: [AtomicU64; RECORDS] = [const { AtomicU64::new(0) }; RECORDS];
/// The deepest nesting seen.
static MAX_DEPTH: AtomicU64 = AtomicU64::new(0);
/// Set: the next run raises its own signal again (once) and records the pending set right
/// after in [`PENDING_AFTER_RERAISE`].
static RERAISE: AtomicBool = AtomicBool::new(false);
static PENDING_AFTER_RERAISE: AtomicU64 = AtomicU64::new(u64::MAX);
/// Set: the next run reads its signal's action into [`ACTION_IN_HANDLER`].
static READ_ACTION: AtomicBool = AtomicBool::new(false);
static ACTION_IN_HANDLER: [AtomicU64; 4] = [const { AtomicU64::new(u64::MAX) }; 4];

/// The handler of every test: records the run (see the statics), optionally raises its
/// signal again or reads its action.
extern "C" fn record(signal: u32, info: &mut SigInfo, context: &mut UContext) {
    let depth = DEPTH.fetch_add(1, Ordering::SeqCst) + 1;
    MAX_DEPTH.fetch_max(depth, Ordering::SeqCst);
    let run = RUNS.fetch_add(1, Ordering::SeqCst) as usize;
    if run < RECORDS {
        SIGNALS[run].store(u64::from(signal), Ordering::SeqCst);
        SIGNOS[run].store(i64::from(info.signo), Ordering::SeqCst);
        ERRNOS[run].store(i64::from(info.errno), Ordering::SeqCst);
        CODES[run].store(i64::from(info.code), Ordering::SeqCst);
        PIDS[run].store(i64::from(info.pid()), Ordering::SeqCst);
        MASKS[run].store(signal::mask(), Ordering::SeqCst);
        UC_MASKS[run].store(context.sigmask, Ordering::SeqCst);
        OLD_MASKS[run].store(context.mcontext.oldmask, Ordering::SeqCst);
        DEPTHS[run].store(depth, Ordering::SeqCst);
    }
    if READ_ACTION.swap(false, Ordering::SeqCst) {
        let (result, action) = signal::sigaction(signal, None);
        if result != 0 {
            fail!("rt_sigaction({signal}, NULL, &old) in its handler returned {result}");
        }
        for (slot, value) in ACTION_IN_HANDLER.iter().zip([
            action.handler,
            action.flags,
            action.restorer,
            action.mask,
        ]) {
            slot.store(value, Ordering::SeqCst);
        }
    }
    if RERAISE.swap(false, Ordering::SeqCst) {
        let result = signal::raise(signal);
        if result != 0 {
            fail!("raise({signal}) in its handler returned {result}");
        }
        let pending = signal::pending().unwrap_or_else(|error| {
            fail!("rt_sigpending in a handler returned {error}");
        });
        PENDING_AFTER_RERAISE.store(pending, Ordering::SeqCst);
    }
    DEPTH.fetch_sub(1, Ordering::SeqCst);
}

/// Forgets every recorded run.
fn reset_records() {
    RUNS.store(0, Ordering::SeqCst);
    MAX_DEPTH.store(0, Ordering::SeqCst);
    PENDING_AFTER_RERAISE.store(u64::MAX, Ordering::SeqCst);
}

fn runs() -> u64 {
    RUNS.load(Ordering::SeqCst)
}

/// What run `run` recorded: (signal, si_code, si_pid).
fn recorded(run: usize) -> (u64, i64, i64) {
    (
        SIGNALS[run].load(Ordering::SeqCst),
        CODES[run].load(Ordering::SeqCst),
        PIDS[run].load(Ordering::SeqCst),
    )
}

/// Checks run `run`'s siginfo: `signal`, si_errno 0, `code`, si_pid = this process.
fn check_info(run: usize, signal: u32, code: i32, what: &str) {
    check_eq!(
        recorded(run),
        (u64::from(signal), i64::from(code), getpid()),
        "{what}: run {run}'s (signal, si_code, si_pid)"
    );
    check_eq!(
        SIGNOS[run].load(Ordering::SeqCst),
        i64::from(signal),
        "{what}: run {run}'s si_signo"
    );
    check_eq!(
        ERRNOS[run].load(Ordering::SeqCst),
        0,
        "{what}: run {run}'s si_errno"
    );
}

/// The raw `rt_sigprocmask(how, set, oldset, size)`.
fn sigprocmask_raw(how: u64, set: u64, oldset: u64, size: u64) -> i64 {
    // SAFETY: the kernel reads 8 bytes at `set` and writes 8 at `oldset` (callers pass
    // locals, NULL or unmapped / kernel addresses it must refuse).
    unsafe { syscall4(nr::RT_SIGPROCMASK, how, set, oldset, size) }
}

/// The raw `rt_sigaction(signal, act, oldact, size)`.
fn sigaction_raw(signal: u64, act: u64, oldact: u64, size: u64) -> i64 {
    // SAFETY: the kernel reads 32 bytes at `act` and writes 32 at `oldact` (locals, NULL
    // or addresses it must refuse); a handler in `act` is `record`, SIG_DFL or SIG_IGN.
    unsafe { syscall4(nr::RT_SIGACTION, signal, act, oldact, size) }
}

/// Sets the mask to `mask`; fails the program if that fails.
fn set_mask(mask: u64) {
    let (result, _) = signal::procmask(SIG_SETMASK, Some(mask));
    check_eq!(result, 0, "rt_sigprocmask(SIG_SETMASK, {mask:#x})");
}

/// Installs [`record`] for `signal` with `flags` and `mask`.
fn install_record(signal: u32, flags: u64, mask: u64) {
    let result = signal::install(signal, record, flags, mask);
    check_eq!(result, 0, "rt_sigaction({signal}, record)");
}

/// Sets `signal`'s action to SIG_DFL or SIG_IGN.
fn set_disposition(signal: u32, handler: u64) {
    let result = signal::set_disposition(signal, handler);
    check_eq!(result, 0, "rt_sigaction({signal}, {handler})");
}

fn pending() -> u64 {
    signal::pending().unwrap_or_else(|error| fail!("rt_sigpending returned {error}"))
}

fn raise(signal: u32) {
    check_eq!(signal::raise(signal), 0, "raise({signal})");
}

fn kill_self(signal: u32) {
    check_eq!(
        signal::kill(getpid(), signal),
        0,
        "kill(getpid(), {signal})"
    );
}

fn procmask_semantics() {
    set_mask(0);
    let (result, old) = signal::procmask(SIG_BLOCK, Some(bit(SIGUSR1)));
    check_eq!((result, old), (0, 0), "SIG_BLOCK {{USR1}}: (result, old)");
    check_eq!(signal::mask(), bit(SIGUSR1), "the mask after SIG_BLOCK");

    let (result, old) = signal::procmask(SIG_BLOCK, Some(bit(SIGUSR2) | UNBLOCKABLE));
    check_eq!(
        (result, old),
        (0, bit(SIGUSR1)),
        "SIG_BLOCK {{USR2, KILL, STOP}}: (result, old)"
    );
    check_eq!(
        signal::mask(),
        bit(SIGUSR1) | bit(SIGUSR2),
        "the mask after SIG_BLOCK of USR2, KILL and STOP (KILL and STOP dropped)"
    );

    let (result, old) = signal::procmask(SIG_UNBLOCK, Some(bit(SIGUSR1) | bit(SIGTERM)));
    check_eq!(
        (result, old),
        (0, bit(SIGUSR1) | bit(SIGUSR2)),
        "SIG_UNBLOCK {{USR1, TERM}}: (result, old)"
    );
    check_eq!(signal::mask(), bit(SIGUSR2), "the mask after SIG_UNBLOCK");

    let (result, old) = signal::procmask(SIG_SETMASK, Some(bit(SIGTERM)));
    check_eq!(
        (result, old),
        (0, bit(SIGUSR2)),
        "SIG_SETMASK {{TERM}}: (result, old)"
    );
    check_eq!(signal::mask(), bit(SIGTERM), "the mask after SIG_SETMASK");

    let (result, old) = signal::procmask(SIG_SETMASK, Some(u64::MAX));
    check_eq!(
        (result, old),
        (0, bit(SIGTERM)),
        "SIG_SETMASK of all: (result, old)"
    );
    check_eq!(
        signal::mask(),
        !UNBLOCKABLE,
        "the mask after SIG_SETMASK of all 64 (KILL and STOP dropped)"
    );
    let (result, old) = signal::procmask(SIG_UNBLOCK, Some(u64::MAX));
    check_eq!(
        (result, old),
        (0, !UNBLOCKABLE),
        "SIG_UNBLOCK of all: (result, old)"
    );
    check_eq!(signal::mask(), 0, "the mask after SIG_UNBLOCK of all");

    set_mask(bit(SIGHUP));
    let set = bit(SIGUSR1);
    let mut old = 0xdead_u64;
    for how in [3, 4, u64::from(u32::MAX), u64::MAX] {
        let result = sigprocmask_raw(how, &raw const set as u64, &raw mut old as u64, 8);
        check_eq!(result, -EINVAL, "rt_sigprocmask(how {how:#x}, set)");
        check_eq!(
            signal::mask(),
            bit(SIGHUP),
            "the mask after rt_sigprocmask(how {how:#x})"
        );
        old = 0xdead;
        let result = sigprocmask_raw(how, 0, &raw mut old as u64, 8);
        check_eq!(
            (result, old),
            (0, bit(SIGHUP)),
            "rt_sigprocmask(how {how:#x}, NULL, &old): (result, old) (how is not looked at)"
        );
    }
    for size in [0, 4, 7, 9, 16, 128] {
        old = 0xdead;
        let result = sigprocmask_raw(SIG_BLOCK, &raw const set as u64, &raw mut old as u64, size);
        check_eq!(
            (result, old),
            (-EINVAL, 0xdead),
            "rt_sigprocmask(SIG_BLOCK, set, &old, {size}): (result, old)"
        );
        let result = sigprocmask_raw(SIG_BLOCK, 0, &raw mut old as u64, size);
        check_eq!(
            result,
            -EINVAL,
            "rt_sigprocmask(SIG_BLOCK, NULL, &old, {size})"
        );
        check_eq!(
            signal::mask(),
            bit(SIGHUP),
            "the mask after sigsetsize {size}"
        );
    }
    for bad in BAD_ADDRESSES {
        old = 0xdead;
        let result = sigprocmask_raw(SIG_SETMASK, bad, &raw mut old as u64, 8);
        check_eq!(
            (result, old),
            (-EFAULT, 0xdead),
            "rt_sigprocmask(SIG_SETMASK, {bad:#x}, &old): (result, old)"
        );
        check_eq!(
            signal::mask(),
            bit(SIGHUP),
            "the mask after an unreadable set"
        );
        let result = sigprocmask_raw(SIG_BLOCK, &raw const set as u64, bad, 8);
        check_eq!(
            result,
            -EFAULT,
            "rt_sigprocmask(SIG_BLOCK, {{USR1}}, {bad:#x})"
        );
        check_eq!(
            signal::mask(),
            bit(SIGHUP) | bit(SIGUSR1),
            "the mask after SIG_BLOCK with an unwritable old set (applied before the write)"
        );
        set_mask(bit(SIGHUP));
    }
    check_eq!(
        sigprocmask_raw(SIG_BLOCK, 0, 0, 8),
        0,
        "rt_sigprocmask(SIG_BLOCK, NULL, NULL)"
    );
    set_mask(0);
}

fn pending_and_unblock() {
    install_record(SIGUSR1, 0, 0);
    reset_records();
    set_mask(bit(SIGUSR1));
    check_eq!(pending(), 0, "pending before any raise");
    raise(SIGUSR1);
    check_eq!(runs(), 0, "handler runs while SIGUSR1 is blocked");
    check_eq!(pending(), bit(SIGUSR1), "pending after a blocked raise");
    raise(SIGUSR1);
    check_eq!(
        signal::tkill(gettid(), SIGUSR1),
        0,
        "tkill(gettid(), SIGUSR1)"
    );
    check_eq!(
        pending(),
        bit(SIGUSR1),
        "pending after three thread-directed sendings"
    );
    check_eq!(runs(), 0, "handler runs while SIGUSR1 is blocked");
    let (result, old) = signal::procmask(SIG_UNBLOCK, Some(bit(SIGUSR1)));
    check_eq!((result, old), (0, bit(SIGUSR1)), "SIG_UNBLOCK {{USR1}}");
    check_eq!(
        runs(),
        1,
        "handler runs when rt_sigprocmask returns (three coalesced sendings)"
    );
    check_info(0, SIGUSR1, SI_TKILL, "coalesced tgkill");
    check_eq!(
        MASKS[0].load(Ordering::SeqCst),
        bit(SIGUSR1),
        "the mask in the handler"
    );
    check_eq!(pending(), 0, "pending after the delivery");

    reset_records();
    set_mask(bit(SIGUSR1));
    kill_self(SIGUSR1);
    kill_self(SIGUSR1);
    check_eq!(pending(), bit(SIGUSR1), "pending after two blocked kills");
    check_eq!(runs(), 0, "handler runs while SIGUSR1 is blocked");
    set_mask(0);
    check_eq!(
        runs(),
        1,
        "handler runs after unblocking two coalesced kills"
    );
    check_info(0, SIGUSR1, SI_USER, "coalesced kill");

    // One pending in the thread's queue, one in the process's: both are delivered, the
    // thread's first.
    reset_records();
    set_mask(bit(SIGUSR1));
    kill_self(SIGUSR1);
    raise(SIGUSR1);
    check_eq!(pending(), bit(SIGUSR1), "pending after kill and tgkill");
    set_mask(0);
    check_eq!(
        runs(),
        2,
        "handler runs after unblocking a process-directed and a thread-directed SIGUSR1"
    );
    check_info(0, SIGUSR1, SI_TKILL, "the thread-directed instance");
    check_info(1, SIGUSR1, SI_USER, "the process-directed instance");
    check_eq!(pending(), 0, "pending after both deliveries");
    set_disposition(SIGUSR1, SIG_DFL);
}

/// The signals of the ordering tests, and the order Linux delivers them in: synchronous
/// ones (SIGTRAP, SIGSEGV) first, then lowest number first.
const ORDER_RAISED: [u32; 7] = [SIGRT, SIGTERM, SIGUSR1, SIGHUP, SIGSEGV, SIGUSR2, SIGTRAP];
const ORDER_DELIVERED: [u32; 7] = [SIGTRAP, SIGSEGV, SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGRT];

fn delivery_order() {
    let all = ORDER_RAISED
        .iter()
        .fold(0, |set, &signal| set | bit(signal));

    // Each handler blocks the others: one delivery per return to user mode, in order.
    for &signal in &ORDER_RAISED {
        install_record(signal, 0, all);
    }
    reset_records();
    set_mask(all);
    for &signal in &ORDER_RAISED {
        raise(signal);
    }
    check_eq!(pending(), all, "pending after raising the ordering signals");
    check_eq!(runs(), 0, "handler runs while they are blocked");
    set_mask(0);
    check_eq!(
        runs(),
        ORDER_DELIVERED.len() as u64,
        "handler runs when SIG_SETMASK 0 returns"
    );
    for (run, &signal) in ORDER_DELIVERED.iter().enumerate() {
        check_info(run, signal, SI_TKILL, "ordered delivery");
        check_eq!(
            MASKS[run].load(Ordering::SeqCst),
            all,
            "the mask in handler run {run} (signal {signal}, sa_mask = all of them)"
        );
        check_eq!(
            UC_MASKS[run].load(Ordering::SeqCst),
            0,
            "uc_sigmask of handler run {run}"
        );
        check_eq!(
            DEPTHS[run].load(Ordering::SeqCst),
            1,
            "nesting depth of handler run {run}"
        );
    }
    check_eq!(signal::mask(), 0, "the mask after the deliveries");

    // No handler blocks the others: Linux sets up one frame after the other before
    // returning to user mode; the last one set up runs first.
    for &signal in &ORDER_RAISED {
        install_record(signal, 0, 0);
    }
    reset_records();
    set_mask(all);
    for &signal in &ORDER_RAISED {
        raise(signal);
    }
    set_mask(0);
    check_eq!(
        runs(),
        ORDER_DELIVERED.len() as u64,
        "handler runs when SIG_SETMASK 0 returns (handlers block nothing)"
    );
    for run in 0..ORDER_DELIVERED.len() {
        // Set up as the `setup`th: the signals set up before it and itself are blocked.
        let setup = ORDER_DELIVERED.len() - 1 - run;
        let signal = ORDER_DELIVERED[setup];
        let before = ORDER_DELIVERED[..setup]
            .iter()
            .fold(0, |set, &signal| set | bit(signal));
        check_info(run, signal, SI_TKILL, "stacked delivery");
        check_eq!(
            MASKS[run].load(Ordering::SeqCst),
            before | bit(signal),
            "the mask in handler run {run} (signal {signal}, frame set up {setup}th)"
        );
        check_eq!(
            UC_MASKS[run].load(Ordering::SeqCst),
            before,
            "uc_sigmask of handler run {run} (signal {signal})"
        );
    }
    check_eq!(signal::mask(), 0, "the mask after the stacked deliveries");

    // A thread-directed signal is taken before a process-directed one of a lower number.
    install_record(SIGHUP, 0, bit(SIGTERM));
    install_record(SIGTERM, 0, bit(SIGHUP));
    reset_records();
    set_mask(bit(SIGHUP) | bit(SIGTERM));
    kill_self(SIGHUP);
    raise(SIGTERM);
    set_mask(0);
    check_eq!(
        runs(),
        2,
        "handler runs for a killed SIGHUP and a raised SIGTERM"
    );
    check_info(0, SIGTERM, SI_TKILL, "the thread-directed SIGTERM first");
    check_info(1, SIGHUP, SI_USER, "the process-directed SIGHUP second");

    for signal in ORDER_RAISED {
        set_disposition(signal, SIG_DFL);
    }
}

fn action_of(signal: u32) -> SigAction {
    let (result, action) = signal::sigaction(signal, None);
    check_eq!(result, 0, "rt_sigaction({signal}, NULL, &old)");
    action
}

fn sigaction_semantics() {
    let handler = SigAction {
        handler: record as *const () as u64,
        flags: SA_SIGINFO | SA_RESTORER,
        restorer: signal::restorer as *const () as u64,
        mask: 0,
    };
    for signal in [SIGKILL, SIGSTOP] {
        for (what, address) in [
            ("SIG_DFL", SIG_DFL),
            ("SIG_IGN", SIG_IGN),
            ("a handler", handler.handler),
        ] {
            let action = SigAction {
                handler: address,
                ..handler
            };
            let (result, _) = signal::sigaction(signal, Some(&action));
            check_eq!(result, -EINVAL, "rt_sigaction({signal}, {what})");
        }
        check_eq!(
            action_of(signal),
            SigAction::default(),
            "the action of {signal} (read with act NULL)"
        );
    }
    for signal in [0, 65, 128, u64::from(u32::MAX)] {
        let mut old = SigAction::default();
        let result = sigaction_raw(signal, &raw const handler as u64, &raw mut old as u64, 8);
        check_eq!(result, -EINVAL, "rt_sigaction({signal}, handler)");
        let result = sigaction_raw(signal, 0, &raw mut old as u64, 8);
        check_eq!(result, -EINVAL, "rt_sigaction({signal}, NULL, &old)");
    }
    check_eq!(
        action_of(64),
        SigAction::default(),
        "the action of signal 64"
    );

    // The old action comes back exactly; KILL and STOP leave the mask, unknown flags go.
    let known_flags = SA_SIGINFO | SA_RESTORER | SA_RESTART | SA_NODEFER | SA_RESETHAND;
    let first = SigAction {
        flags: known_flags | SA_UNSUPPORTED | 1 << 32,
        mask: bit(SIGUSR2) | bit(SIGTERM) | UNBLOCKABLE | bit(64),
        ..handler
    };
    set_disposition(SIGUSR1, SIG_DFL);
    let (result, old) = signal::sigaction(SIGUSR1, Some(&first));
    check_eq!(
        (result, old),
        (0, SigAction::default()),
        "rt_sigaction(SIGUSR1, first): (result, old)"
    );
    let stored = SigAction {
        flags: known_flags,
        mask: bit(SIGUSR2) | bit(SIGTERM) | bit(64),
        ..first
    };
    check_eq!(
        action_of(SIGUSR1),
        stored,
        "the action read back (no KILL/STOP in the mask, no unknown flags)"
    );
    let second = SigAction {
        handler: SIG_IGN,
        flags: SA_RESTORER | SA_RESTART,
        restorer: 0x1234_5678,
        mask: bit(SIGHUP),
    };
    let (result, old) = signal::sigaction(SIGUSR1, Some(&second));
    check_eq!(
        (result, old),
        (0, stored),
        "rt_sigaction(SIGUSR1, second): (result, old)"
    );
    check_eq!(action_of(SIGUSR1), second, "the second action read back");

    for size in [0, 4, 16] {
        let mut old = SigAction::default();
        let result = sigaction_raw(
            u64::from(SIGUSR1),
            &raw const first as u64,
            &raw mut old as u64,
            size,
        );
        check_eq!(
            (result, old),
            (-EINVAL, SigAction::default()),
            "rt_sigaction(SIGUSR1, first, &old, {size})"
        );
        check_eq!(
            action_of(SIGUSR1),
            second,
            "the action after sigsetsize {size}"
        );
    }
    for bad in BAD_ADDRESSES {
        let mut old = SigAction::default();
        let result = sigaction_raw(u64::from(SIGUSR1), bad, &raw mut old as u64, 8);
        check_eq!(
            (result, old),
            (-EFAULT, SigAction::default()),
            "rt_sigaction(SIGUSR1, {bad:#x}, &old)"
        );
        check_eq!(
            action_of(SIGUSR1),
            second,
            "the action after an unreadable act"
        );
        let result = sigaction_raw(u64::from(SIGUSR1), &raw const first as u64, bad, 8);
        check_eq!(result, -EFAULT, "rt_sigaction(SIGUSR1, first, {bad:#x})");
        check_eq!(
            action_of(SIGUSR1),
            stored,
            "the action after an unwritable oldact (set before the write)"
        );
        check_eq!(
            signal::sigaction(SIGUSR1, Some(&second)).0,
            0,
            "rt_sigaction(SIGUSR1, second)"
        );
    }
    set_disposition(SIGUSR1, SIG_DFL);
}

fn handler_masks() {
    install_record(SIGUSR1, 0, bit(SIGUSR2) | bit(SIGTERM));
    reset_records();
    set_mask(bit(SIGHUP));
    raise(SIGUSR1);
    check_eq!(runs(), 1, "handler runs after raise");
    check_info(0, SIGUSR1, SI_TKILL, "raise");
    check_eq!(
        MASKS[0].load(Ordering::SeqCst),
        bit(SIGHUP) | bit(SIGUSR1) | bit(SIGUSR2) | bit(SIGTERM),
        "the mask in the handler (old mask, the signal, sa_mask)"
    );
    check_eq!(
        UC_MASKS[0].load(Ordering::SeqCst),
        bit(SIGHUP),
        "uc_sigmask"
    );
    check_eq!(
        OLD_MASKS[0].load(Ordering::SeqCst),
        bit(SIGHUP),
        "sigcontext.oldmask"
    );
    check_eq!(signal::mask(), bit(SIGHUP), "the mask after the handler");

    // A raise inside the handler waits until the handler returns.
    reset_records();
    RERAISE.store(true, Ordering::SeqCst);
    raise(SIGUSR1);
    check_eq!(runs(), 2, "handler runs after a raise inside the handler");
    check_eq!(
        PENDING_AFTER_RERAISE.load(Ordering::SeqCst),
        bit(SIGUSR1),
        "pending right after the raise inside the handler"
    );
    check_eq!(MAX_DEPTH.load(Ordering::SeqCst), 1, "nesting depth");
    check_info(1, SIGUSR1, SI_TKILL, "the raise inside the handler");
    check_eq!(
        UC_MASKS[1].load(Ordering::SeqCst),
        bit(SIGHUP),
        "uc_sigmask of the second run (delivered after the first returned)"
    );
    check_eq!(pending(), 0, "pending after both runs");

    // SA_NODEFER: it nests.
    install_record(SIGUSR1, SA_NODEFER, bit(SIGUSR2));
    reset_records();
    RERAISE.store(true, Ordering::SeqCst);
    raise(SIGUSR1);
    check_eq!(runs(), 2, "SA_NODEFER: handler runs");
    check_eq!(
        MAX_DEPTH.load(Ordering::SeqCst),
        2,
        "SA_NODEFER: nesting depth"
    );
    check_eq!(
        (
            DEPTHS[0].load(Ordering::SeqCst),
            DEPTHS[1].load(Ordering::SeqCst)
        ),
        (1, 2),
        "SA_NODEFER: the runs' depths"
    );
    check_eq!(
        PENDING_AFTER_RERAISE.load(Ordering::SeqCst),
        0,
        "SA_NODEFER: pending right after the raise inside the handler"
    );
    check_eq!(
        MASKS[0].load(Ordering::SeqCst),
        bit(SIGHUP) | bit(SIGUSR2),
        "SA_NODEFER: the mask in the outer handler"
    );
    check_eq!(
        UC_MASKS[1].load(Ordering::SeqCst),
        bit(SIGHUP) | bit(SIGUSR2),
        "SA_NODEFER: uc_sigmask of the nested run (the outer handler's mask)"
    );
    check_eq!(signal::mask(), bit(SIGHUP), "SA_NODEFER: the mask after");
    set_mask(0);
    set_disposition(SIGUSR1, SIG_DFL);

    // SA_RESETHAND, with a signal whose default is to ignore it.
    install_record(SIGWINCH, SA_RESETHAND, bit(SIGUSR2));
    reset_records();
    READ_ACTION.store(true, Ordering::SeqCst);
    raise(SIGWINCH);
    check_eq!(runs(), 1, "SA_RESETHAND: handler runs");
    let in_handler = ACTION_IN_HANDLER
        .each_ref()
        .map(|value| value.load(Ordering::SeqCst));
    check_eq!(
        in_handler,
        [
            SIG_DFL,
            SA_SIGINFO | SA_RESTORER | SA_RESETHAND,
            signal::restorer as *const () as u64,
            bit(SIGUSR2),
        ],
        "SA_RESETHAND: the action in the handler (handler, flags, restorer, mask)"
    );
    check_eq!(
        MASKS[0].load(Ordering::SeqCst),
        bit(SIGWINCH) | bit(SIGUSR2),
        "SA_RESETHAND: the mask in the handler (the signal blocked)"
    );
    raise(SIGWINCH);
    check_eq!(runs(), 1, "SA_RESETHAND: handler runs after a second raise");
    set_mask(bit(SIGWINCH));
    check_eq!(pending(), 0, "SA_RESETHAND: pending after the second raise");
    set_mask(0);
    set_disposition(SIGWINCH, SIG_DFL);

    // SA_RESETHAND with SIGUSR1, in a child: the second raise kills it.
    let child = process::fork();
    if child == 0 {
        install_record(SIGUSR1, SA_RESETHAND, 0);
        reset_records();
        raise(SIGUSR1);
        check_eq!(runs(), 1, "child: SA_RESETHAND: handler runs");
        let _ = signal::raise(SIGUSR1);
        fail!("child: survived a second SIGUSR1 after SA_RESETHAND");
    }
    check!(child > 0, "fork returned {child}");
    let (result, status) = process::wait4(child, 0);
    check_eq!(result, child, "wait4(child)");
    check_eq!(
        killed_by(status),
        Some(SIGUSR1 as u8),
        "the SA_RESETHAND child's end (wait status {status:#x})"
    );
}

fn ignoring() {
    set_mask(0);
    set_disposition(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    kill_self(SIGUSR1);
    set_mask(bit(SIGUSR1));
    check_eq!(
        pending(),
        0,
        "pending after sending an ignored SIGUSR1 (dropped when sent)"
    );
    install_record(SIGUSR1, 0, 0);
    reset_records();
    set_mask(0);
    check_eq!(runs(), 0, "handler runs for SIGUSR1s sent while ignored");

    // Blocked and ignored: queued (the action may change before it is unblocked)...
    set_disposition(SIGUSR1, SIG_IGN);
    set_mask(bit(SIGUSR1));
    raise(SIGUSR1);
    kill_self(SIGUSR1);
    check_eq!(
        pending(),
        bit(SIGUSR1),
        "pending after sending an ignored but blocked SIGUSR1"
    );
    // ...until SIG_IGN is set (again): that discards it.
    set_disposition(SIGUSR1, SIG_IGN);
    check_eq!(pending(), 0, "pending after setting SIG_IGN again");

    // A pending signal with a handler is discarded by SIG_IGN.
    install_record(SIGUSR1, 0, 0);
    raise(SIGUSR1);
    kill_self(SIGUSR1);
    check_eq!(pending(), bit(SIGUSR1), "pending SIGUSR1 with a handler");
    set_disposition(SIGUSR1, SIG_IGN);
    check_eq!(pending(), 0, "pending after SIG_IGN on a pending SIGUSR1");
    install_record(SIGUSR1, 0, 0);
    reset_records();
    set_mask(0);
    check_eq!(
        runs(),
        0,
        "handler runs after the discarded SIGUSR1 was unblocked"
    );

    // SIG_DFL discards a pending signal whose default is to ignore it.
    install_record(SIGWINCH, 0, 0);
    set_mask(bit(SIGWINCH));
    raise(SIGWINCH);
    kill_self(SIGWINCH);
    check_eq!(pending(), bit(SIGWINCH), "pending SIGWINCH with a handler");
    set_disposition(SIGWINCH, SIG_DFL);
    check_eq!(
        pending(),
        0,
        "pending after SIG_DFL on a pending SIGWINCH (default: ignore)"
    );
    set_mask(0);
    check_eq!(runs(), 0, "handler runs for the discarded SIGWINCH");
    set_disposition(SIGUSR1, SIG_DFL);
}

fn sending() {
    let me = getpid();
    let thread = gettid();
    check_eq!(signal::kill(me, 0), 0, "kill(getpid(), 0)");
    check_eq!(
        signal::tgkill(me, thread, 0),
        0,
        "tgkill(getpid(), gettid(), 0)"
    );
    check_eq!(signal::tkill(thread, 0), 0, "tkill(gettid(), 0)");

    // A PID that no process has any more: a reaped child's.
    let child = process::fork();
    if child == 0 {
        exit_group(0);
    }
    check!(child > 0, "fork returned {child}");
    let (result, status) = process::wait4(child, 0);
    check_eq!(
        (result, process::exit_status(status)),
        (child, Some(0)),
        "wait4(child): (result, exit status)"
    );
    install_record(SIGUSR1, 0, 0);
    reset_records();
    for signal in [0, SIGUSR1] {
        check_eq!(
            signal::kill(child, signal),
            -ESRCH,
            "kill(reaped child, {signal})"
        );
        check_eq!(
            signal::kill(i64::from(i32::MAX), signal),
            -ESRCH,
            "kill(INT_MAX, {signal})"
        );
        check_eq!(
            signal::tkill(child, signal),
            -ESRCH,
            "tkill(reaped child, {signal})"
        );
        check_eq!(
            signal::tgkill(child, child, signal),
            -ESRCH,
            "tgkill(reaped child, reaped child, {signal})"
        );
        check_eq!(
            signal::tgkill(me, child, signal),
            -ESRCH,
            "tgkill(getpid(), reaped child, {signal})"
        );
        check_eq!(
            signal::tgkill(child, thread, signal),
            -ESRCH,
            "tgkill(wrong tgid, gettid(), {signal})"
        );
    }
    for tgid in [0, -1] {
        check_eq!(
            signal::tgkill(tgid, thread, SIGUSR1),
            -EINVAL,
            "tgkill({tgid}, gettid(), SIGUSR1)"
        );
        check_eq!(
            signal::tgkill(me, tgid, SIGUSR1),
            -EINVAL,
            "tgkill(getpid(), {tgid}, SIGUSR1)"
        );
        check_eq!(
            signal::tkill(tgid, SIGUSR1),
            -EINVAL,
            "tkill({tgid}, SIGUSR1)"
        );
    }
    for signal in [65, 128, u32::MAX] {
        check_eq!(
            signal::tgkill(me, thread, signal),
            -EINVAL,
            "tgkill(getpid(), gettid(), {signal})"
        );
        check_eq!(
            signal::tkill(thread, signal),
            -EINVAL,
            "tkill(gettid(), {signal})"
        );
        check_eq!(
            signal::kill(me, signal),
            -EINVAL,
            "kill(getpid(), {signal})"
        );
    }
    check_eq!(runs(), 0, "handler runs after the failed sendings");

    // si_code and si_pid of each way of sending.
    kill_self(SIGUSR1);
    check_eq!(runs(), 1, "handler runs after kill(getpid(), SIGUSR1)");
    check_info(0, SIGUSR1, SI_USER, "kill");
    raise(SIGUSR1);
    check_eq!(runs(), 2, "handler runs after tgkill");
    check_info(1, SIGUSR1, SI_TKILL, "tgkill");
    check_eq!(
        signal::tkill(thread, SIGUSR1),
        0,
        "tkill(gettid(), SIGUSR1)"
    );
    check_eq!(runs(), 3, "handler runs after tkill");
    check_info(2, SIGUSR1, SI_TKILL, "tkill");
    set_disposition(SIGUSR1, SIG_DFL);
}

fn main(_stack: &InitialStack) {
    procmask_semantics();
    pending_and_unblock();
    delivery_order();
    sigaction_semantics();
    handler_masks();
    ignoring();
    sending();
    check_eq!(signal::mask(), 0, "the mask at the end");
    check_eq!(pending(), 0, "pending at the end");
}
