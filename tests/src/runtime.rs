//! What every program shares: the entry glue ([`abi_test_main!`]), the panic path, and the
//! assertion macros ([`check!`], [`check_eq!`], [`fail!`]). The macros name the program
//! with `env!("CARGO_BIN_NAME")`, expanded in the program's own crate.

use core::fmt;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::console::{fail_with, pass};
use crate::initial_stack::InitialStack;

/// The program's name as [`run`] got it (address and length of a `&'static str`), for the
/// library's own failure reports ([`fail_in_library`]).
static PROGRAM_NAME: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static PROGRAM_NAME_LENGTH: AtomicUsize = AtomicUsize::new(0);

/// The program's name, or `?` before [`run`] recorded it.
fn program_name() -> &'static str {
    let address = PROGRAM_NAME.load(Ordering::Acquire);
    if address.is_null() {
        return "?";
    }
    let length = PROGRAM_NAME_LENGTH.load(Ordering::Relaxed);
    // SAFETY: `run` stored the address and length of a `&'static str` (length first, the
    // address with Release), so they describe valid UTF-8 that lives forever.
    unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(address, length)) }
}

/// Fails the program from library code, which does not know the program's name at compile
/// time: `FAIL <program>: <message>`, exit status 1.
pub(crate) fn fail_in_library(message: fmt::Arguments) -> ! {
    fail_with(program_name(), message)
}

/// Runs `main` on the initial stack, then reports `PASS <program>` and exits 0.
/// Called by the `_start` that [`abi_test_main!`] generates.
///
/// # Safety
/// `entry_stack_pointer` is RSP as the kernel set it at process entry, and the memory
/// above it (argc, argv, envp, auxv and the strings) stays untouched for the process's
/// lifetime.
pub unsafe fn run(
    program: &'static str,
    entry_stack_pointer: *const u64,
    main: fn(&InitialStack),
) -> ! {
    PROGRAM_NAME_LENGTH.store(program.len(), Ordering::Relaxed);
    PROGRAM_NAME.store(program.as_ptr().cast_mut(), Ordering::Release);
    // SAFETY: forwarded from the caller.
    let stack = unsafe { InitialStack::from_entry_stack_pointer(entry_stack_pointer) };
    main(&stack);
    pass(program)
}

/// The panic handler's body: `FAIL <program>: panic at <file:line:column>: <message>`,
/// exit status 1.
pub fn fail_on_panic(program: &str, info: &PanicInfo) -> ! {
    match info.location() {
        Some(location) => fail_with(
            program,
            format_args!("panic at {location}: {}", info.message()),
        ),
        None => fail_with(program, format_args!("panic: {}", info.message())),
    }
}

/// Makes `$main` (a `fn(&InitialStack)`) the program: generates `_start` (the ELF entry
/// point), the panic handler, and the `rust_eh_personality` symbol that the precompiled
/// `core`'s unwind tables name (never called: every profile here is `panic = "abort"`).
/// All of it is left out of `cfg(test)` builds (`cargo clippy --all-targets` checks the
/// programs under the std test harness too, where these items would clash with std's).
#[macro_export]
macro_rules! abi_test_main {
    ($main:path) => {
        #[cfg(not(test))]
        ::core::arch::global_asm!(
            ".globl _start",
            ".type _start, @function",
            "_start:",
            // No caller frame: a zero RBP ends frame-pointer walks here.
            "xor ebp, ebp",
            // Argument 1: RSP as the kernel set it, pointing at argc.
            "mov rdi, rsp",
            // The ABI promises 16-byte alignment here; align anyway, so that a kernel
            // that breaks the promise is reported (by the `auxv` program), not crashed on.
            "and rsp, -16",
            // Never returns: the program ends with exit_group.
            "call {start}",
            // Unreachable: trap if it ever is reached.
            "ud2",
            ".size _start, . - _start",
            start = sym __abi_test_start,
        );

        #[cfg(not(test))]
        extern "C" fn __abi_test_start(entry_stack_pointer: *const u64) -> ! {
            // SAFETY: `_start` passes RSP as the kernel set it at process entry, and
            // nothing ever writes above it.
            unsafe { $crate::run(env!("CARGO_BIN_NAME"), entry_stack_pointer, $main) }
        }

        #[cfg(not(test))]
        #[panic_handler]
        fn panic(info: &::core::panic::PanicInfo) -> ! {
            $crate::fail_on_panic(env!("CARGO_BIN_NAME"), info)
        }

        #[cfg(not(test))]
        #[unsafe(no_mangle)]
        extern "C" fn rust_eh_personality() {}
    };
}

/// Fails the program with a formatted message: `FAIL <program>: <message>`, exit status 1.
#[macro_export]
macro_rules! fail {
    ($($message:tt)*) => {
        $crate::fail_with(env!("CARGO_BIN_NAME"), format_args!($($message)*))
    };
}

/// Fails the program with the formatted message unless `$condition` holds.
#[macro_export]
macro_rules! check {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            $crate::fail!($($message)*)
        }
    };
}

/// Fails the program unless `$actual == $expected`, with the formatted message (what was
/// compared) followed by both values (`Debug`).
#[macro_export]
macro_rules! check_eq {
    ($actual:expr, $expected:expr, $($message:tt)*) => {
        match (&$actual, &$expected) {
            (actual, expected) => {
                if actual != expected {
                    $crate::fail!(
                        "{}: got {:?}, expected {:?}",
                        format_args!($($message)*),
                        actual,
                        expected
                    )
                }
            }
        }
    };
}
