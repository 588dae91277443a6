//! Clocks and sleeping: clock_gettime, nanosleep, clock_nanosleep.

use super::errno::{EFAULT, EINVAL};
use crate::time::{Clock, Timespec, monotonic_after, monotonic_at, read_timespec};
use crate::user::copy::write_user;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;

/// TIMER_ABSTIME: the request is a time on the clock, not an interval.
const TIMER_ABSTIME: u64 = 1;

/// Sleep until the request passes; the task sleeps (its CPU runs others or halts).
pub fn clock_nanosleep(clock: u64, flags: u64, request: u64, remaining: u64) -> i64 {
    let clock = match clock {
        CLOCK_MONOTONIC | CLOCK_BOOTTIME => Clock::Monotonic,
        CLOCK_REALTIME => Clock::Realtime,
        _ => return -EINVAL,
    };
    let time = match read_timespec(request) {
        Ok(time) => time,
        Err(errno) => return -errno,
    };
    let absolute = flags & TIMER_ABSTIME != 0;
    let deadline = if absolute {
        monotonic_at(clock, time)
    } else {
        monotonic_after(time)
    };
    match crate::scheduler::sleep_until(deadline) {
        Ok(()) => 0,
        Err(_) => {
            // Interrupted: a relative sleep reports what was left, as Linux.
            if !absolute && remaining != 0 {
                let left = deadline.saturating_sub(crate::tsc::nanoseconds());
                let _ = write_user(remaining, &Timespec::from_nanoseconds(left));
            }
            -crate::signal::ERESTARTNOHAND
        }
    }
}

pub fn nanosleep(request: u64, remaining: u64) -> i64 {
    clock_nanosleep(CLOCK_MONOTONIC, 0, request, remaining)
}

pub fn clock_gettime(clock: u64, timespec: u64) -> i64 {
    let nanoseconds = match clock {
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            Clock::Monotonic.now()
        }
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Clock::Realtime.now(),
        _ => return -EINVAL,
    };
    match write_user(timespec, &Timespec::from_nanoseconds(nanoseconds)) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}
