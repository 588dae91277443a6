//! `cli` in user mode: Linux runs user code at IOPL 0, so #GP, which Linux delivers as
//! SIGSEGV. Expected: killed by signal 11 (SIGSEGV), see `expected.toml`. Surviving is a
//! failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main, fail};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: cli with IOPL 0 only faults; the fault ends the process.
    unsafe {
        asm!(
            "cli", // needs CPL <= IOPL, and Linux runs user mode at IOPL 0: #GP
            options(nomem, nostack),
        );
    }
    fail!("survived");
}
