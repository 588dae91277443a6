//! `syscall` does not use the user stack: with RSP = 0, non-canonical
//! (0x8000_0000_0000) or a kernel address (0xffff_8000_0000_0000), getppid and an invalid
//! number still return, RSP comes back exactly as it was, and the rest of the `syscall`
//! register contract (see `syscall_regs`) holds. The program's RSP is restored from
//! memory afterwards.
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::ENOSYS;
use topframe_abi_tests::registers::{Pattern, Registers, StackPointer, Trap, capture, rflags};
use topframe_abi_tests::{InitialStack, abi_test_main, fail, getppid, nr};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    let calls = [(nr::GETPPID, getppid()), (1000, -ENOSYS)];
    for stack_pointer in [0, 0x8000_0000_0000, 0xffff_8000_0000_0000] {
        for pattern in Pattern::ALL {
            for (number, result) in calls {
                let registers = Registers {
                    rax: number,
                    ..Registers::with_pattern(pattern, rflags::QUIET)
                };
                // SAFETY: getppid and an invalid number touch no memory (the stack
                // included).
                let capture =
                    unsafe { capture(Trap::Syscall, registers, StackPointer::Set(stack_pointer)) };
                if let Some(mismatches) = capture.syscall_contract_mismatches(result as u64) {
                    fail!(
                        "RSP {stack_pointer:#x}, syscall {number}, pattern {pattern:?}: \
                         {mismatches}"
                    );
                }
            }
        }
    }
}
