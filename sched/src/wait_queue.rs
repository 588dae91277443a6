//! Wait queues: FIFO lists of tasks blocked until some condition holds.

use crate::run_queues::RunQueues;
use crate::scheduler::Scheduler;
use crate::task::{RawMutexOf, TaskHandle};
use alloc::collections::VecDeque;
use lock_api::Mutex;

/// Tasks waiting for a condition (a futex word, a child's exit, a pipe's data), oldest
/// first. Waking only takes tasks off the list and hands them to the caller, who calls
/// [`Scheduler::wake`] for each: the list knows nothing of run queues.
///
/// Lock order: a wait queue's lock comes before any scheduler lock (a waker may call
/// [`Scheduler::wake`] while holding its own locks; the scheduler never takes a wait
/// queue's).
pub struct WaitQueue<T: TaskHandle> {
    waiters: Mutex<RawMutexOf<T>, VecDeque<T>>,
}

impl<T: TaskHandle> WaitQueue<T> {
    /// An empty wait queue (`const`, for statics).
    pub const fn new() -> Self {
        WaitQueue {
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// The running `task` starts waiting (Linux's `prepare_to_wait`): it joins the end of
    /// the queue (once, however often this is called) and prepares to block, both under the
    /// queue's lock, so a waker that finds it here is sure to wake it. The caller then
    /// re-checks its condition and calls [`Scheduler::pick_next`] (via its `schedule()`),
    /// and in any case [`finish_wait`](Self::finish_wait) afterwards. Returns false (and
    /// queues nothing) when `task` is not running. Allocates when the queue grows: process
    /// context only.
    pub fn prepare_to_wait<Q: RunQueues<T>>(&self, scheduler: &Scheduler<T, Q>, task: &T) -> bool {
        let mut waiters = self.waiters.lock();
        if !scheduler.prepare_to_block(task) {
            return false;
        }
        if !waiters.iter().any(|waiter| waiter.is_same_task(task)) {
            waiters.push_back(task.clone());
        }
        true
    }

    /// The wait is over, however it ended (woken, condition already true, timeout, signal):
    /// withdraw a block still prepared and leave the queue if still in it. Returns whether
    /// `task` was still queued here (that is, not woken through this queue).
    pub fn finish_wait<Q: RunQueues<T>>(&self, scheduler: &Scheduler<T, Q>, task: &T) -> bool {
        scheduler.cancel_block(task);
        let mut waiters = self.waiters.lock();
        match waiters.iter().position(|waiter| waiter.is_same_task(task)) {
            Some(index) => {
                waiters.remove(index);
                true
            }
            None => false,
        }
    }

    /// Take the oldest waiter off the queue (never allocates or frees).
    pub fn wake_one(&self) -> Option<T> {
        self.waiters.lock().pop_front()
    }

    /// Take every waiter off the queue, oldest first. The queue's buffer goes with them
    /// and is freed when the caller drops it, so in an interrupt handler (or wherever the
    /// heap is off limits) call [`wake_one`](Self::wake_one) in a loop instead.
    pub fn wake_all(&self) -> VecDeque<T> {
        core::mem::take(&mut *self.waiters.lock())
    }

    /// How many tasks wait.
    pub fn len(&self) -> usize {
        self.waiters.lock().len()
    }

    /// True when no task waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().is_empty()
    }
}

impl<T: TaskHandle> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue::new()
    }
}
