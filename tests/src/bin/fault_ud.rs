//! `ud2`, the instruction defined to be invalid: #UD, which Linux delivers as SIGILL.
//! Expected: killed by signal 4 (SIGILL), see `expected.toml`. Surviving is a failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main, fail};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: ud2 only faults; the fault ends the process.
    unsafe {
        asm!(
            "ud2", // #UD
            options(nomem, nostack),
        );
    }
    fail!("survived");
}
