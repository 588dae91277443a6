//! A read of address 0 (never mapped: below `vm.mmap_min_addr`): #PF, which Linux delivers
//! as SIGSEGV. Expected: killed by signal 11 (SIGSEGV), see `expected.toml`. Surviving is a
//! failure.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::{InitialStack, abi_test_main, fail};

abi_test_main!(main);

fn main(_stack: &InitialStack) {
    // SAFETY: the read only faults; the fault ends the process.
    unsafe {
        asm!(
            "mov {value}, qword ptr [{address}]", // read 8 bytes at address 0: #PF
            address = in(reg) 0_u64,
            value = lateout(reg) _,
            options(nostack, readonly),
        );
    }
    fail!("survived");
}
