//! Leaving QEMU with a status the host can read.
//!
//! QEMU's `isa-debug-exit` device turns a write of `v` into the exit status
//! `(v << 1) | 1`, so it cannot express 0 or any even status. The true status therefore
//! goes out first as the console's last line, `topframe: exit status N`, which xtask reads.

use x86_64::instructions::port::Port;

/// I/O port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Status of a kernel panic.
pub const PANIC_STATUS: u32 = 101;

/// Report `status` and power off. Without the exit device, halt for good.
pub fn exit(status: u32) -> ! {
    crate::println!("topframe: exit status {status}");
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: writing the debug-exit port only ends the VM; on a machine without the
    // device the write goes nowhere.
    unsafe { port.write(status) };
    halt_forever()
}

/// Stop this CPU with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
