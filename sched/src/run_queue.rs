//! A CPU's run queue: its state behind the kernel's lock, and figures readable without it.

use crate::queue_state::QueueState;
use crate::stats::{CpuStats, QueueSummary};
use crate::task::{RawMutexOf, TaskHandle};
use core::ops::{Deref, DerefMut};
use lock_api::{Mutex, MutexGuard};

/// One CPU's run queue. The kernel decides where each lives (in its per-CPU area, or in a
/// [`PaddedRunQueues`](crate::PaddedRunQueues)) and lends them to the
/// [`Scheduler`](crate::Scheduler) through [`RunQueues`](crate::RunQueues); only the
/// scheduler looks inside.
pub struct RunQueue<T: TaskHandle> {
    state: Mutex<RawMutexOf<T>, QueueState<T>>,
    summary: QueueSummary,
}

impl<T: TaskHandle> RunQueue<T> {
    /// An empty run queue (`const`, so it can initialise a per-CPU static).
    pub const fn new() -> Self {
        RunQueue {
            state: Mutex::new(QueueState::new()),
            summary: QueueSummary::new(),
        }
    }

    /// The queue's figures as last published (no lock taken).
    pub(crate) fn stats(&self) -> CpuStats {
        self.summary.snapshot()
    }

    /// The queue's virtual-time floor as last published (no lock taken).
    pub(crate) fn min_vruntime(&self) -> u64 {
        self.summary.min_vruntime()
    }

    /// Lock the queue; its figures are published when the guard drops.
    pub(crate) fn lock(&self) -> QueueGuard<'_, T> {
        QueueGuard {
            state: self.state.lock(),
            summary: &self.summary,
        }
    }
}

impl<T: TaskHandle> Default for RunQueue<T> {
    fn default() -> Self {
        RunQueue::new()
    }
}

/// A locked run queue.
pub(crate) struct QueueGuard<'a, T: TaskHandle> {
    state: MutexGuard<'a, RawMutexOf<T>, QueueState<T>>,
    summary: &'a QueueSummary,
}

impl<T: TaskHandle> Drop for QueueGuard<'_, T> {
    fn drop(&mut self) {
        // Still locked here: the lock is released when `state` drops, after this.
        self.summary
            .publish(&self.state.stats(), self.state.min_vruntime());
    }
}

impl<T: TaskHandle> Deref for QueueGuard<'_, T> {
    type Target = QueueState<T>;
    fn deref(&self) -> &QueueState<T> {
        &self.state
    }
}

impl<T: TaskHandle> DerefMut for QueueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut QueueState<T> {
        &mut self.state
    }
}

/// Two run queues locked together: the lower-numbered CPU's first, and released in the
/// reverse order (so that a raw mutex that saves and restores the interrupt flag in
/// itself gets it back right).
pub(crate) struct QueuePair<'a, T: TaskHandle> {
    // Fields drop in declaration order: the lock taken last goes first.
    taken_second: QueueGuard<'a, T>,
    taken_first: QueueGuard<'a, T>,
    this_taken_first: bool,
}

impl<'a, T: TaskHandle> QueuePair<'a, T> {
    /// Lock `this` (the queue of `this_cpu`) and `other` (of `other_cpu`, a different CPU).
    pub(crate) fn lock(
        this: &'a RunQueue<T>,
        this_cpu: usize,
        other: &'a RunQueue<T>,
        other_cpu: usize,
    ) -> Self {
        debug_assert_ne!(this_cpu, other_cpu);
        if this_cpu < other_cpu {
            let taken_first = this.lock();
            let taken_second = other.lock();
            QueuePair {
                taken_second,
                taken_first,
                this_taken_first: true,
            }
        } else {
            let taken_first = other.lock();
            let taken_second = this.lock();
            QueuePair {
                taken_second,
                taken_first,
                this_taken_first: false,
            }
        }
    }

    /// This CPU's queue and the other one.
    pub(crate) fn split(&mut self) -> (&mut QueueState<T>, &mut QueueState<T>) {
        if self.this_taken_first {
            (&mut self.taken_first, &mut self.taken_second)
        } else {
            (&mut self.taken_second, &mut self.taken_first)
        }
    }
}
