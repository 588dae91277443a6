//! Clocks and sleeps: `clock_gettime`, `nanosleep` and `clock_nanosleep` with a
//! [`Timespec`].

use crate::nr;
use crate::syscall::{syscall2, syscall4};

/// The wall clock.
pub const CLOCK_REALTIME: u64 = 0;
/// The clock that never goes back (the one futex timeouts and `nanosleep` use).
pub const CLOCK_MONOTONIC: u64 = 1;
/// `clock_nanosleep` flag: the request is an absolute time, not an interval.
pub const TIMER_ABSTIME: u64 = 1;

/// Nanoseconds in a second.
pub const NANOSECONDS_PER_SECOND: i64 = 1_000_000_000;
/// Nanoseconds in a millisecond.
pub const NANOSECONDS_PER_MILLISECOND: i64 = 1_000_000;

/// `struct timespec` (`__kernel_timespec` on x86_64): seconds and nanoseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    pub seconds: i64,
    pub nanoseconds: i64,
}

impl Timespec {
    /// Zero seconds.
    pub const ZERO: Self = Self {
        seconds: 0,
        nanoseconds: 0,
    };

    /// The interval `nanoseconds` long (normalised: `nanoseconds` field below 10^9).
    pub const fn from_nanos(nanoseconds: i64) -> Self {
        Self {
            seconds: nanoseconds.div_euclid(NANOSECONDS_PER_SECOND),
            nanoseconds: nanoseconds.rem_euclid(NANOSECONDS_PER_SECOND),
        }
    }

    /// The interval `milliseconds` long.
    pub const fn from_millis(milliseconds: i64) -> Self {
        Self::from_nanos(milliseconds * NANOSECONDS_PER_MILLISECOND)
    }

    /// This time in nanoseconds (a clock reading since its epoch, or an interval).
    pub const fn as_nanos(self) -> i64 {
        self.seconds * NANOSECONDS_PER_SECOND + self.nanoseconds
    }

    /// This time plus `nanoseconds`.
    pub const fn plus_nanos(self, nanoseconds: i64) -> Self {
        Self::from_nanos(self.as_nanos() + nanoseconds)
    }
}

/// `clock_gettime(clock)`; fails the program if the call fails or returns a malformed
/// time (negative, or `tv_nsec` outside 0..10^9).
pub fn clock_gettime(clock: u64) -> Timespec {
    let mut time = Timespec::ZERO;
    // SAFETY: clock_gettime writes the 16-byte struct timespec, a local.
    let result = unsafe { syscall2(nr::CLOCK_GETTIME, clock, &raw mut time as u64) };
    if result != 0 {
        crate::runtime::fail_in_library(format_args!("clock_gettime({clock}) returned {result}"));
    }
    if time.seconds < 0 || !(0..NANOSECONDS_PER_SECOND).contains(&time.nanoseconds) {
        crate::runtime::fail_in_library(format_args!("clock_gettime({clock}) returned {time:?}"));
    }
    time
}

/// `CLOCK_MONOTONIC` now.
pub fn monotonic() -> Timespec {
    clock_gettime(CLOCK_MONOTONIC)
}

/// `CLOCK_MONOTONIC` now, in nanoseconds.
pub fn monotonic_nanos() -> i64 {
    monotonic().as_nanos()
}

/// `nanosleep(request, NULL)`: 0, or `-errno`.
pub fn nanosleep(request: &Timespec) -> i64 {
    // SAFETY: nanosleep reads the request; with a NULL remainder it writes nothing.
    unsafe { syscall2(nr::NANOSLEEP, request as *const Timespec as u64, 0) }
}

/// `clock_nanosleep(clock, flags, request, NULL)`: 0, or `-errno` (the raw syscall returns
/// the error negated, as every other; only the libc wrapper returns it positive).
pub fn clock_nanosleep(clock: u64, flags: u64, request: &Timespec) -> i64 {
    // SAFETY: clock_nanosleep reads the request; with a NULL remainder it writes nothing.
    unsafe {
        syscall4(
            nr::CLOCK_NANOSLEEP,
            clock,
            flags,
            request as *const Timespec as u64,
            0,
        )
    }
}

/// Sleeps for `milliseconds` (`nanosleep`); fails the program if the call fails.
pub fn sleep_millis(milliseconds: i64) {
    let result = nanosleep(&Timespec::from_millis(milliseconds));
    if result != 0 {
        crate::runtime::fail_in_library(format_args!(
            "nanosleep({milliseconds} ms) returned {result}"
        ));
    }
}
