//! The `syscall` register contract (see `syscall_regs`) over many calls in a row: getppid,
//! getpid, gettid, sched_yield and an invalid number, 1000 rounds, the register pattern
//! and RFLAGS changing from call to call. Natively one more preservation test; on the
//! topframe kernel it compares the fast and the slow return paths (sched_yield may
//! reschedule, which takes the slow one).
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::ENOSYS;
use topframe_abi_tests::registers::{Pattern, Registers, StackPointer, Trap, capture, rflags};
use topframe_abi_tests::{InitialStack, abi_test_main, fail, getpid, getppid, gettid, nr};

abi_test_main!(main);

const ROUNDS: usize = 1000;

fn main(_stack: &InitialStack) {
    let calls = [
        (nr::GETPPID, getppid()),
        (nr::GETPID, getpid()),
        (nr::GETTID, gettid()),
        (nr::SCHED_YIELD, 0),
        (1000, -ENOSYS),
    ];
    let flag_patterns = [rflags::QUIET, rflags::LOUD];
    let mut call_index = 0;
    for round in 0..ROUNDS {
        for (number, result) in calls {
            let pattern = Pattern::ALL[call_index % Pattern::ALL.len()];
            let flags = flag_patterns[call_index % flag_patterns.len()];
            call_index += 1;
            let registers = Registers {
                rax: number,
                ..Registers::with_pattern(pattern, flags)
            };
            // SAFETY: getppid, getpid, gettid, sched_yield and an invalid number touch no
            // memory.
            let capture = unsafe { capture(Trap::Syscall, registers, StackPointer::Unchanged) };
            if let Some(mismatches) = capture.syscall_contract_mismatches(result as u64) {
                fail!(
                    "round {round}, syscall {number}, pattern {pattern:?}, RFLAGS {:#x}: \
                     {mismatches}",
                    capture.loaded.rflags
                );
            }
        }
    }
}
