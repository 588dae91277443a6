//! Where the run queues live: the kernel's choice, behind a trait.

use crate::cpu_set::MAX_CPUS;
use crate::run_queue::RunQueue;
use crate::task::TaskHandle;
use alloc::boxed::Box;
use crossbeam_utils::CachePadded;

/// The run queues of all CPUs, wherever the kernel keeps them. A kernel with per-CPU
/// areas implements it over a per-CPU static (`RUN_QUEUE.remote(cpu)`); otherwise
/// [`PaddedRunQueues`] keeps them in one cache-padded array.
pub trait RunQueues<T: TaskHandle> {
    /// The run queue of `cpu`, or `None` when `cpu` has none (the scheduler treats the
    /// CPUs with a queue as the online ones). The same queue every time.
    fn run_queue(&self, cpu: usize) -> Option<&RunQueue<T>>;
}

/// Run queues for CPUs `0..count` in one heap array, each padded to its own cache lines
/// so that CPUs working on their own queues do not false-share.
pub struct PaddedRunQueues<T: TaskHandle> {
    queues: Box<[CachePadded<RunQueue<T>>]>,
}

impl<T: TaskHandle> PaddedRunQueues<T> {
    /// Queues for CPUs `0..count` (at most [`MAX_CPUS`]).
    pub fn new(count: usize) -> Self {
        PaddedRunQueues {
            queues: (0..count.min(MAX_CPUS))
                .map(|_| CachePadded::new(RunQueue::new()))
                .collect(),
        }
    }
}

impl<T: TaskHandle> RunQueues<T> for PaddedRunQueues<T> {
    fn run_queue(&self, cpu: usize) -> Option<&RunQueue<T>> {
        self.queues.get(cpu).map(|queue| &**queue)
    }
}
