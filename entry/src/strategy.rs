//! The two entry strategies: how much of the top of the frame the syscall fast path
//! writes. This is the question of the 2014 thread the project starts from.
//!
//! | | [`LazyTopOfStack`] (Linux <= 4.0) | [`CompleteFrame`] (Linux >= 4.1) |
//! |---|---|---|
//! | user RSP on entry | only in per-CPU [`OLD_RSP`] | also in `PtRegs.rsp` |
//! | SS, RSP, EFLAGS, CS slots on the fast path | not written | written |
//! | before / after a slow path | [`fixup_top_of_stack`](EntryStrategy::fixup_top_of_stack) / [`restore_top_of_stack`](EntryStrategy::restore_top_of_stack) | nothing |
//! | SYSRET takes RSP from | [`OLD_RSP`] | `PtRegs.rsp` |
//! | context switch | saves and restores [`OLD_RSP`] per thread (Linux's usersp) | nothing |
//!
//! Everything else (all 15 general registers, dispatch, work flags, the checked exit) is
//! shared. The kernel picks one with the cargo feature `lazy-top-of-stack`:
//! [`Selected`] is the strategy it builds with.

use crate::pt_regs::PtRegs;
use crate::{OLD_RSP, USER_CS, USER_DS};

/// One way of treating the top of the syscall frame.
pub trait EntryStrategy {
    /// Name, for reports.
    const NAME: &'static str;
    /// True when the fast path leaves the top of the frame unwritten (an assembly-time
    /// parameter of the entry code).
    const LAZY: bool;

    /// Complete the frame of a syscall that entered through the fast path, before any
    /// code reads or writes it as a whole (Linux's FIXUP_TOP_OF_STACK). Must run on the
    /// CPU the syscall entered on, or after the context-switch hook restored its state.
    fn fixup_top_of_stack(regs: &mut PtRegs);

    /// After a slow path, write back what the exit takes from outside the frame
    /// (Linux's RESTORE_TOP_OF_STACK).
    fn restore_top_of_stack(regs: &PtRegs);

    /// The user stack pointer of the thread in a syscall: under the lazy strategy, inside
    /// a fast-path syscall whose frame was not fixed up, it is in [`OLD_RSP`].
    fn current_user_stack_pointer(regs: &PtRegs, frame_complete: bool) -> u64;

    /// Context switch: save the outgoing thread's per-CPU entry state into `outgoing`,
    /// load the incoming thread's from `incoming`.
    fn switch_user_state(outgoing: &mut UserEntryState, incoming: &UserEntryState);
}

/// Per-thread entry state the context switch carries (Linux's `thread.usersp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserEntryState {
    /// The thread's [`OLD_RSP`] while it is switched out (lazy strategy only).
    pub user_rsp: u64,
}

/// The Linux <= 4.0 shape: user RSP in per-CPU [`OLD_RSP`], top of frame written only
/// when a slow path needs it.
#[derive(Clone, Copy, Debug)]
pub enum LazyTopOfStack {}

/// The Linux >= 4.1 shape: the whole frame on every entry.
#[derive(Clone, Copy, Debug)]
pub enum CompleteFrame {}

impl EntryStrategy for LazyTopOfStack {
    const NAME: &'static str = "lazy top of stack (Linux <= 4.0)";
    const LAZY: bool = true;

    fn fixup_top_of_stack(regs: &mut PtRegs) {
        regs.rsp = OLD_RSP.read();
        regs.ss = USER_DS;
        regs.cs = USER_CS;
        regs.eflags = regs.r11;
        // SYSCALL put the return address in both; Linux <= 4.0 wrote -1 here, a glitch
        // visible to ptrace and signal handlers that the seed calls a bug.
        regs.rcx = regs.rip;
    }

    fn restore_top_of_stack(regs: &PtRegs) {
        OLD_RSP.write(regs.rsp);
    }

    fn current_user_stack_pointer(regs: &PtRegs, frame_complete: bool) -> u64 {
        if frame_complete {
            regs.rsp
        } else {
            OLD_RSP.read()
        }
    }

    fn switch_user_state(outgoing: &mut UserEntryState, incoming: &UserEntryState) {
        outgoing.user_rsp = OLD_RSP.read();
        OLD_RSP.write(incoming.user_rsp);
    }
}

impl EntryStrategy for CompleteFrame {
    const NAME: &'static str = "complete frame (Linux >= 4.1)";
    const LAZY: bool = false;

    fn fixup_top_of_stack(_regs: &mut PtRegs) {}

    fn restore_top_of_stack(_regs: &PtRegs) {}

    fn current_user_stack_pointer(regs: &PtRegs, _frame_complete: bool) -> u64 {
        regs.rsp
    }

    fn switch_user_state(_outgoing: &mut UserEntryState, _incoming: &UserEntryState) {}
}

/// The strategy selected by the cargo feature `lazy-top-of-stack`.
#[cfg(feature = "lazy-top-of-stack")]
pub type Selected = LazyTopOfStack;
/// The strategy selected by the cargo feature `lazy-top-of-stack` (absent: complete).
#[cfg(not(feature = "lazy-top-of-stack"))]
pub type Selected = CompleteFrame;
