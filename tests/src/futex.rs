//! `futex(2)`: FUTEX_WAIT and FUTEX_WAKE on a 32-bit word, private (this process only,
//! `FUTEX_PRIVATE_FLAG`) or shared.
//!
//! Linux keys a private futex and a shared one on the same anonymous page differently
//! (`FUT_OFF_MMSHARED`): a private wake does not wake a shared waiter, nor the other way
//! round. The kernel's own wake on thread exit (`CLONE_CHILD_CLEARTID`) is a shared
//! FUTEX_WAKE, which is why [`crate::thread`] joins with [`wait_shared`].

use core::sync::atomic::AtomicU32;

use crate::nr;
use crate::syscall::{syscall4, syscall6};
use crate::time::Timespec;

/// Sleep while the word holds the expected value (relative timeout, CLOCK_MONOTONIC).
pub const FUTEX_WAIT: u32 = 0;
/// Wake up to `value` waiters.
pub const FUTEX_WAKE: u32 = 1;
/// The word is private to this process (added to an operation).
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
/// FUTEX_WAIT, private.
pub const FUTEX_WAIT_PRIVATE: u32 = FUTEX_WAIT | FUTEX_PRIVATE_FLAG;
/// FUTEX_WAKE, private.
pub const FUTEX_WAKE_PRIVATE: u32 = FUTEX_WAKE | FUTEX_PRIVATE_FLAG;

/// `futex(address, operation, value, timeout, NULL, 0)`: the raw call, for any address
/// (an unaligned or unmapped one fails with `-errno`). `timeout` may be NULL (wait
/// forever). Returns the syscall's result: FUTEX_WAIT 0 or `-errno` (-EAGAIN: the word did
/// not hold `value`; -ETIMEDOUT; -EINTR), FUTEX_WAKE the number of waiters woken.
///
/// # Safety
/// FUTEX_WAIT and FUTEX_WAKE only read the word and the timeout; other operations may write
/// memory: the caller makes sure they may.
pub unsafe fn futex(
    address: *const u32,
    operation: u32,
    value: u32,
    timeout: *const Timespec,
) -> i64 {
    // SAFETY: the caller vouches for the operation (above).
    unsafe {
        syscall6(
            nr::FUTEX,
            address as u64,
            u64::from(operation),
            u64::from(value),
            timeout as u64,
            0,
            0,
        )
    }
}

/// FUTEX_WAIT with `operation` (private or shared) on `word`.
fn wait_with(word: &AtomicU32, operation: u32, expected: u32, timeout: Option<&Timespec>) -> i64 {
    let timeout = timeout.map_or(core::ptr::null(), |timeout| timeout as *const Timespec);
    // SAFETY: FUTEX_WAIT reads the word (a valid atomic) and the timeout (NULL or a valid
    // reference).
    unsafe {
        syscall4(
            nr::FUTEX,
            word.as_ptr() as u64,
            u64::from(operation),
            u64::from(expected),
            timeout as u64,
        )
    }
}

/// FUTEX_WAKE with `operation` (private or shared) on `word`.
fn wake_with(word: &AtomicU32, operation: u32, count: u32) -> i64 {
    // SAFETY: FUTEX_WAKE touches no user memory (the word is only a key).
    unsafe {
        syscall4(
            nr::FUTEX,
            word.as_ptr() as u64,
            u64::from(operation),
            u64::from(count),
            0,
        )
    }
}

/// FUTEX_WAIT_PRIVATE: sleeps while `word` holds `expected`, at most `timeout` (relative)
/// if given. 0 when woken (or spuriously), -EAGAIN if the word did not hold `expected`,
/// -ETIMEDOUT, -EINTR.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<&Timespec>) -> i64 {
    wait_with(word, FUTEX_WAIT_PRIVATE, expected, timeout)
}

/// FUTEX_WAKE_PRIVATE: wakes up to `count` waiters on `word`; the number woken.
pub fn wake(word: &AtomicU32, count: u32) -> i64 {
    wake_with(word, FUTEX_WAKE_PRIVATE, count)
}

/// Shared FUTEX_WAIT (no `FUTEX_PRIVATE_FLAG`), as [`wait`] otherwise.
pub fn wait_shared(word: &AtomicU32, expected: u32, timeout: Option<&Timespec>) -> i64 {
    wait_with(word, FUTEX_WAIT, expected, timeout)
}

/// Shared FUTEX_WAKE (no `FUTEX_PRIVATE_FLAG`), as [`wake`] otherwise.
pub fn wake_shared(word: &AtomicU32, count: u32) -> i64 {
    wake_with(word, FUTEX_WAKE, count)
}
