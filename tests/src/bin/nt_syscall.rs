//! The nested-task flag (NT, RFLAGS bit 14) set by user code across system calls, as
//! Linux handles it (compare Linux's selftest `syscall_nt.c`). Each case sets flags with
//! `popfq`, reads RFLAGS back (`before`), makes the syscall, and reads RFLAGS right after:
//! - getppid and sched_yield with NT, and with NT|DF|AC: the process survives, the result
//!   is right, RFLAGS after = `before` and R11 = `before` (nothing cleared).
//! - getppid with NT|TF: the single-step SIGTRAP after the next instruction (a `pushfq`,
//!   which stores `before`) has `before` as its ucontext RFLAGS; the handler clears TF, and
//!   after its rt_sigreturn RFLAGS = `before` without TF (NT kept).
//! - tgkill(self, SIGUSR1) with NT|DF, a SIGUSR1 handler installed: the handler's ucontext
//!   RFLAGS = `before`; the handler itself runs with NT still set (Linux clears only DF,
//!   RF and TF for it) and DF clear; after rt_sigreturn RFLAGS = `before`.
//! - The same, the handler clearing NT in its ucontext RFLAGS: NT is still set afterwards;
//!   and without NT, the handler setting NT there: NT is still clear afterwards.
//!   rt_sigreturn takes only the arithmetic flags, DF, TF, AC and RF from the frame; NT
//!   comes from the RFLAGS of the `syscall` that made rt_sigreturn (the handler's).
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::registers::rflags::AC;
use topframe_abi_tests::registers::rflags::{DF, NT, TF};
use topframe_abi_tests::signal::{self, SIGTRAP, SIGUSR1, SigInfo, UContext};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, getpid, getppid, gettid, nr,
};

abi_test_main!(main);

/// Signals handled so far (both handlers).
static SIGNALS: AtomicU64 = AtomicU64::new(0);
/// The ucontext RFLAGS the last handler saw, and the SIGUSR1 handler's own RFLAGS.
static CONTEXT_RFLAGS: AtomicU64 = AtomicU64::new(0);
static OWN_RFLAGS: AtomicU64 = AtomicU64::new(0);
/// What the SIGUSR1 handler does to NT in its ucontext RFLAGS.
static NT_EDIT: AtomicU64 = AtomicU64::new(KEEP);
const KEEP: u64 = 0;
const CLEAR: u64 = 1;
const SET: u64 = 2;

extern "C" fn on_trap(_signal: u32, _info: &mut SigInfo, context: &mut UContext) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
    CONTEXT_RFLAGS.store(context.mcontext.eflags, Ordering::Relaxed);
    context.mcontext.eflags &= !TF;
}

extern "C" fn on_usr1(_signal: u32, _info: &mut SigInfo, context: &mut UContext) {
    let own: u64;
    // SAFETY: reads RFLAGS through the stack; touches nothing else.
    unsafe {
        asm!(
            "pushfq",    // push RFLAGS
            "pop {own}", // own = RFLAGS
            own = out(reg) own,
        );
    }
    OWN_RFLAGS.store(own, Ordering::Relaxed);
    SIGNALS.fetch_add(1, Ordering::Relaxed);
    CONTEXT_RFLAGS.store(context.mcontext.eflags, Ordering::Relaxed);
    match NT_EDIT.load(Ordering::Relaxed) {
        CLEAR => context.mcontext.eflags &= !NT,
        SET => context.mcontext.eflags |= NT,
        _ => {}
    }
}

/// RFLAGS around one syscall.
#[derive(Debug)]
struct Around {
    result: i64,
    /// Right before the `syscall`, as the CPU accepted the added flags.
    before: u64,
    /// Right after it.
    after: u64,
    /// R11 right after it.
    r11: u64,
}

/// Syscall `number` (arguments 1-3) with `set_flags` (not TF) ORed into RFLAGS; RFLAGS
/// is restored afterwards.
///
/// # Safety
/// As for the syscall.
unsafe fn with_flags(number: u64, arguments: [u64; 3], set_flags: u64) -> Around {
    let (result, before, after, r11);
    // SAFETY: the syscall is the caller's. Between the two `popfq` only register and
    // aligned stack accesses run (AC may be set); the original RFLAGS (DF clear) comes
    // back at the end; RAX, RCX and R11 are declared.
    unsafe {
        asm!(
            "pushfq",                          // push RFLAGS...
            "pop {saved}",                     // ...into saved
            "push {saved}",                    // push it again...
            "or qword ptr [rsp], {set_flags}", // ...with the flags added...
            "popfq",                           // ...and load it
            "pushfq",                          // read RFLAGS back...
            "pop {before}",                    // ...into before
            "syscall",                         // the syscall
            "pushfq",                          // read RFLAGS after it...
            "pop {after}",                     // ...into after
            "push {saved}",                    // restore the original RFLAGS...
            "popfq",                           // ...(DF and AC clear)
            set_flags = in(reg) set_flags,
            saved = out(reg) _,
            before = out(reg) before,
            after = out(reg) after,
            inlateout("rax") number => result,
            in("rdi") arguments[0],
            in("rsi") arguments[1],
            in("rdx") arguments[2],
            lateout("rcx") _,
            lateout("r11") r11,
        );
    }
    Around {
        result,
        before,
        after,
        r11,
    }
}

fn fast_syscalls() {
    let parent = getppid();
    for flags in [NT, NT | DF | AC] {
        for (name, number, expected) in [
            ("getppid", nr::GETPPID, parent),
            ("sched_yield", nr::SCHED_YIELD, 0),
        ] {
            // SAFETY: getppid and sched_yield touch no memory.
            let around = unsafe { with_flags(number, [0; 3], flags) };
            check_eq!(around.result, expected, "{name} with {flags:#x}");
            check_eq!(
                around.before & flags,
                flags,
                "{name}: the flags {flags:#x} as loaded"
            );
            check_eq!(
                around.after,
                around.before,
                "{name} with {flags:#x}: RFLAGS after"
            );
            check_eq!(around.r11, around.before, "{name} with {flags:#x}: R11");
        }
    }
    check_eq!(SIGNALS.load(Ordering::Relaxed), 0, "signals");
}

fn nt_and_tf() {
    let parent = getppid();
    let (result, before, trapped, after): (i64, u64, u64, u64);
    // SAFETY: getppid touches no memory; `on_trap` clears TF after the first `pushfq`.
    // The original RFLAGS comes back at the end; RAX, RCX and R11 are declared.
    unsafe {
        asm!(
            "pushfq",                          // push RFLAGS...
            "pop {saved}",                     // ...into saved
            "push {saved}",                    // push it again...
            "or qword ptr [rsp], {set_flags}", // ...with NT and TF...
            "popfq",                           // ...and load it: no trap after this one
            "syscall",                         // getppid, with NT and TF
            "pushfq",                          // RFLAGS with TF; the trap comes after this
            "pushfq",                          // RFLAGS after the handler's rt_sigreturn
            "pop {after}",                     // after = the second
            "pop {trapped}",                   // trapped = the first
            "push {saved}",                    // restore the original RFLAGS...
            "popfq",                           // ...
            set_flags = in(reg) NT | TF,
            saved = out(reg) before,
            trapped = out(reg) trapped,
            after = out(reg) after,
            inlateout("rax") nr::GETPPID => result,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    let before = before | NT | TF;
    check_eq!(result, parent, "getppid with NT|TF");
    check_eq!(SIGNALS.swap(0, Ordering::Relaxed), 1, "NT|TF: SIGTRAPs");
    check_eq!(trapped, before, "NT|TF: RFLAGS right after the syscall");
    check_eq!(
        CONTEXT_RFLAGS.load(Ordering::Relaxed),
        before,
        "NT|TF: the SIGTRAP's ucontext RFLAGS"
    );
    check_eq!(
        after,
        before & !TF,
        "NT|TF: RFLAGS after the SIGTRAP handler"
    );
}

/// tgkill(self, SIGUSR1) with `flags`, the handler editing NT per `edit`: RFLAGS after it
/// must be `expected(before)`.
fn signal_case(name: &str, flags: u64, edit: u64, expected: fn(u64) -> u64) {
    let arguments = [getpid() as u64, gettid() as u64, u64::from(SIGUSR1)];
    NT_EDIT.store(edit, Ordering::Relaxed);
    // SAFETY: tgkill runs `on_usr1`, which touches only statics.
    let around = unsafe { with_flags(nr::TGKILL, arguments, flags) };
    NT_EDIT.store(KEEP, Ordering::Relaxed);
    check_eq!(around.result, 0, "{name}: tgkill");
    check_eq!(SIGNALS.swap(0, Ordering::Relaxed), 1, "{name}: SIGUSR1s");
    check_eq!(
        CONTEXT_RFLAGS.load(Ordering::Relaxed),
        around.before,
        "{name}: the handler's ucontext RFLAGS"
    );
    let own = OWN_RFLAGS.load(Ordering::Relaxed);
    check_eq!(
        own & (NT | DF | TF),
        around.before & NT,
        "{name}: NT, DF and TF in the handler's own RFLAGS ({own:#x})"
    );
    check_eq!(
        around.after,
        expected(around.before),
        "{name}: RFLAGS after the handler"
    );
}

fn signals() {
    signal_case("NT|DF", NT | DF, KEEP, |before| before);
    signal_case("NT|DF, the handler clears NT", NT | DF, CLEAR, |before| {
        before
    });
    signal_case("DF, the handler sets NT", DF, SET, |before| before);
    check!(
        CONTEXT_RFLAGS.load(Ordering::Relaxed) & NT == 0,
        "DF: NT in the handler's ucontext RFLAGS"
    );
}

fn main(_stack: &InitialStack) {
    fast_syscalls();
    check_eq!(
        signal::install(SIGTRAP, on_trap, 0, 0),
        0,
        "rt_sigaction(SIGTRAP)"
    );
    check_eq!(
        signal::install(SIGUSR1, on_usr1, 0, 0),
        0,
        "rt_sigaction(SIGUSR1)"
    );
    nt_and_tf();
    signals();
}
