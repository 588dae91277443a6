//! The console: COM1 (a 16550 UART, through `uart_16550`), shared by every CPU under one
//! lock, taken with interrupts off so that lines never interleave.

use core::fmt::{self, Write};
use spin::{Mutex, Once};
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550Tty};
use x86_64::instructions::interrupts::without_interrupts;

/// I/O port base of COM1.
const COM1: u16 = 0x3f8;

static CONSOLE: Once<Mutex<Uart16550Tty<PioBackend>>> = Once::new();

/// Program COM1 (115200 8N1). The boot CPU calls it first thing.
pub fn init() {
    CONSOLE.call_once(|| {
        // SAFETY: COM1's eight ports belong to this module alone, for the whole run.
        let uart = unsafe { Uart16550Tty::new_port(COM1, Config::default()) };
        // Nothing could print the reason: without a console there is no report anyway.
        Mutex::new(uart.unwrap_or_else(|_| crate::power_off(1)))
    });
}

/// Write formatted text (`\n` becomes `\r\n`).
pub fn print(arguments: fmt::Arguments) {
    without_interrupts(|| {
        if let Some(console) = CONSOLE.get() {
            // Writing to the UART cannot fail.
            let _ = console.lock().write_fmt(arguments);
        }
    });
}

/// Write `length` bytes of user memory at `address` (the caller checked the range).
///
/// # Safety
/// `address..address + length` is mapped user memory (see [`crate::user::contains`]).
pub unsafe fn write_user_bytes(address: u64, length: u64) {
    without_interrupts(|| {
        let Some(console) = CONSOLE.get() else { return };
        let mut console = console.lock();
        for offset in 0..length {
            // SAFETY: inside the range the caller vouches for. Volatile: the user may change
            // the bytes meanwhile (another thread of the program), which only changes
            // what is printed.
            let byte = unsafe { ((address + offset) as *const u8).read_volatile() };
            if byte == b'\n' {
                console.inner_mut().send_bytes_exact(b"\r");
            }
            console.inner_mut().send_bytes_exact(&[byte]);
        }
    });
}

/// Write a panic report, even when this CPU stopped while holding the console.
pub fn print_panic(arguments: fmt::Arguments) {
    if let Some(console) = CONSOLE.get()
        && console.is_locked()
    {
        // SAFETY: the kernel is going down; a garbled line beats a hang.
        unsafe { console.force_unlock() };
    }
    print(arguments);
}

/// `println!` to the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
