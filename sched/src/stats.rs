//! Per-CPU figures: what the kernel's table shows and what placement reads without locks.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of one CPU's scheduling figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuStats {
    /// Times [`Scheduler::pick_next`](crate::Scheduler::pick_next) on this CPU returned a
    /// different task than the one running before (idle counting as a task, as Linux's
    /// `nr_switches` does).
    pub context_switches: u64,
    /// Times this CPU started running a task that last ran on another CPU.
    pub migrations: u64,
    /// Runnable tasks on this CPU: waiting in its queue plus the running one.
    pub runnable: usize,
    /// Tasks waiting in its queue (the running one not counted).
    pub waiting: usize,
    /// Sum of the weights of the runnable tasks.
    pub load_weight: u64,
}

/// The run queue's figures, published under its lock and read by anyone without it.
#[derive(Default)]
pub(crate) struct QueueSummary {
    context_switches: AtomicU64,
    migrations: AtomicU64,
    runnable: AtomicUsize,
    waiting: AtomicUsize,
    load_weight: AtomicU64,
    min_vruntime: AtomicU64,
}

impl QueueSummary {
    pub(crate) const fn new() -> Self {
        QueueSummary {
            context_switches: AtomicU64::new(0),
            migrations: AtomicU64::new(0),
            runnable: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            load_weight: AtomicU64::new(0),
            min_vruntime: AtomicU64::new(0),
        }
    }

    /// Store `stats` and the queue's virtual-time floor (called with the queue locked, so
    /// the figures agree with each other at every release).
    pub(crate) fn publish(&self, stats: &CpuStats, min_vruntime: u64) {
        self.min_vruntime.store(min_vruntime, Ordering::Relaxed);
        self.context_switches
            .store(stats.context_switches, Ordering::Relaxed);
        self.migrations.store(stats.migrations, Ordering::Relaxed);
        self.runnable.store(stats.runnable, Ordering::Relaxed);
        self.waiting.store(stats.waiting, Ordering::Relaxed);
        self.load_weight.store(stats.load_weight, Ordering::Relaxed);
    }

    /// The queue's virtual-time floor as last published.
    pub(crate) fn min_vruntime(&self) -> u64 {
        self.min_vruntime.load(Ordering::Relaxed)
    }

    /// The figures as last published (each one atomically; together only approximately).
    pub(crate) fn snapshot(&self) -> CpuStats {
        CpuStats {
            context_switches: self.context_switches.load(Ordering::Relaxed),
            migrations: self.migrations.load(Ordering::Relaxed),
            runnable: self.runnable.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            load_weight: self.load_weight.load(Ordering::Relaxed),
        }
    }
}
