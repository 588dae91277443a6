//! Numbers with no 64-bit system call behind them return -ENOSYS (and nothing else
//! happens): 1000; 0x7fff_ffff; -1 (u64::MAX, which Linux special-cases as "no syscall");
//! 0xffff_ffff (-1 as a 32-bit int); garbage above an invalid low half (Linux looks only
//! at the low 32 bits); the x32 bit with an invalid number (0x4000_0000 | 1000, invalid
//! whether or not the kernel has x32); every number of 387..=423 (reserved in
//! `syscall_64.tbl`) and of 512..=547 (x32-only entries, never 64-bit syscalls).
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::ENOSYS;
use topframe_abi_tests::{InitialStack, abi_test_main, check_eq, syscall0};

abi_test_main!(main);

/// The x32 ABI's marker bit (`__X32_SYSCALL_BIT`).
const X32_SYSCALL_BIT: u64 = 0x4000_0000;

fn main(_stack: &InitialStack) {
    let single_numbers = [
        1000,
        0x7fff_ffff,
        u64::MAX,
        0xffff_ffff,
        0xdead_beef_0000_0000 | 1000,
        X32_SYSCALL_BIT | 1000,
    ];
    let numbers = single_numbers.into_iter().chain(387..=423).chain(512..=547);
    for number in numbers {
        // SAFETY: no syscall has this number: nothing happens.
        let result = unsafe { syscall0(number) };
        check_eq!(result, -ENOSYS, "syscall {number:#x}");
    }
}
