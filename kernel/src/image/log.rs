//! The structured log: `defmt` frames on COM2, decoded on the host by `cargo xtask`.
//!
//! Every frame carries the TSC and the CPU number as its timestamp. The level is fixed
//! at build time by `DEFMT_LOG`, as defmt does.

use crate::serial::{COM2, legacy_port};
use core::sync::atomic::{AtomicBool, Ordering};
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};
use x86_64::instructions::interrupts;

defmt::timestamp!(
    "{=u64} cpu{=usize}",
    crate::tsc::read(),
    topframe_percpu::cpu_id()
);

/// The logger state, owned by whichever CPU holds [`TAKEN`].
struct LogPort {
    uart: Uart16550<PioBackend>,
    encoder: defmt::Encoder,
    interrupts_were_enabled: bool,
}

/// Set while a CPU writes a frame.
static TAKEN: AtomicBool = AtomicBool::new(false);

// Only touched through `with_port`, by the CPU holding TAKEN.
static mut LOG_PORT: LogPort = LogPort {
    uart: legacy_port(COM2),
    encoder: defmt::Encoder::new(),
    interrupts_were_enabled: false,
};

/// Program COM2. Called once by the boot CPU before the first log frame.
pub fn init() {
    with_port(|port| {
        // Without COM2 the frames are lost, which is all that can be done.
        let _ = port.uart.init(Config::default());
    });
}

/// Run `f` on the port; only between acquire and release, or before other CPUs run.
fn with_port<R>(f: impl FnOnce(&mut LogPort) -> R) -> R {
    // SAFETY: callers hold TAKEN (or run alone during early boot), so this is the only
    // reference to LOG_PORT.
    f(unsafe { &mut *core::ptr::addr_of_mut!(LOG_PORT) })
}

#[defmt::global_logger]
struct Logger;

// SAFETY: acquire/release bracket every frame and exclude other CPUs (TAKEN) and
// interrupt handlers on this CPU (interrupts off); write only runs in between.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let interrupts_were_enabled = interrupts::are_enabled();
        interrupts::disable();
        while TAKEN
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        with_port(|port| {
            port.interrupts_were_enabled = interrupts_were_enabled;
            let uart = &mut port.uart;
            port.encoder
                .start_frame(|bytes| uart.send_bytes_exact(bytes));
        });
    }

    unsafe fn flush() {}

    unsafe fn release() {
        let interrupts_were_enabled = with_port(|port| {
            let uart = &mut port.uart;
            port.encoder.end_frame(|bytes| uart.send_bytes_exact(bytes));
            port.interrupts_were_enabled
        });
        TAKEN.store(false, Ordering::Release);
        if interrupts_were_enabled {
            interrupts::enable();
        }
    }

    unsafe fn write(bytes: &[u8]) {
        with_port(|port| {
            let uart = &mut port.uart;
            port.encoder
                .write(bytes, |bytes| uart.send_bytes_exact(bytes));
        });
    }
}
