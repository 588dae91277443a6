//! `int $0x80` from 64-bit code is the i386 system call gate (Linux with
//! CONFIG_IA32_EMULATION): i386 getpid (20) returns what getpid returns, also with garbage
//! in RAX's upper half (Linux takes the number as a 32-bit int); every register but RAX
//! (RCX, R11 and R8-R15 included, RSP too) and RFLAGS come back unchanged; i386 write (4,
//! EBX = fd, ECX = buffer, EDX = count) writes a buffer below 4 GiB and ignores the upper
//! halves of RBX, RCX and RDX.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;

use topframe_abi_tests::registers::{Pattern, Registers, StackPointer, Trap, capture, rflags};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail, getpid};

abi_test_main!(main);

/// i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`).
const I386_WRITE: u64 = 4;
const I386_GETPID: u64 = 20;

/// Garbage for the upper halves of 32-bit arguments.
const UPPER_GARBAGE: u64 = 0xdead_beef_0000_0000;

/// In the executable's read-only data: below 4 GiB in a static non-PIE executable.
static MESSAGE: &[u8] = b"int80: i386 write through int $0x80\n";

fn main(_stack: &InitialStack) {
    let pid = getpid();
    for number in [I386_GETPID, UPPER_GARBAGE | I386_GETPID] {
        for pattern in Pattern::ALL {
            for flags in [rflags::QUIET, rflags::LOUD] {
                let registers = Registers {
                    rax: number,
                    ..Registers::with_pattern(pattern, flags)
                };
                // SAFETY: i386 getpid touches no memory.
                let capture = unsafe { capture(Trap::Int80, registers, StackPointer::Unchanged) };
                if let Some(mismatches) = capture.int80_contract_mismatches(pid as u64) {
                    fail!(
                        "int $0x80 with RAX {number:#x}, pattern {pattern:?}, RFLAGS {:#x}: \
                         {mismatches}",
                        capture.loaded.rflags
                    );
                }
            }
        }
    }

    let address = MESSAGE.as_ptr() as u64;
    check!(
        address < 1 << 32,
        "the message is at {address:#x}, above 4 GiB: is the program built as PIE?"
    );
    let length = MESSAGE.len() as u64;
    check_eq!(
        i386_write(
            UPPER_GARBAGE | 1,
            UPPER_GARBAGE | address,
            UPPER_GARBAGE | length
        ),
        length as i64,
        "i386 write to fd 1"
    );
}

/// i386 `write(fd, buffer, count)` through `int $0x80`; Linux reads EBX, ECX and EDX.
fn i386_write(fd: u64, buffer: u64, count: u64) -> i64 {
    let result;
    // SAFETY: write only reads the buffer, which the caller passes valid (and its address
    // truncated to 32 bits is its address).
    unsafe {
        asm!(
            // RBX = fd; LLVM reserves RBX, so swap it in...
            "xchg {fd}, rbx",
            // i386 system call: EAX = number, EBX, ECX, EDX = arguments.
            "int 0x80",
            // ...and swap it back.
            "xchg {fd}, rbx",
            fd = inout(reg) fd => _,
            inlateout("rax") I386_WRITE => result,
            in("rcx") buffer,
            in("rdx") count,
            options(nostack),
        );
    }
    result
}
