//! Shared set-up of the host tests: every test thread becomes its own "CPU".

use std::sync::atomic::{AtomicUsize, Ordering};

/// The next unused CPU number in this test binary (tests run in parallel threads of one
/// process, so each thread takes a number of its own).
static NEXT_CPU: AtomicUsize = AtomicUsize::new(0);

/// Gives the calling thread a fresh CPU number, a fresh area and the matching GS base;
/// returns the CPU number.
pub fn become_new_cpu() -> usize {
    let cpu = NEXT_CPU.fetch_add(1, Ordering::Relaxed);
    topframe_percpu::install_on_current_thread(cpu).expect("arch_prctl(ARCH_SET_GS)");
    cpu
}
