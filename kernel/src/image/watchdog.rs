//! The watchdog (command line `watchdog`, for stress runs): a kernel thread that asks every
//! CPU for a heartbeat once a second. A CPU that cannot answer for two rounds (it spins
//! with interrupts off: a deadlock) is reported with an NMI, which prints where it is,
//! and the machine powers off with status 3 instead of hanging.

use crate::{apic, power, scheduler, smp, tsc};
use core::sync::atomic::{AtomicU64, Ordering};
use topframe_kernel::MAX_CPUS;

/// The heartbeat request.
pub const HEARTBEAT_VECTOR: u8 = 0xfa;

/// How long a CPU has to answer.
const PERIOD_NS: u64 = 1_000_000_000;

/// The exit status of a machine the watchdog stopped.
const STUCK_STATUS: u32 = 3;

/// Heartbeats answered, per CPU.
static HEARTBEATS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// The heartbeat interrupt: this CPU takes interrupts.
pub fn heartbeat() {
    HEARTBEATS[topframe_percpu::cpu_id()].fetch_add(1, Ordering::Relaxed);
}

/// Start the watchdog thread.
pub fn start() {
    crate::task::spawn_kernel_thread(watch, 0);
}

/// The watchdog's own test (command line `stall_cpu=N`, self-test kernels): the calling
/// kernel thread moves to CPU `cpu` and spins there with interrupts off for ever, as a
/// deadlocked CPU would.
#[cfg(feature = "selftest")]
pub fn stall(cpu: usize) -> ! {
    crate::println!("watchdog test: stalling CPU {cpu} with interrupts off");
    move_to(cpu);
    x86_64::instructions::interrupts::disable();
    loop {
        core::hint::spin_loop();
    }
}

/// Move the running kernel thread to `cpu`, and stay there.
fn move_to(cpu: usize) {
    let mut only = topframe_sched::CpuSet::new();
    only.insert(cpu);
    let task = crate::task::current_handle();
    let reschedule = x86_64::instructions::interrupts::without_interrupts(|| {
        scheduler::scheduler().set_affinity(&task, only, topframe_percpu::cpu_id())
    });
    if reschedule.is_ok_and(|reschedule| reschedule != topframe_sched::Reschedule::NotNeeded) {
        scheduler::schedule();
    }
}

/// The watchdog thread, on CPU 0 (whose own hang it cannot report).
fn watch(_: u64) -> ! {
    move_to(0);
    let cpus = smp::online();
    let mut seen = [0u64; MAX_CPUS];
    let mut silent_rounds = [0u32; MAX_CPUS];
    loop {
        for cpu in cpus.iter() {
            apic::send_ipi(smp::apic_id(cpu), HEARTBEAT_VECTOR);
        }
        // An interrupted sleep is only the kernel thread's own teardown, which never
        // comes: go round again either way.
        let _ = scheduler::sleep_until(tsc::nanoseconds() + PERIOD_NS);
        for cpu in cpus.iter() {
            let beats = HEARTBEATS[cpu].load(Ordering::Relaxed);
            if beats == seen[cpu] {
                silent_rounds[cpu] += 1;
            } else {
                silent_rounds[cpu] = 0;
                seen[cpu] = beats;
            }
        }
        let stuck: alloc::vec::Vec<usize> =
            cpus.iter().filter(|&cpu| silent_rounds[cpu] >= 2).collect();
        if !stuck.is_empty() {
            for &cpu in &stuck {
                crate::println!("watchdog: CPU {cpu} has not taken an interrupt for 2 s");
                apic::send_nmi(smp::apic_id(cpu));
            }
            tsc::delay_us(100_000); // time for the NMI reports
            power::exit(STUCK_STATUS);
        }
    }
}
