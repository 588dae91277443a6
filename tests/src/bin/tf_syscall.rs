//! `syscall` right after setting the trap flag (TF): Linux returns from the syscall with TF
//! still set, the CPU single-steps the next instruction, and the resulting SIGTRAP (no
//! handler installed) kills the process. Expected: terminated by signal 5 (SIGTRAP),
//! exit status 133 in shell terms (see `expected.toml`). Surviving is a failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::registers::rflags;
use topframe_abi_tests::{InitialStack, abi_test_main, fail, nr};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: getppid touches no memory; the assembly leaves TF clear if it gets to its
    // end, and declares RAX, RCX and R11 clobbered.
    unsafe {
        asm!(
            // Push RFLAGS...
            "pushfq",
            // ...set TF in the copy...
            "or qword ptr [rsp], {trap_flag}",
            // ...and load it: the single-step trap comes after the next instruction.
            "popfq",
            // The next instruction: getppid (RAX).
            "syscall",
            // If the process gets this far, clear TF again: push RFLAGS...
            "pushfq",
            // ...clear TF...
            "and qword ptr [rsp], ~{trap_flag}",
            // ...and load it.
            "popfq",
            trap_flag = const rflags::TF,
            inlateout("rax") nr::GETPPID => _,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    fail!("survived");
}
