//! Unsigned division by zero with `div`: #DE, which Linux delivers as SIGFPE. Expected:
//! killed by signal 8 (SIGFPE), see `expected.toml`. Surviving is a failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main, fail};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: the division only faults; the fault ends the process.
    unsafe {
        asm!(
            "div {divisor}", // RDX:RAX / 0: #DE
            divisor = in(reg) 0_u64,
            inout("rax") 1_u64 => _,
            inout("rdx") 0_u64 => _,
            options(nomem, nostack),
        );
    }
    fail!("survived");
}
