//! Output and exit: `write` to fd 1, a formatter that needs no allocation, and the
//! `PASS` / `FAIL` lines that end every program.

use core::fmt;

use crate::nr;
use crate::syscall::{syscall1, syscall3};

/// Standard output.
const STDOUT: u64 = 1;

/// `write(fd, bytes)`: the count written or `-errno`.
pub fn write(fd: u64, bytes: &[u8]) -> i64 {
    // SAFETY: write only reads `bytes`, which is valid for its length.
    unsafe { syscall3(nr::WRITE, fd, bytes.as_ptr() as u64, bytes.len() as u64) }
}

/// Ends the process, every thread of it, with `status` (`exit_group`).
pub fn exit_group(status: u8) -> ! {
    // SAFETY: exit_group ends the process; nothing runs after it.
    unsafe { syscall1(nr::EXIT_GROUP, u64::from(status)) };
    unreachable!("exit_group returned")
}

/// A formatter into a buffer on the stack, written to fd 1 whenever it fills up and when
/// [`flush`](Console::flush)ed: a line up to the buffer's size costs one `write`.
struct Console {
    buffer: [u8; 512],
    len: usize,
}

impl Console {
    /// An empty buffer.
    const fn new() -> Self {
        Self {
            buffer: [0; 512],
            len: 0,
        }
    }

    /// Writes out what the buffer holds. Output is best effort: a failed write is dropped
    /// (there is nowhere else to report it).
    fn flush(&mut self) {
        let mut pending = &self.buffer[..self.len];
        while !pending.is_empty() {
            let written = write(STDOUT, pending);
            if written <= 0 {
                break;
            }
            pending = &pending[written as usize..];
        }
        self.len = 0;
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.len == self.buffer.len() {
                self.flush();
            }
            self.buffer[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

/// Formats `args` and writes the result to fd 1 (used by [`println!`](crate::println)).
pub fn print(args: fmt::Arguments) {
    let mut console = Console::new();
    // Console::write_str never fails.
    let _ = fmt::write(&mut console, args);
    console.flush();
}

/// Prints `FAIL <program>: <message>` and exits with status 1.
pub fn fail_with(program: &str, message: fmt::Arguments) -> ! {
    print(format_args!("FAIL {program}: {message}\n"));
    exit_group(1)
}

/// Prints `PASS <program>` and exits with status 0.
pub(crate) fn pass(program: &str) -> ! {
    print(format_args!("PASS {program}\n"));
    exit_group(0)
}

/// Like std's `println!`: formats a line to fd 1.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
