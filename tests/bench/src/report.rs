//! Output and exit through `int $0x80` (i386 `write` and `exit_group`), so that the
//! program reports on the bench's floor kernel too, where every SYSCALL returns at once.
//!
//! The main thread prints the results; a thread a benchmark started prints only when it
//! fails ([`fail`]). A spin lock keeps the lines whole.
//!
//! i386 `write` takes a 32-bit buffer address (ECX): the line is formatted into a static
//! buffer, which lies below 4 GiB in this static non-PIE executable (loaded at 0x200000).

use core::arch::asm;
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

/// i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`).
const I386_EXIT_GROUP: u32 = 252;
const I386_WRITE: u32 = 4;

/// Standard output.
const STDOUT: u32 = 1;

/// Longer lines are cut (no line of this program comes near it).
const LINE_CAPACITY: usize = 256;

/// A static buffer: below 4 GiB, unlike the stack.
struct LineBuffer(UnsafeCell<[u8; LINE_CAPACITY]>);

// SAFETY: [`print_line`] is the buffer's only user, and it holds [`LINE_LOCK`] while it
// uses it.
unsafe impl Sync for LineBuffer {}

/// The one line being formatted.
static LINE: LineBuffer = LineBuffer(UnsafeCell::new([0; LINE_CAPACITY]));

/// Held by the thread formatting and writing [`LINE`].
static LINE_LOCK: AtomicBool = AtomicBool::new(false);

/// Formats into [`LINE`].
struct LineWriter {
    line: &'static mut [u8; LINE_CAPACITY],
    len: usize,
}

impl Write for LineWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = LINE_CAPACITY - self.len;
        let taken = text.len().min(room);
        self.line[self.len..self.len + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.len += taken;
        Ok(())
    }
}

/// Prints `args` and a newline on fd 1 through i386 `write`; one thread at a time.
pub fn print_line(args: fmt::Arguments) {
    while LINE_LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    write_line(args);
    LINE_LOCK.store(false, Ordering::Release);
}

/// [`print_line`]'s work, with [`LINE_LOCK`] held.
fn write_line(args: fmt::Arguments) {
    // SAFETY: this is the only place that touches LINE, and its caller holds LINE_LOCK
    // until this returns: no other reference to it exists while this one lives.
    let line = unsafe { &mut *LINE.0.get() };
    let mut writer = LineWriter { line, len: 0 };
    // LineWriter::write_str never fails (it cuts).
    let _ = writer.write_fmt(args);
    let _ = writer.write_str("\n");
    let mut pending = &writer.line[..writer.len];
    while !pending.is_empty() {
        let written = i386_write(pending);
        if written <= 0 {
            // Nowhere else to report it.
            break;
        }
        pending = &pending[written as usize..];
    }
}

/// i386 `write(1, bytes)`: the count written or `-errno`.
fn i386_write(bytes: &[u8]) -> i64 {
    let result: i64;
    // SAFETY: write only reads `bytes`, which lies in LINE, below 4 GiB, so its address
    // fits ECX.
    unsafe {
        asm!(
            "xchg {fd:r}, rbx",     // EBX = fd; LLVM reserves RBX, so swap it in...
            "int 0x80",             // i386 system call: EAX = number, EBX, ECX, EDX
            "xchg {fd:r}, rbx",     // ...and back
            fd = inout(reg) u64::from(STDOUT) => _,
            inlateout("rax") u64::from(I386_WRITE) => result,
            in("rcx") bytes.as_ptr() as u64,
            in("rdx") bytes.len() as u64,
            options(nostack),
        );
    }
    result
}

/// Ends the process, every thread of it, with `status` through i386 `exit_group` (a
/// failure may leave a benchmark's thread running: plain `exit` would end only this one).
pub fn exit(status: u8) -> ! {
    // SAFETY: exit_group ends the process; RBX is never needed again.
    unsafe {
        asm!(
            "mov ebx, {status:e}",  // EBX = status
            "int 0x80",             // i386 exit_group: does not return
            "ud2",                  // (if it ever did: trap)
            status = in(reg) u32::from(status),
            in("eax") I386_EXIT_GROUP,
            options(noreturn, nostack),
        )
    }
}

/// Reports `bench error: MESSAGE` and ends the process with status 1: a benchmark found
/// the kernel misbehaving (its figure would mean nothing).
pub fn fail(message: fmt::Arguments) -> ! {
    print_line(format_args!("bench error: {message}"));
    exit(1)
}

/// Like std's `println!`, through [`print_line`].
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::report::print_line(format_args!($($arg)*))
    };
}
pub(crate) use println;

/// Fails the program with `bench error: NAME: MESSAGE` ([`fail`]): benchmark NAME found
/// the kernel misbehaving.
macro_rules! bench_fail {
    ($name:literal, $($message:tt)*) => {
        $crate::report::fail(format_args!("{}: {}", $name, format_args!($($message)*)))
    };
}
pub(crate) use bench_fail;
