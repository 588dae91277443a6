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

/// The lazy strategy with the hook behind rule `RULE` made wrong, the rest intact.
struct BreaksRule<const RULE: u8>;

impl<const RULE: u8> EntryStrategy for BreaksRule<RULE> {
    const NAME: &'static str = "lazy with one rule broken";
    const LAZY: bool = true;

    fn fixup_top_of_stack(regs: &mut PtRegs) {
        let flags_slot = regs.eflags;
        LazyTopOfStack::fixup_top_of_stack(regs);
        if RULE == 1 {
            regs.eflags = flags_slot; // left as the fast path left it
        }
    }

    fn restore_top_of_stack(regs: &PtRegs) {
        if RULE != 3 {
            LazyTopOfStack::restore_top_of_stack(regs);
        }
    }

    fn current_user_stack_pointer(regs: &PtRegs, frame_complete: bool) -> u64 {
        if RULE == 2 {
            regs.rsp // even where the fast path did not write it
        } else {
            LazyTopOfStack::current_user_stack_pointer(regs, frame_complete)
        }
    }

    fn switch_user_state(outgoing: &mut UserEntryState, incoming: &UserEntryState) {
        if RULE != 4 {
            LazyTopOfStack::switch_user_state(outgoing, incoming);
        }
    }
}

fn broken_rule<S: EntryStrategy>() -> &'static str {
    check::<S>()
        .expect_err(&format!("{} breaks the contract", S::NAME))
        .rule
}

#[test]
fn a_fixup_leaving_a_slot_unwritten_breaks_frame_completeness() {
    assert!(broken_rule::<BreaksRule<1>>().starts_with("1 "));
}

#[test]
fn reading_the_unwritten_rsp_slot_breaks_the_user_rsp_rule() {
    assert!(broken_rule::<BreaksRule<2>>().starts_with("2 "));
}

#[test]
fn a_restore_that_drops_a_moved_stack_breaks_the_exit_rule() {
    assert!(broken_rule::<BreaksRule<3>>().starts_with("3 "));
}

#[test]
fn a_switch_without_per_thread_old_rsp_breaks_the_switch_rule() {
    assert!(broken_rule::<BreaksRule<4>>().starts_with("4 "));
}
