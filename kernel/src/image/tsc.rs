//! The time-stamp counter: reading it, and its frequency.
//!
//! The frequency comes from CPUID leaf 0x15 (crystal ratio), else the hypervisor timing
//! leaf 0x40000010, else leaf 0x16 (base MHz), else a 10 ms calibration against PIT
//! channel 2. Under QEMU's TCG with `-icount shift=0` the TSC counts executed
//! instructions and the PIT follows the same virtual clock, so calibration reads 1 GHz.

use core::arch::x86_64::{__cpuid, _rdtsc};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

/// Where the frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    CrystalRatio,
    Hypervisor,
    BaseFrequency,
    PitCalibration,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::CrystalRatio => "CPUID 0x15",
            Source::Hypervisor => "CPUID 0x40000010",
            Source::BaseFrequency => "CPUID 0x16",
            Source::PitCalibration => "PIT calibration",
        }
    }
}

static FREQUENCY_HZ: AtomicU64 = AtomicU64::new(0);

/// The Unix time at TSC 0, in nanoseconds (set from the RTC at boot).
static BOOT_UNIX_NANOSECONDS: AtomicU64 = AtomicU64::new(0);

/// The TSC now.
pub fn read() -> u64 {
    // SAFETY: RDTSC is unprivileged here (CR4.TSD clear) and has no side effects.
    unsafe { _rdtsc() }
}

/// The measured frequency in Hz (0 before [`calibrate`]).
pub fn frequency_hz() -> u64 {
    FREQUENCY_HZ.load(Ordering::Relaxed)
}

/// Busy-wait at least `microseconds`.
pub fn delay_us(microseconds: u64) {
    let ticks = (u128::from(frequency_hz().max(1_000_000)) * u128::from(microseconds))
        .div_ceil(1_000_000) as u64;
    let start = read();
    while read().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Find the TSC frequency and the wall-clock time. Run once on the boot CPU.
pub fn calibrate() -> Source {
    let (hz, source) = from_cpuid().unwrap_or_else(|| (pit_calibration(), Source::PitCalibration));
    FREQUENCY_HZ.store(hz, Ordering::Relaxed);
    let unix = crate::rtc::unix_seconds() * 1_000_000_000;
    BOOT_UNIX_NANOSECONDS.store(unix.saturating_sub(nanoseconds()), Ordering::Relaxed);
    source
}

/// Nanoseconds since TSC 0 (the monotonic clock).
pub fn nanoseconds() -> u64 {
    to_nanoseconds(read())
}

/// Nanoseconds on the monotonic clock at TSC value `ticks` (or of a TSC interval).
pub fn to_nanoseconds(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(frequency_hz().max(1))) as u64
}

/// The TSC value at `nanoseconds` on the monotonic clock.
pub fn from_nanoseconds(nanoseconds: u64) -> u64 {
    (u128::from(nanoseconds) * u128::from(frequency_hz()) / 1_000_000_000).min(u128::from(u64::MAX))
        as u64
}

/// The Unix time at TSC 0, in nanoseconds: REALTIME = this + [`nanoseconds`].
pub fn boot_unix_nanoseconds() -> u64 {
    BOOT_UNIX_NANOSECONDS.load(Ordering::Relaxed)
}

fn from_cpuid() -> Option<(u64, Source)> {
    let max_leaf = __cpuid(0).eax;
    if max_leaf >= 0x15 {
        let leaf = __cpuid(0x15);
        if leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0 {
            let hz = u64::from(leaf.ecx) * u64::from(leaf.ebx) / u64::from(leaf.eax);
            return Some((hz, Source::CrystalRatio));
        }
    }
    // Hypervisor present (CPUID.1:ECX[31]) with a timing leaf.
    if __cpuid(1).ecx & (1 << 31) != 0 && __cpuid(0x4000_0000).eax >= 0x4000_0010 {
        let khz = __cpuid(0x4000_0010).eax;
        if khz != 0 {
            return Some((u64::from(khz) * 1000, Source::Hypervisor));
        }
    }
    if max_leaf >= 0x16 {
        let mhz = __cpuid(0x16).eax & 0xffff;
        if mhz != 0 {
            return Some((u64::from(mhz) * 1_000_000, Source::BaseFrequency));
        }
    }
    None
}

/// PIT input clock, Hz.
const PIT_HZ: u64 = 1_193_182;
/// Calibration interval.
const CALIBRATION_MS: u64 = 10;

/// Count TSC ticks while PIT channel 2 counts down 10 ms (mode 0, gate via port 0x61).
fn pit_calibration() -> u64 {
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    let count = PIT_HZ * CALIBRATION_MS / 1000;
    // SAFETY: the PIT and port 0x61 are standard PC devices the kernel owns; channel 2
    // drives only the speaker, which stays off (bit 1 clear).
    unsafe {
        let gate_bits = gate.read();
        gate.write((gate_bits & !0x02) | 0x01); // speaker off, channel-2 gate high
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write(count as u8);
        channel2.write((count >> 8) as u8);
        let start = read();
        // OUT2 (bit 5) goes high when the count reaches zero.
        while gate.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
        let ticks = read() - start;
        ticks * 1000 / CALIBRATION_MS
    }
}
