//! The panic handler: message, location and CPU on the console, then power-off with
//! [`PANIC_STATUS`](crate::power::PANIC_STATUS).

use crate::console::print_for_panic;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

/// Set by the first CPU that panics; a second panic (on any CPU) only halts.
static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    if PANICKING.swap(true, Ordering::SeqCst) {
        crate::power::halt_forever();
    }
    let cpu = topframe_percpu::cpu_id();
    match info.location() {
        Some(location) => print_for_panic(format_args!(
            "KERNEL PANIC on CPU {cpu} at {}:{}: {}\n",
            location.file(),
            location.line(),
            info.message()
        )),
        None => print_for_panic(format_args!(
            "KERNEL PANIC on CPU {cpu}: {}\n",
            info.message()
        )),
    }
    crate::power::exit(crate::power::PANIC_STATUS)
}
