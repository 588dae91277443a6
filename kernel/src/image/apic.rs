//! The local APIC through the `x2apic` crate: x2APIC mode where CPUID offers it, xAPIC
//! (MMIO) otherwise. One mode for the whole machine, chosen on the boot CPU.

use crate::memory::paging::{self, PageKind};
use spin::Once;
use x2apic::lapic::{LocalApic, LocalApicBuilder, TimerDivide, TimerMode, xapic_base};

/// Spurious-interrupt vector (no EOI for it).
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// APIC error vector.
pub const ERROR_VECTOR: u8 = 0xfe;
/// LAPIC timer vector.
pub const TIMER_VECTOR: u8 = 0xef;

/// The APIC interface in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    X2Apic,
    /// xAPIC, registers at this virtual address.
    XApic {
        registers: u64,
    },
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::X2Apic => "x2apic",
            Mode::XApic { .. } => "xapic",
        }
    }
}

static MODE: Once<Mode> = Once::new();

/// Choose the mode (boot CPU, once): x2APIC if CPUID has it, else map the xAPIC page.
pub fn choose_mode(x2apic: bool) -> Mode {
    *MODE.call_once(|| {
        if x2apic {
            Mode::X2Apic
        } else {
            // SAFETY: reading IA32_APIC_BASE has no side effects.
            let physical = unsafe { xapic_base() } & !0xfff;
            Mode::XApic {
                registers: paging::map_physical(physical, 0x1000, PageKind::Device),
            }
        }
    })
}

/// The mode chosen on the boot CPU.
pub fn mode() -> Mode {
    *MODE.get().expect("APIC mode chosen on the boot CPU first")
}

/// This CPU's local APIC. `LocalApic` is a handle to the registers of whichever CPU
/// uses it, so a fresh one is built where needed (it holds no state of its own).
fn local_apic() -> LocalApic {
    let mut builder = LocalApicBuilder::new();
    builder
        .spurious_vector(usize::from(SPURIOUS_VECTOR))
        .error_vector(usize::from(ERROR_VECTOR))
        .timer_vector(usize::from(TIMER_VECTOR));
    if let Mode::XApic { registers } = mode() {
        builder.set_xapic_base(registers);
    }
    builder
        .build()
        .expect("the chosen APIC mode is available on every CPU")
}

/// Enable this CPU's local APIC (timer masked until the scheduler wants it).
pub fn enable_this_cpu() {
    let mut apic = local_apic();
    // SAFETY: enabling the APIC in the mode CPUID offers; every vector it may deliver
    // has an IDT entry. The timer is stopped right after.
    unsafe {
        apic.enable();
        apic.disable_timer();
    }
}

/// This CPU's APIC ID.
pub fn id() -> u32 {
    // SAFETY: reading the ID register has no side effects.
    let raw = unsafe { local_apic().id() };
    match mode() {
        Mode::X2Apic => raw,
        // The xAPIC ID register holds the ID in bits 31..24.
        Mode::XApic { .. } => raw >> 24,
    }
}

/// The ICR destination field for `apic_id`: the crate writes it to ICR bits 63..32,
/// which x2APIC uses whole; xAPIC takes the ID from bits 63..56.
fn destination(apic_id: u32) -> u32 {
    match mode() {
        Mode::X2Apic => apic_id,
        Mode::XApic { .. } => apic_id << 24,
    }
}

/// Wait until the last IPI left (xAPIC has a delivery-status bit; x2APIC sends at once).
fn wait_for_delivery(apic: &LocalApic) {
    if let Mode::XApic { .. } = mode() {
        // SAFETY: reading the ICR has no side effects.
        while unsafe { apic.get_ipi_delivery_status() } {
            core::hint::spin_loop();
        }
    }
}

/// Send INIT to the CPU with `apic_id`.
pub fn send_init(apic_id: u32) {
    let mut apic = local_apic();
    // SAFETY: INIT resets only the target CPU, which is not running yet.
    unsafe { apic.send_init_ipi(destination(apic_id)) };
    wait_for_delivery(&apic);
}

/// Send a start-up IPI: the target starts in real mode at `vector * 4096`.
pub fn send_startup(apic_id: u32, vector: u8) {
    let mut apic = local_apic();
    // SAFETY: the target waits for SIPI after INIT; the trampoline is at vector * 4096.
    unsafe { apic.send_sipi(vector, destination(apic_id)) };
    wait_for_delivery(&apic);
}

/// Acknowledge the interrupt being handled.
pub fn end_of_interrupt() {
    // SAFETY: called from an interrupt handler for a delivered, non-spurious vector.
    unsafe { local_apic().end_of_interrupt() };
}

/// Put this CPU's timer in TSC-deadline or one-shot mode (divide by 16), unmasked, not
/// running.
pub fn configure_timer(tsc_deadline: bool) {
    let mut apic = local_apic();
    let mode = if tsc_deadline {
        TimerMode::TscDeadline
    } else {
        TimerMode::OneShot
    };
    // SAFETY: the timer vector has a handler; a zero initial count keeps it from firing.
    unsafe {
        apic.set_timer_mode(mode);
        apic.set_timer_divide(TimerDivide::Div16);
        apic.set_timer_initial(0);
        apic.enable_timer();
    }
}

/// Start the one-shot timer counting down from `count` (0 stops it).
pub fn set_timer_count(count: u32) {
    // SAFETY: writing the initial count only (re)starts the countdown.
    unsafe { local_apic().set_timer_initial(count) };
}

/// Send a non-maskable interrupt to the CPU with `apic_id` (the watchdog's report).
pub fn send_nmi(apic_id: u32) {
    let mut apic = local_apic();
    // SAFETY: the NMI handler only reports where the CPU was, then returns.
    unsafe { apic.send_nmi(destination(apic_id)) };
    wait_for_delivery(&apic);
}

/// Send `vector` to the CPU with `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) {
    let mut apic = local_apic();
    // SAFETY: every vector the kernel sends has a handler on every CPU.
    unsafe { apic.send_ipi(vector, destination(apic_id)) };
    wait_for_delivery(&apic);
}
