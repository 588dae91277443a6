//! The console: plain text on COM1 (16550 UART), shared by every CPU.
//!
//! Each `println!` takes the console lock with interrupts off, so lines from different
//! CPUs never interleave. The panic path can take the console over from a CPU that
//! stopped while holding it.

use crate::serial::{COM1, legacy_port};
use crate::sync::IrqSafeLock;
use core::fmt::{self, Write};
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};

/// The console UART: writes text, turning `\n` into `\r\n`.
pub struct Console {
    uart: Uart16550<PioBackend>,
}

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for (index, line) in text.split('\n').enumerate() {
            if index > 0 {
                self.uart.send_bytes_exact(b"\r\n");
            }
            self.uart.send_bytes_exact(line.as_bytes());
        }
        Ok(())
    }
}

static CONSOLE: IrqSafeLock<Console> = IrqSafeLock::new(Console {
    uart: legacy_port(COM1),
});

/// Program the UART (115200 8N1, FIFOs on). Called once by the boot CPU.
pub fn init() {
    // A missing UART cannot be reported anywhere; the kernel runs on without a console.
    let _ = CONSOLE.lock().uart.init(Config::default());
}

/// Write formatted text to the console.
pub fn print(arguments: fmt::Arguments) {
    // Writing to the UART cannot fail.
    let _ = CONSOLE.lock().write_fmt(arguments);
}

/// Write raw bytes (user output that is not UTF-8) to the console.
pub fn print_bytes(bytes: &[u8]) {
    CONSOLE.lock().uart.send_bytes_exact(bytes);
}

/// Write a panic report even if the console lock is held by a CPU that will never
/// release it (the panicking CPU itself, or one that stopped).
pub fn print_for_panic(arguments: fmt::Arguments) {
    if CONSOLE.is_locked() {
        // SAFETY: the kernel is going down; whoever held the console is not coming back
        // to it before power-off, and a garbled line is better than a hang.
        unsafe { CONSOLE.force_unlock() };
    }
    print(arguments);
}

/// `print!` to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// `println!` to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
