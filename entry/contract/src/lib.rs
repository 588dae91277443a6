//! The contract every [`EntryStrategy`] keeps, checked on the host without a kernel.
//!
//! The entry assembly comes in two shapes, chosen by [`EntryStrategy::LAZY`]; the rest of
//! a strategy is its four hooks. Whatever a strategy does, a slow path must see the same
//! complete frame, and the exit must return to the user stack the slow path left in it.
//! [`check`] runs every rule on a thread with its own per-CPU area (real GS, through
//! `topframe-percpu`'s host support) and returns the first one broken:
//!
//! 1. **Frame completeness.** After [`EntryStrategy::fixup_top_of_stack`] on the frame the
//!    fast path left, the frame is exactly what a complete-frame entry builds: RIP and RCX
//!    the return address, CS and SS the user selectors, RFLAGS what SYSCALL saved in R11,
//!    RSP the user stack pointer, and every other slot untouched.
//! 2. **User RSP before the fixup.** [`EntryStrategy::current_user_stack_pointer`] finds the
//!    user stack pointer both before the fixup (`frame_complete == false`) and after it.
//! 3. **RSP source at exit.** A slow path that moves the user stack (sigreturn, ptrace)
//!    changes `PtRegs::rsp`; after [`EntryStrategy::restore_top_of_stack`], the place the
//!    exit takes RSP from (per-CPU [`OLD_RSP`] for the lazy shape, the frame otherwise)
//!    holds the new value.
//! 4. **Per-thread state across switches.** [`EntryStrategy::switch_user_state`] keeps each
//!    thread's fast-path state its own: after switching from one thread in a fast-path
//!    syscall to another and back, each finds its own user stack pointer.
//!
//! A third strategy gets the same checks from a test of its own:
//!
//! ```
//! use topframe_entry::CompleteFrame;
//! topframe_entry_contract::check::<CompleteFrame>().expect("the contract holds");
//! ```

use std::fmt;
use topframe_entry::{EntryStrategy, OLD_RSP, PtRegs, USER_CS, USER_DS, UserEntryState};

/// A rule of the contract a strategy broke, with what was expected and what it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule, as numbered in the crate documentation.
    pub rule: &'static str,
    /// What was expected and what the strategy produced.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.rule, self.detail)
    }
}

impl std::error::Error for Violation {}

/// The user state of one thread in a system call, from which the frames are built.
#[derive(Clone, Copy)]
struct UserState {
    return_address: u64,
    flags: u64,
    stack_pointer: u64,
    /// Seeds the general registers, so two threads' frames differ everywhere.
    seed: u64,
}

/// A pattern no slot of a frame holds by accident: the slots the lazy fast path leaves
/// unwritten hold it before the fixup.
const UNWRITTEN: u64 = 0xdead_beef_dead_beef;

impl UserState {
    fn new(seed: u64) -> UserState {
        UserState {
            return_address: 0x40_1000 + seed * 0x10,
            flags: 0x246 | (seed & 1) << 10, // IF, ZF, PF, and DF for odd seeds
            stack_pointer: 0x7fff_ffff_e000 - seed * 0x1000,
            seed,
        }
    }

    /// The frame a complete-frame entry builds for this state.
    fn complete_frame(&self) -> PtRegs {
        let register = |index: u64| (self.seed << 32) | index;
        PtRegs {
            r15: register(15),
            r14: register(14),
            r13: register(13),
            r12: register(12),
            rbp: register(5),
            rbx: register(3),
            r11: self.flags,
            r10: register(10),
            r9: register(9),
            r8: register(8),
            rax: register(0),
            rcx: self.return_address,
            rdx: register(2),
            rsi: register(6),
            rdi: register(7),
            orig_rax: 39, // getpid
            rip: self.return_address,
            cs: USER_CS,
            eflags: self.flags,
            rsp: self.stack_pointer,
            ss: USER_DS,
        }
    }

    /// The frame and per-CPU state the fast path of `S`'s shape leaves (OLD_RSP written).
    fn fast_path_frame<S: EntryStrategy>(&self) -> PtRegs {
        OLD_RSP.write(self.stack_pointer);
        let mut frame = self.complete_frame();
        if S::LAZY {
            frame.cs = UNWRITTEN;
            frame.ss = UNWRITTEN;
            frame.eflags = UNWRITTEN;
            frame.rsp = UNWRITTEN;
        }
        frame
    }
}

fn expect_eq(rule: &'static str, what: &str, expected: u64, found: u64) -> Result<(), Violation> {
    if expected == found {
        Ok(())
    } else {
        Err(Violation {
            rule,
            detail: format!("{what}: expected {expected:#x}, found {found:#x}"),
        })
    }
}

const COMPLETENESS: &str = "1 (frame completeness after the fixup)";
const RSP_BEFORE_FIXUP: &str = "2 (user RSP before and after the fixup)";
const RSP_AT_EXIT: &str = "3 (RSP source at exit)";
const SWITCHES: &str = "4 (per-thread state across switches)";

fn frame_completeness<S: EntryStrategy>() -> Result<(), Violation> {
    let state = UserState::new(1);
    let mut frame = state.fast_path_frame::<S>();
    S::fixup_top_of_stack(&mut frame);
    let expected = state.complete_frame();
    if frame == expected {
        Ok(())
    } else {
        Err(Violation {
            rule: COMPLETENESS,
            detail: format!("expected {expected:x?}, found {frame:x?}"),
        })
    }
}

fn user_stack_pointer_before_fixup<S: EntryStrategy>() -> Result<(), Violation> {
    let state = UserState::new(2);
    let mut frame = state.fast_path_frame::<S>();
    let before = S::current_user_stack_pointer(&frame, false);
    expect_eq(RSP_BEFORE_FIXUP, "before", state.stack_pointer, before)?;
    S::fixup_top_of_stack(&mut frame);
    let after = S::current_user_stack_pointer(&frame, true);
    expect_eq(RSP_BEFORE_FIXUP, "after", state.stack_pointer, after)
}

fn stack_pointer_source_at_exit<S: EntryStrategy>() -> Result<(), Violation> {
    let state = UserState::new(3);
    let mut frame = state.fast_path_frame::<S>();
    S::fixup_top_of_stack(&mut frame);
    let moved = UserState::new(30).stack_pointer;
    frame.rsp = moved;
    S::restore_top_of_stack(&frame);
    let exit_source = if S::LAZY { OLD_RSP.read() } else { frame.rsp };
    expect_eq(RSP_AT_EXIT, "the exit's RSP", moved, exit_source)
}

fn state_across_switches<S: EntryStrategy>() -> Result<(), Violation> {
    let (first, second) = (UserState::new(4), UserState::new(5));
    let mut first_saved = UserEntryState::default();
    let mut second_saved = UserEntryState::default();
    // The second thread entered a fast-path syscall and was switched out ...
    let second_frame = second.fast_path_frame::<S>();
    S::switch_user_state(&mut second_saved, &first_saved);
    // ... then the first one entered one and is switched out for the second.
    let first_frame = first.fast_path_frame::<S>();
    S::switch_user_state(&mut first_saved, &second_saved);
    let found = S::current_user_stack_pointer(&second_frame, false);
    expect_eq(SWITCHES, "second thread", second.stack_pointer, found)?;
    S::switch_user_state(&mut second_saved, &first_saved);
    let found = S::current_user_stack_pointer(&first_frame, false);
    expect_eq(SWITCHES, "first thread", first.stack_pointer, found)
}

/// Runs every rule of the contract for `S`, each on a new thread with its own per-CPU
/// area; the first rule broken, if any.
///
/// # Panics
/// If a thread cannot get a per-CPU area (`arch_prctl(ARCH_SET_GS)` refused) or a hook
/// panics.
pub fn check<S: EntryStrategy>() -> Result<(), Violation> {
    let rules: [fn() -> Result<(), Violation>; 4] = [
        frame_completeness::<S>,
        user_stack_pointer_before_fixup::<S>,
        stack_pointer_source_at_exit::<S>,
        state_across_switches::<S>,
    ];
    rules.into_iter().try_for_each(on_own_cpu)
}

/// Runs `rule` on a new thread that is a CPU of its own.
fn on_own_cpu(rule: fn() -> Result<(), Violation>) -> Result<(), Violation> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// CPU numbers of the threads, distinct within the process (the per-CPU areas of
    /// other tests in the same process may use the low numbers).
    static NEXT_CPU: AtomicUsize = AtomicUsize::new(128);
    let cpu = NEXT_CPU.fetch_add(1, Ordering::Relaxed);
    std::thread::spawn(move || {
        topframe_percpu::install_on_current_thread(cpu).expect("arch_prctl(ARCH_SET_GS)");
        rule()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
