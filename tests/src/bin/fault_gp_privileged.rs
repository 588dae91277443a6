//! `hlt` in user mode: a privileged instruction, so #GP, which Linux delivers as SIGSEGV.
//! Expected: killed by signal 11 (SIGSEGV), see `expected.toml`. Surviving is a failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main, fail};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: hlt in user mode only faults; the fault ends the process.
    unsafe {
        asm!(
            "hlt", // privileged (CPL 0 only): #GP
            options(nomem, nostack),
        );
    }
    fail!("survived");
}
