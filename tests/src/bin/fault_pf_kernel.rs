//! A read of a kernel address (0xffff_8880_0000_0000, the start of Linux's direct map) from
//! user mode: #PF (a supervisor page, or none), which Linux delivers as SIGSEGV. Expected:
//! killed by signal 11 (SIGSEGV), see `expected.toml`. Surviving is a failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main, fail};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: the read only faults; the fault ends the process.
    unsafe {
        asm!(
            "mov {value}, qword ptr [{address}]", // read 8 bytes of kernel memory: #PF
            address = in(reg) 0xffff_8880_0000_0000_u64,
            value = lateout(reg) _,
            options(nostack, readonly),
        );
    }
    fail!("survived");
}
