//! `int3`, the breakpoint instruction: #BP, which Linux delivers as SIGTRAP. Expected:
//! killed by signal 5 (SIGTRAP), see `expected.toml`. Surviving is a failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main, fail};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: int3 only traps; the trap ends the process.
    unsafe {
        asm!(
            "int3", // #BP
            options(nomem, nostack),
        );
    }
    fail!("survived");
}
