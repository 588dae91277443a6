//! The raw `syscall` instruction with 0 to 4 and with 6 arguments (pass 0 for the
//! unused ones).
//!
//! x86_64 Linux convention: RAX = number; arguments in RDI, RSI, RDX, R10, R8, R9; the
//! result comes back in RAX (-4095..=-1 is `-errno`); the CPU overwrites RCX (return
//! address) and R11 (RFLAGS); every other register is preserved.
//!
//! # Safety (every function)
//! A syscall can do anything to the process: the caller makes sure that this one, with
//! these arguments, only touches memory it may touch and leaves the process sound.

use core::arch::asm;

/// `syscall` with no argument.
///
/// # Safety
/// See the module documentation.
pub unsafe fn syscall0(number: u64) -> i64 {
    let result;
    // SAFETY: the caller vouches for the syscall (module documentation).
    unsafe {
        asm!(
            "syscall", // enter the kernel; RAX in = number, RAX out = result
            inlateout("rax") number => result,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// `syscall` with one argument.
///
/// # Safety
/// See the module documentation.
pub unsafe fn syscall1(number: u64, arg1: u64) -> i64 {
    let result;
    // SAFETY: the caller vouches for the syscall (module documentation).
    unsafe {
        asm!(
            "syscall", // enter the kernel; RAX in = number, RAX out = result
            inlateout("rax") number => result,
            in("rdi") arg1,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// `syscall` with two arguments.
///
/// # Safety
/// See the module documentation.
pub unsafe fn syscall2(number: u64, arg1: u64, arg2: u64) -> i64 {
    let result;
    // SAFETY: the caller vouches for the syscall (module documentation).
    unsafe {
        asm!(
            "syscall", // enter the kernel; RAX in = number, RAX out = result
            inlateout("rax") number => result,
            in("rdi") arg1,
            in("rsi") arg2,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// `syscall` with three arguments.
///
/// # Safety
/// See the module documentation.
pub unsafe fn syscall3(number: u64, arg1: u64, arg2: u64, arg3: u64) -> i64 {
    let result;
    // SAFETY: the caller vouches for the syscall (module documentation).
    unsafe {
        asm!(
            "syscall", // enter the kernel; RAX in = number, RAX out = result
            inlateout("rax") number => result,
            in("rdi") arg1,
            in("rsi") arg2,
            in("rdx") arg3,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// `syscall` with four arguments (the fourth goes in R10, not RCX as in a function call).
///
/// # Safety
/// See the module documentation.
pub unsafe fn syscall4(number: u64, arg1: u64, arg2: u64, arg3: u64, arg4: u64) -> i64 {
    let result;
    // SAFETY: the caller vouches for the syscall (module documentation).
    unsafe {
        asm!(
            "syscall", // enter the kernel; RAX in = number, RAX out = result
            inlateout("rax") number => result,
            in("rdi") arg1,
            in("rsi") arg2,
            in("rdx") arg3,
            in("r10") arg4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// `syscall` with six arguments.
///
/// # Safety
/// See the module documentation.
pub unsafe fn syscall6(
    number: u64,
    arg1: u64,
    arg2: u64,
    arg3: u64,
    arg4: u64,
    arg5: u64,
    arg6: u64,
) -> i64 {
    let result;
    // SAFETY: the caller vouches for the syscall (module documentation).
    unsafe {
        asm!(
            "syscall", // enter the kernel; RAX in = number, RAX out = result
            inlateout("rax") number => result,
            in("rdi") arg1,
            in("rsi") arg2,
            in("rdx") arg3,
            in("r10") arg4,
            in("r8") arg5,
            in("r9") arg6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}
