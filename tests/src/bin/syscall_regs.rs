//! The `syscall` register contract, for a valid call (getppid), invalid numbers, and a
//! number with garbage in its upper 32 bits: after `syscall`, RAX holds the result, RCX
//! the address of the next instruction, R11 the RFLAGS of the `syscall`; every other
//! register (RSP, RBP, RBX, RDX, RSI, RDI, R8-R10, R12-R15) and RFLAGS are unchanged.
//! Each case runs with every register pattern and both RFLAGS patterns.
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::ENOSYS;
use topframe_abi_tests::registers::{Pattern, Registers, StackPointer, Trap, capture, rflags};
use topframe_abi_tests::{InitialStack, abi_test_main, fail, getpid, getppid, nr};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    let cases = [
        (nr::GETPPID, getppid()),
        (1000, -ENOSYS),
        (0x7fff_ffff, -ENOSYS),
        (u64::MAX, -ENOSYS),
        (0xffff_ffff, -ENOSYS),
        // Linux indexes its table with the low 32 bits (as an int): this is getpid.
        (0x1_0000_0000 | nr::GETPID, getpid()),
    ];
    for pattern in Pattern::ALL {
        for flags in [rflags::QUIET, rflags::LOUD] {
            for (number, result) in cases {
                let registers = Registers {
                    rax: number,
                    ..Registers::with_pattern(pattern, flags)
                };
                // SAFETY: getppid, getpid and invalid numbers touch no memory.
                let capture = unsafe { capture(Trap::Syscall, registers, StackPointer::Unchanged) };
                if let Some(mismatches) = capture.syscall_contract_mismatches(result as u64) {
                    fail!(
                        "syscall {number:#x}, pattern {pattern:?}, RFLAGS {:#x}: {mismatches}",
                        capture.loaded.rflags
                    );
                }
            }
        }
    }
}
