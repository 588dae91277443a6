//! The clocks user programs see, and turning their times into TSC deadlines for the
//! sleep timers. CLOCK_MONOTONIC counts from boot (the TSC); CLOCK_REALTIME adds the
//! RTC's time at boot.

use crate::syscall::errno::{EFAULT, EINVAL};
use crate::tsc;
use crate::user::copy::read_user;

pub const NANOSECONDS_PER_SECOND: u64 = 1_000_000_000;

/// A clock a deadline can be given on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Realtime,
    Monotonic,
}

impl Clock {
    /// The clock's reading now, in nanoseconds.
    pub fn now(self) -> u64 {
        match self {
            Clock::Monotonic => tsc::nanoseconds(),
            Clock::Realtime => tsc::nanoseconds() + tsc::boot_unix_nanoseconds(),
        }
    }
}

/// `struct timespec`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Timespec {
    pub seconds: i64,
    pub nanoseconds: i64,
}

impl Timespec {
    pub fn from_nanoseconds(nanoseconds: u64) -> Timespec {
        Timespec {
            seconds: (nanoseconds / NANOSECONDS_PER_SECOND) as i64,
            nanoseconds: (nanoseconds % NANOSECONDS_PER_SECOND) as i64,
        }
    }
}

/// Read a timespec from user memory as a count of nanoseconds: -EFAULT if it cannot be
/// read, -EINVAL if negative or with nanoseconds outside 0..1e9 (Linux's checks).
pub fn read_timespec(address: u64) -> Result<u64, i64> {
    let time = read_user::<Timespec>(address).map_err(|_| EFAULT)?;
    if time.seconds < 0 || !(0..NANOSECONDS_PER_SECOND as i64).contains(&time.nanoseconds) {
        return Err(EINVAL);
    }
    Ok((time.seconds as u64)
        .saturating_mul(NANOSECONDS_PER_SECOND)
        .saturating_add(time.nanoseconds as u64))
}

/// The monotonic time `interval` nanoseconds from now.
pub fn monotonic_after(interval: u64) -> u64 {
    tsc::nanoseconds().saturating_add(interval)
}

/// The monotonic time at which `clock` reads `time`.
pub fn monotonic_at(clock: Clock, time: u64) -> u64 {
    match clock {
        Clock::Monotonic => time,
        Clock::Realtime => time.saturating_sub(tsc::boot_unix_nanoseconds()),
    }
}

/// The TSC deadline `interval` nanoseconds from now.
pub fn deadline_after(interval: u64) -> u64 {
    tsc::from_nanoseconds(monotonic_after(interval))
}

/// The TSC deadline at which `clock` reads `time`.
pub fn deadline_at(clock: Clock, time: u64) -> u64 {
    tsc::from_nanoseconds(monotonic_at(clock, time))
}
