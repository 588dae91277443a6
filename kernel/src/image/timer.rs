//! The local APIC timer, one-shot: TSC-deadline mode when CPUID offers it (the kernel
//! writes IA32_TSC_DEADLINE itself), else one-shot mode with the APIC timer's rate
//! calibrated against the TSC. QEMU's TCG offers no TSC-deadline timer, so that mode runs
//! only under KVM.

use crate::{apic, tsc};
use core::arch::x86_64::__cpuid;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

/// IA32_TSC_DEADLINE.
const MSR_TSC_DEADLINE: u32 = 0x6e0;

/// How the timer is programmed (the same on every CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    TscDeadline,
    OneShot,
}

static TSC_DEADLINE: AtomicBool = AtomicBool::new(false);
/// APIC timer ticks (after the divider) per second, for one-shot mode.
static APIC_TIMER_HZ: AtomicU64 = AtomicU64::new(0);

topframe_percpu::per_cpu! {
    /// Timer interrupts taken on this CPU.
    static TIMER_INTERRUPTS: u64 = 0;
}

/// The mode in use.
pub fn mode() -> Mode {
    if TSC_DEADLINE.load(Ordering::Relaxed) {
        Mode::TscDeadline
    } else {
        Mode::OneShot
    }
}

/// Choose the mode and calibrate (boot CPU, after the TSC), then set up this CPU.
pub fn init_boot_cpu() {
    let tsc_deadline = __cpuid(1).ecx & (1 << 24) != 0;
    TSC_DEADLINE.store(tsc_deadline, Ordering::Relaxed);
    init_this_cpu();
    if !tsc_deadline {
        APIC_TIMER_HZ.store(calibrate_one_shot(), Ordering::Relaxed);
    }
}

/// Program this CPU's timer mode (masked until armed).
pub fn init_this_cpu() {
    apic::configure_timer(mode() == Mode::TscDeadline);
}

/// APIC timer ticks the calibration counts down.
const CALIBRATION_TICKS: u32 = 100_000;

/// Time a one-shot countdown of CALIBRATION_TICKS by its interrupt. (Reading the current
/// count instead is what Linux does, but QEMU's icount mode aborts on that RDMSR.)
fn calibrate_one_shot() -> u64 {
    let before = TIMER_INTERRUPTS.read();
    let begin = tsc::read();
    apic::set_timer_count(CALIBRATION_TICKS);
    while TIMER_INTERRUPTS.read() == before {
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
    }
    let elapsed_tsc = tsc::read() - begin;
    u64::from(CALIBRATION_TICKS) * tsc::frequency_hz() / elapsed_tsc.max(1)
}

/// The mode and, for one-shot, the calibrated rate, for the boot summary.
pub fn describe() -> alloc::string::String {
    match mode() {
        Mode::TscDeadline => alloc::string::String::from("LAPIC TSC-deadline"),
        Mode::OneShot => alloc::format!(
            "LAPIC one-shot, {} kHz after the divider",
            APIC_TIMER_HZ.load(Ordering::Relaxed) / 1000
        ),
    }
}

/// Interrupt this CPU once the TSC reaches `deadline` (or at once if it has).
pub fn arm(deadline: u64) {
    match mode() {
        Mode::TscDeadline => {
            let mut msr = Msr::new(MSR_TSC_DEADLINE);
            // SAFETY: writing the deadline only schedules the timer interrupt, whose vector
            // has a handler; the timer is in TSC-deadline mode.
            unsafe { msr.write(deadline.max(1)) };
        }
        Mode::OneShot => {
            let delta = deadline.saturating_sub(tsc::read());
            let ticks = u128::from(delta) * u128::from(APIC_TIMER_HZ.load(Ordering::Relaxed))
                / u128::from(tsc::frequency_hz().max(1));
            apic::set_timer_count(ticks.clamp(1, u128::from(u32::MAX)) as u32);
        }
    }
}

/// Stop this CPU's timer (no deadline pending).
pub fn disarm() {
    match mode() {
        Mode::TscDeadline => {
            let mut msr = Msr::new(MSR_TSC_DEADLINE);
            // SAFETY: a zero deadline disarms the TSC-deadline timer.
            unsafe { msr.write(0) };
        }
        Mode::OneShot => apic::set_timer_count(0),
    }
}

/// The timer interrupt: count it, then the scheduler's tick and sleep timers.
pub fn interrupt() {
    TIMER_INTERRUPTS.inc();
    crate::scheduler::timer_interrupt();
}

/// Halt this CPU until the TSC reaches `deadline` (interrupts stay as they were): the
/// self tests' sleep, before the scheduler runs.
#[cfg(feature = "selftest")]
pub fn sleep_until(deadline: u64) {
    let interrupts_were_enabled = x86_64::instructions::interrupts::are_enabled();
    while tsc::read() < deadline {
        x86_64::instructions::interrupts::disable();
        arm(deadline);
        x86_64::instructions::interrupts::enable_and_hlt();
    }
    if !interrupts_were_enabled {
        x86_64::instructions::interrupts::disable();
    }
}

/// Timer interrupts taken on this CPU.
#[cfg(feature = "selftest")]
pub fn interrupts_here() -> u64 {
    TIMER_INTERRUPTS.read()
}
