//! Futexes: FUTEX_WAIT / FUTEX_WAKE and their bitset forms, private or not, with
//! timeouts. Waiters hang in buckets hashed by (memory, address); a wait checks the
//! word and queues itself under the bucket's lock, so no wake-up between the check and
//! the sleep is lost.
//!
//! Every futex is keyed by the address space it lives in: this kernel has no shared
//! mappings, so a "shared" futex is only ever shared by the threads of one memory, and
//! is the same as a private one.

use crate::scheduler::{self, arm_timeout, disarm_timeout};
use crate::signal::{ERESTARTNOHAND, ERESTARTSYS};
use crate::sync::IrqSafeLock;
use crate::syscall::errno::{EAGAIN, EFAULT, EINVAL, ENOSYS, ETIMEDOUT};
use crate::task::{self, Mm, Task};
use crate::time::{Clock, deadline_after, deadline_at, read_timespec};
use crate::user::copy::read_user;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

/// A waiter's bitset that every wake matches (plain FUTEX_WAIT/FUTEX_WAKE).
pub const MATCH_ANY: u32 = u32::MAX;

const BUCKETS: usize = 64;

/// One sleeping waiter.
struct Waiter {
    mm: *const Mm,
    address: u64,
    bitset: u32,
    task: Arc<Task>,
}

// SAFETY: `mm` is only compared, never dereferenced.
unsafe impl Send for Waiter {}

static BUCKETS_: [IrqSafeLock<Vec<Waiter>>; BUCKETS] =
    [const { IrqSafeLock::new(Vec::new()) }; BUCKETS];

fn bucket(mm: *const Mm, address: u64) -> &'static IrqSafeLock<Vec<Waiter>> {
    let key = (mm as u64 >> 6) ^ (address >> 2);
    let hash = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
    &BUCKETS_[hash as usize % BUCKETS]
}

/// Why a wait ended without a wake-up.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The word did not hold the expected value.
    ValueChanged,
    TimedOut,
    /// A signal (or the process's teardown) interrupted an untimed wait: restarted
    /// unless a handler without SA_RESTART runs.
    Interrupted,
    /// The same for a timed wait: -EINTR whenever a handler runs (Linux's
    /// ERESTART_RESTARTBLOCK; the restart here waits the whole timeout again).
    InterruptedTimed,
    Fault,
}

impl WaitError {
    pub fn errno(self) -> i64 {
        match self {
            WaitError::ValueChanged => EAGAIN,
            WaitError::TimedOut => ETIMEDOUT,
            WaitError::Interrupted => ERESTARTSYS,
            WaitError::InterruptedTimed => ERESTARTNOHAND,
            WaitError::Fault => EFAULT,
        }
    }
}

/// Sleep while the u32 at `address` holds `expected`, until a matching wake, the TSC
/// `deadline` (if any), or the process's teardown.
pub fn wait(
    address: u64,
    expected: u32,
    bitset: u32,
    deadline: Option<u64>,
) -> Result<(), WaitError> {
    let task = task::current_handle();
    let mm: *const Mm = task.mm();
    {
        let mut waiters = bucket(mm, address).lock();
        let value = read_user::<u32>(address).map_err(|_| WaitError::Fault)?;
        if value != expected {
            return Err(WaitError::ValueChanged);
        }
        scheduler::prepare_to_block(&task);
        task.futex_address.store(address, Ordering::Release);
        waiters.push(Waiter {
            mm,
            address,
            bitset,
            task: task.clone(),
        });
    }
    if let Some(deadline) = deadline {
        arm_timeout(&task, deadline);
    }
    let outcome = loop {
        scheduler::schedule();
        // A requeue may have moved the wait to another word (and bucket) meanwhile.
        let address = task.futex_address.load(Ordering::Acquire);
        let mut waiters = bucket(mm, address).lock();
        if task.futex_address.load(Ordering::Acquire) != address {
            drop(waiters);
            scheduler::cancel_block(&task);
            continue;
        }
        let position = waiters
            .iter()
            .position(|waiter| core::ptr::eq(&*waiter.task, &*task));
        let Some(index) = position else {
            break Ok(()); // a wake took us off the queue
        };
        let error = if deadline.is_some() && task.timed_out.load(Ordering::Acquire) {
            Some(WaitError::TimedOut)
        } else if crate::signal::interrupts_wait(&task) {
            Some(if deadline.is_some() {
                WaitError::InterruptedTimed
            } else {
                WaitError::Interrupted
            })
        } else {
            None
        };
        if let Some(error) = error {
            waiters.swap_remove(index);
            break Err(error);
        }
        // Woken for another reason (a stale wake-up): sleep on.
        scheduler::prepare_to_block(&task);
    };
    if deadline.is_some() {
        disarm_timeout(&task);
    }
    outcome
}

/// Wake up to `count` waiters on the u32 at `address` of `mm` whose bitset meets
/// `bitset`, oldest first; returns how many.
pub fn wake(mm: &Mm, address: u64, count: u32, bitset: u32) -> u32 {
    let mm: *const Mm = mm;
    let mut woken = Vec::new();
    {
        let mut waiters = bucket(mm, address).lock();
        let mut index = 0;
        while index < waiters.len() && woken.len() < count as usize {
            let waiter = &waiters[index];
            if waiter.mm == mm && waiter.address == address && waiter.bitset & bitset != 0 {
                woken.push(waiters.remove(index).task);
            } else {
                index += 1;
            }
        }
    }
    for task in &woken {
        scheduler::wake(task);
    }
    woken.len() as u32
}

/// Wake up to `wake_count` waiters on `address` (any bitset), then move up to
/// `requeue_count` of the rest to wait on `target` instead (FUTEX_REQUEUE and
/// FUTEX_CMP_REQUEUE, which first checks that `address` still holds `expected`). Returns
/// how many were woken plus, for the compare form, how many were moved (Linux's count).
fn requeue(
    mm: &Mm,
    address: u64,
    target: u64,
    wake_count: u32,
    requeue_count: u32,
    expected: Option<u32>,
) -> Result<u32, i64> {
    let mm: *const Mm = mm;
    let from = bucket(mm, address);
    let to = bucket(mm, target);
    // Two buckets at once: always in address order, so two requeues cannot deadlock.
    let (first, second) = if core::ptr::from_ref(from) <= core::ptr::from_ref(to) {
        (from, to)
    } else {
        (to, from)
    };
    let mut woken = Vec::new();
    let mut moved = 0;
    {
        let mut first_guard = first.lock();
        let mut second_guard = (!core::ptr::eq(first, second)).then(|| second.lock());
        if let Some(expected) = expected {
            let value = read_user::<u32>(address).map_err(|_| EFAULT)?;
            if value != expected {
                return Err(EAGAIN);
            }
        }
        let (source, destination) = match second_guard.as_mut() {
            None => (&mut *first_guard, None),
            Some(second_guard) if core::ptr::eq(first, from) => {
                (&mut *first_guard, Some(&mut **second_guard))
            }
            Some(second_guard) => (&mut **second_guard, Some(&mut *first_guard)),
        };
        let mut index = 0;
        let mut moving = Vec::new();
        while index < source.len() {
            let waiter = &source[index];
            if waiter.mm != mm || waiter.address != address {
                index += 1;
            } else if woken.len() < wake_count as usize {
                woken.push(source.remove(index).task);
            } else if moved < requeue_count {
                let mut waiter = source.remove(index);
                waiter.address = target;
                waiter.task.futex_address.store(target, Ordering::Release);
                moving.push(waiter);
                moved += 1;
            } else {
                break;
            }
        }
        match destination {
            Some(destination) => destination.extend(moving),
            None => source.extend(moving),
        }
    }
    for task in &woken {
        scheduler::wake(task);
    }
    let woken = woken.len() as u32;
    Ok(if expected.is_some() {
        woken + moved
    } else {
        woken
    })
}

/// futex operations and flags (`<linux/futex.h>`).
const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

/// `futex(address, op, value, timeout, address2, value3)`.
pub fn futex(address: u64, op: u64, value: u64, timeout: u64, address2: u64, value3: u64) -> i64 {
    let command = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && command != FUTEX_WAIT_BITSET && command != FUTEX_WAIT {
        return -ENOSYS; // Linux: the clock flag only for waits
    }
    if !address.is_multiple_of(4) {
        return -EINVAL;
    }
    match command {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if command == FUTEX_WAIT {
                MATCH_ANY
            } else {
                value3 as u32
            };
            if bitset == 0 {
                return -EINVAL;
            }
            // FUTEX_WAIT's timeout is relative (on CLOCK_MONOTONIC); the bitset form's is
            // absolute, on CLOCK_MONOTONIC or (with the flag) CLOCK_REALTIME.
            let deadline = if timeout == 0 {
                None
            } else {
                let clock = if realtime {
                    Clock::Realtime
                } else {
                    Clock::Monotonic
                };
                match read_timespec(timeout) {
                    Err(errno) => return -errno,
                    Ok(time) if command == FUTEX_WAIT => Some(deadline_after(time)),
                    Ok(time) => Some(deadline_at(clock, time)),
                }
            };
            match wait(address, value as u32, bitset, deadline) {
                Ok(()) => 0,
                Err(error) => -error.errno(),
            }
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if command == FUTEX_WAKE {
                MATCH_ANY
            } else {
                value3 as u32
            };
            if bitset == 0 {
                return -EINVAL;
            }
            // Linux wakes at least one waiter even when asked for none (or a negative count).
            let count = (value as i32).max(1) as u32;
            i64::from(wake(task::current().mm(), address, count, bitset))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            // The requeue count travels in the timeout argument; negative counts and an
            // unaligned target are refused, as Linux refuses them.
            let (wake_count, requeue_count) = (value as i32, timeout as i32);
            if wake_count < 0 || requeue_count < 0 || !address2.is_multiple_of(4) {
                return -EINVAL;
            }
            let expected = (command == FUTEX_CMP_REQUEUE).then_some(value3 as u32);
            let mm = task::current().mm();
            match requeue(
                mm,
                address,
                address2,
                wake_count as u32,
                requeue_count as u32,
                expected,
            ) {
                Ok(count) => i64::from(count),
                Err(errno) => -errno,
            }
        }
        _ => -ENOSYS,
    }
}
