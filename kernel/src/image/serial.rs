//! The PC's legacy 16550 serial ports: COM1 carries the console, COM2 the defmt log.

use uart_16550::Uart16550;
use uart_16550::backend::PioBackend;

/// I/O port base of COM1.
pub const COM1: u16 = 0x3f8;
/// I/O port base of COM2.
pub const COM2: u16 = 0x2f8;

/// The UART at a legacy port base (not yet programmed: call `init` before use).
pub const fn legacy_port(base: u16) -> Uart16550<PioBackend> {
    // SAFETY: COM1 and COM2 are the PC's fixed serial-port bases; each is owned by one
    // module (console, log) that serialises access to it with a lock.
    match unsafe { Uart16550::new_port(base) } {
        Ok(uart) => uart,
        Err(_) => panic!("legacy serial port bases are valid"),
    }
}
