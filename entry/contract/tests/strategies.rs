//! Both strategies keep the contract, and a strategy breaking any one rule is caught by it.

use topframe_entry::{CompleteFrame, EntryStrategy, LazyTopOfStack, PtRegs, UserEntryState};
use topframe_entry_contract::check;

#[test]
fn complete_frame_keeps_the_contract() {
    check::<CompleteFrame>().unwrap();
}

#[test]
fn lazy_top_of_stack_keeps_the_contract() {
    check::<LazyTopOfStack>().unwrap();
}

/// The lazy strategy with one hook replaced by a wrong one.
macro_rules! lazy_except {
    ($name:ident, $($wrong_hook:item)*) => {
        struct $name;

        impl EntryStrategy for $name {
            const NAME: &'static str = stringify!($name);
            const LAZY: bool = true;
            $($wrong_hook)*
        }
    };
}

lazy_except! {
    FixupForgetsFlags,
    fn fixup_top_of_stack(regs: &mut PtRegs) {
        let flags_slot = regs.eflags;
        LazyTopOfStack::fixup_top_of_stack(regs);
        regs.eflags = flags_slot;
    }
    fn restore_top_of_stack(regs: &PtRegs) {
        LazyTopOfStack::restore_top_of_stack(regs);
    }
    fn current_user_stack_pointer(regs: &PtRegs, frame_complete: bool) -> u64 {
        LazyTopOfStack::current_user_stack_pointer(regs, frame_complete)
    }
    fn switch_user_state(outgoing: &mut UserEntryState, incoming: &UserEntryState) {
        LazyTopOfStack::switch_user_state(outgoing, incoming);
    }
}

lazy_except! {
    StackPointerAlwaysFromFrame,
    fn fixup_top_of_stack(regs: &mut PtRegs) {
        LazyTopOfStack::fixup_top_of_stack(regs);
    }
    fn restore_top_of_stack(regs: &PtRegs) {
        LazyTopOfStack::restore_top_of_stack(regs);
    }
    fn current_user_stack_pointer(regs: &PtRegs, _frame_complete: bool) -> u64 {
        regs.rsp
    }
    fn switch_user_state(outgoing: &mut UserEntryState, incoming: &UserEntryState) {
        LazyTopOfStack::switch_user_state(outgoing, incoming);
    }
}

lazy_except! {
    RestoreForgetsStackPointer,
    fn fixup_top_of_stack(regs: &mut PtRegs) {
        LazyTopOfStack::fixup_top_of_stack(regs);
    }
    fn restore_top_of_stack(_regs: &PtRegs) {}
    fn current_user_stack_pointer(regs: &PtRegs, frame_complete: bool) -> u64 {
        LazyTopOfStack::current_user_stack_pointer(regs, frame_complete)
    }
    fn switch_user_state(outgoing: &mut UserEntryState, incoming: &UserEntryState) {
        LazyTopOfStack::switch_user_state(outgoing, incoming);
    }
}

lazy_except! {
    SwitchKeepsOldRsp,
    fn fixup_top_of_stack(regs: &mut PtRegs) {
        LazyTopOfStack::fixup_top_of_stack(regs);
    }
    fn restore_top_of_stack(regs: &PtRegs) {
        LazyTopOfStack::restore_top_of_stack(regs);
    }
    fn current_user_stack_pointer(regs: &PtRegs, frame_complete: bool) -> u64 {
        LazyTopOfStack::current_user_stack_pointer(regs, frame_complete)
    }
    fn switch_user_state(_outgoing: &mut UserEntryState, _incoming: &UserEntryState) {}
}

fn broken_rule<S: EntryStrategy>() -> &'static str {
    check::<S>()
        .expect_err(&format!("{} breaks the contract", S::NAME))
        .rule
}

#[test]
fn a_fixup_leaving_a_slot_unwritten_breaks_frame_completeness() {
    assert!(broken_rule::<FixupForgetsFlags>().starts_with("1 "));
}

#[test]
fn reading_the_unwritten_rsp_slot_breaks_the_user_rsp_rule() {
    assert!(broken_rule::<StackPointerAlwaysFromFrame>().starts_with("2 "));
}

#[test]
fn a_restore_that_drops_a_moved_stack_breaks_the_exit_rule() {
    assert!(broken_rule::<RestoreForgetsStackPointer>().starts_with("3 "));
}

#[test]
fn a_switch_without_per_thread_old_rsp_breaks_the_switch_rule() {
    assert!(broken_rule::<SwitchKeepsOldRsp>().starts_with("4 "));
}
