//! Moving waiting tasks between CPUs: an idle CPU steals one, and periodic balancing
//! evens out the load. Neither touches a running task, a task still being switched away
//! from, or a task whose affinity excludes the destination.

use crate::cpu_set::CpuSet;
use crate::run_queue::QueuePair;
use crate::run_queues::RunQueues;
use crate::scheduler::Scheduler;
use crate::stats::CpuStats;
use crate::task::TaskHandle;

impl<T: TaskHandle, Q: RunQueues<T>> Scheduler<T, Q> {
    /// Periodic balancing on `cpu` (every few ticks, from its timer): pull waiting tasks
    /// from the most loaded queue (by weight, running task included) into this one. A task
    /// of weight `w` moves only while the load difference is at least `2 * w`, so a move
    /// never makes the destination the heavier of the two: nothing can justify moving it
    /// back, and no task ping-pongs. With equal weights, the loads end within one task of
    /// each other. Returns how many tasks moved (reschedule `cpu` if it was idle).
    pub fn balance(&self, cpu: usize) -> usize {
        let this_load = self.cpu_stats(cpu).load_weight;
        let mut tried = CpuSet::new();
        tried.insert(cpu);
        while let Some(busiest) = self.busiest_other(
            &tried,
            |stats| stats.waiting > 0 && stats.load_weight > this_load,
            |stats| stats.load_weight,
        ) {
            tried.insert(busiest);
            let mut pair = QueuePair::lock(self.queue(cpu), cpu, self.queue(busiest), busiest);
            let (this, other) = pair.split();
            let mut moved = 0;
            loop {
                let imbalance = other.load_weight().saturating_sub(this.load_weight());
                let Some(index) = other.find_movable(cpu, |weight| 2 * weight <= imbalance) else {
                    break;
                };
                other.move_waiting(index, this, cpu);
                moved += 1;
            }
            if moved > 0 {
                return moved;
            }
        }
        0
    }

    /// `pick_next` found nothing queued on `cpu`: take a waiting task from the queue with
    /// the most waiting tasks that has one allowed here, then start the next task.
    pub(crate) fn steal_then_start(&self, cpu: usize, previous: Option<T>) -> Option<T> {
        let mut tried = CpuSet::new();
        tried.insert(cpu);
        while let Some(victim) = self.busiest_other(
            &tried,
            |stats| stats.waiting > 0,
            |stats| stats.waiting as u64,
        ) {
            tried.insert(victim);
            let mut pair = QueuePair::lock(self.queue(cpu), cpu, self.queue(victim), victim);
            let (this, other) = pair.split();
            // A wake-up may have queued work here while this queue was unlocked.
            if !this.has_waiting() {
                let Some(index) = other.find_movable(cpu, |_| true) else {
                    continue;
                };
                other.move_waiting(index, this, cpu);
            }
            return self.start_next(this, cpu, previous);
        }
        let mut queue = self.queue(cpu).lock();
        self.start_next(&mut queue, cpu, previous)
    }

    /// The online CPU outside `tried` whose published figures pass `eligible` with the
    /// largest `size` (the lowest-numbered among equals).
    fn busiest_other(
        &self,
        tried: &CpuSet,
        eligible: impl Fn(&CpuStats) -> bool,
        size: impl Fn(&CpuStats) -> u64,
    ) -> Option<usize> {
        self.online
            .iter()
            .filter(|&cpu| !tried.contains(cpu))
            .map(|cpu| (cpu, self.cpu_stats(cpu)))
            .filter(|(_, stats)| eligible(stats))
            .max_by_key(|&(cpu, stats)| (size(&stats), core::cmp::Reverse(cpu)))
            .map(|(cpu, _)| cpu)
    }
}
