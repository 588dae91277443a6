//! i386 exit (1) through `int $0x80` from 64-bit code ends the process with the status in
//! EBX: expected exit status 7 (see `expected.toml`).
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main};

abi_test_main!(main);

/// i386 `exit` (`arch/x86/entry/syscalls/syscall_32.tbl`).
const I386_EXIT: u64 = 1;
/// The exit status the runner expects.
const STATUS: u64 = 7;

fn main(_stack: &InitialStack) {
    // SAFETY: exit ends the process; nothing runs after it.
    unsafe {
        asm!(
            // EBX = status (RBX is never needed again: no return).
            "mov rbx, {status}",
            // i386 system call: EAX = 1 (exit), EBX = status.
            "int 0x80",
            // Unreachable: trap if exit returned.
            "ud2",
            status = in(reg) STATUS,
            in("rax") I386_EXIT,
            options(noreturn, nostack),
        );
    }
}
