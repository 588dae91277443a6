//! What a run queue's lock protects: the waiting tasks ordered by virtual runtime, the
//! running task, the queue's virtual-time floor and load, and its counters.

use crate::entity::EntityState;
use crate::policy;
use crate::stats::CpuStats;
use crate::task::TaskHandle;
use crate::task_state::TaskState;
use alloc::vec::Vec;

/// The order of waiting tasks: smallest virtual runtime first, FIFO among equals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct QueueKey {
    vruntime: u64,
    sequence: u64,
}

/// A task waiting in the queue.
struct WaitingTask<T> {
    key: QueueKey,
    weight: u64,
    task: T,
}

/// The task a CPU runs, with the figures the queue needs without locking its entity.
pub(crate) struct CurrentTask<T> {
    pub(crate) task: T,
    /// Its virtual runtime as last accounted (the entity holds the same).
    pub(crate) vruntime: u64,
    pub(crate) weight: u64,
    /// Real time it has run since this CPU picked it.
    pub(crate) ran_in_slice_ns: u64,
}

/// The task a CPU has picked away from and is still switching off (its `on_cpu` is set
/// until [`Scheduler::finish_switch`](crate::Scheduler::finish_switch)).
pub(crate) struct SwitchedOut<T> {
    pub(crate) task: T,
    /// Its affinity no longer allows this CPU: once off it, place it on another queue.
    pub(crate) needs_other_cpu: bool,
}

/// A run queue's locked state.
pub(crate) struct QueueState<T> {
    /// Sorted by descending key, so the next task to run is the last (popped in O(1)).
    /// Its capacity always covers every live task (reserved by `add_task`), so enqueueing
    /// never allocates: wake-ups from interrupt handlers stay allocation-free.
    waiting: Vec<WaitingTask<T>>,
    pub(crate) current: Option<CurrentTask<T>>,
    pub(crate) switched_out: Option<SwitchedOut<T>>,
    /// Monotonic floor under the virtual runtimes of the running and waiting tasks.
    min_vruntime: u64,
    /// Sum of the weights of the running and waiting tasks.
    load_weight: u64,
    /// The time of the last accounting, from the clock of this queue's CPU.
    clock_ns: u64,
    next_sequence: u64,
    pub(crate) context_switches: u64,
    pub(crate) migrations: u64,
}

impl<T: TaskHandle> QueueState<T> {
    pub(crate) const fn new() -> Self {
        QueueState {
            waiting: Vec::new(),
            current: None,
            switched_out: None,
            min_vruntime: 0,
            load_weight: 0,
            clock_ns: 0,
            next_sequence: 0,
            context_switches: 0,
            migrations: 0,
        }
    }

    /// Make room for `live_tasks` waiting tasks (allocates; process context only).
    pub(crate) fn reserve_for(&mut self, live_tasks: usize) {
        let missing = live_tasks.saturating_sub(self.waiting.len());
        self.waiting.reserve(missing);
    }

    pub(crate) fn stats(&self) -> CpuStats {
        CpuStats {
            context_switches: self.context_switches,
            migrations: self.migrations,
            runnable: self.waiting.len() + usize::from(self.current.is_some()),
            waiting: self.waiting.len(),
            load_weight: self.load_weight,
        }
    }

    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    pub(crate) fn load_weight(&self) -> u64 {
        self.load_weight
    }

    /// The virtual runtime of the next task to run, if any waits.
    pub(crate) fn next_waiting_vruntime(&self) -> Option<u64> {
        self.waiting.last().map(|waiting| waiting.key.vruntime)
    }

    /// The largest virtual runtime among the waiting tasks, if any waits.
    pub(crate) fn last_waiting_vruntime(&self) -> Option<u64> {
        self.waiting.first().map(|waiting| waiting.key.vruntime)
    }

    /// The floor under the virtual runtimes of this queue's tasks.
    pub(crate) fn min_vruntime(&self) -> u64 {
        self.min_vruntime
    }

    /// `vruntime` relative to this queue's floor.
    pub(crate) fn lag_of(&self, vruntime: u64) -> i64 {
        vruntime.wrapping_sub(self.min_vruntime) as i64
    }

    /// The virtual runtime for a task arriving with `lag`.
    pub(crate) fn arriving_vruntime(&self, lag: i64) -> u64 {
        policy::arriving_vruntime(self.min_vruntime, lag)
    }

    /// The start debit of a new task of `weight` joining this queue.
    pub(crate) fn start_debit(&self, weight: u64) -> i64 {
        policy::start_debit(self.stats().runnable, weight, self.load_weight)
    }

    /// The running task's slice: its weight's share of the period.
    pub(crate) fn current_slice_ns(&self) -> Option<u64> {
        let current = self.current.as_ref()?;
        Some(policy::time_slice(
            self.stats().runnable,
            current.weight,
            self.load_weight,
        ))
    }

    /// Charge the running task for the time since the last accounting, up to `now_ns` on
    /// this queue's CPU clock (a clock that went backwards charges nothing).
    pub(crate) fn account_current(&mut self, now_ns: u64) {
        let ran_ns = now_ns.saturating_sub(self.clock_ns);
        self.clock_ns = self.clock_ns.max(now_ns);
        if let Some(current) = &mut self.current {
            let mut state = current.task.entity().lock();
            state.vruntime = state
                .vruntime
                .saturating_add(policy::virtual_time(ran_ns, current.weight));
            state.exec_runtime_ns = state.exec_runtime_ns.saturating_add(ran_ns);
            current.vruntime = state.vruntime;
            current.ran_in_slice_ns = current.ran_in_slice_ns.saturating_add(ran_ns);
        }
        self.update_min_vruntime();
    }

    /// Move the floor up to the smallest virtual runtime of the running and the next
    /// waiting task, never down.
    fn update_min_vruntime(&mut self) {
        let running = self.current.as_ref().map(|current| current.vruntime);
        let smallest = match (running, self.next_waiting_vruntime()) {
            (Some(running), Some(waiting)) => running.min(waiting),
            (Some(vruntime), None) | (None, Some(vruntime)) => vruntime,
            (None, None) => return,
        };
        self.min_vruntime = self.min_vruntime.max(smallest);
    }

    /// Queue `task` (whose entity is locked as `state`, with its virtual runtime set) on
    /// this queue, which belongs to `cpu`.
    pub(crate) fn enqueue(&mut self, task: T, state: &mut EntityState, cpu: usize) {
        let key = QueueKey {
            vruntime: state.vruntime,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        state.queue_sequence = key.sequence;
        state.status = TaskState::Queued { cpu };
        let weight = state.weight();
        let position = self.waiting.partition_point(|waiting| waiting.key > key);
        debug_assert!(
            self.waiting.len() < self.waiting.capacity(),
            "run queue capacity must cover every live task (add_task reserves it)"
        );
        self.waiting
            .insert(position, WaitingTask { key, weight, task });
        self.load_weight += weight;
    }

    /// Take the next task to run out of the queue.
    pub(crate) fn pop_next(&mut self) -> Option<T> {
        let next = self.waiting.pop()?;
        self.load_weight -= next.weight;
        self.update_min_vruntime();
        Some(next.task)
    }

    /// Take the waiting task whose entity is locked as `state` out of the queue, leaving
    /// `state` with its lag and no queue.
    pub(crate) fn remove_waiting(&mut self, state: &mut EntityState) -> Option<T> {
        let key = QueueKey {
            vruntime: state.vruntime,
            sequence: state.queue_sequence,
        };
        let index = self
            .waiting
            .binary_search_by(|waiting| key.cmp(&waiting.key))
            .ok()?;
        let removed = self.waiting.remove(index);
        self.load_weight -= removed.weight;
        state.lag = self.lag_of(state.vruntime);
        self.update_min_vruntime();
        Some(removed.task)
    }

    /// Update the weight of a waiting or running task (locked as `state`) from
    /// `old_weight` to its current one.
    pub(crate) fn reweight(&mut self, state: &EntityState, old_weight: u64) {
        let new_weight = state.weight();
        self.load_weight = self.load_weight - old_weight + new_weight;
        let key = QueueKey {
            vruntime: state.vruntime,
            sequence: state.queue_sequence,
        };
        match state.status {
            TaskState::Running { .. } => {
                if let Some(current) = &mut self.current {
                    current.weight = new_weight;
                }
            }
            _ => {
                if let Ok(index) = self
                    .waiting
                    .binary_search_by(|waiting| key.cmp(&waiting.key))
                {
                    self.waiting[index].weight = new_weight;
                }
            }
        }
    }

    /// Remove the running task from the load (it blocks, exits or must move): the caller
    /// has taken it out of `current`.
    pub(crate) fn drop_departing_load(&mut self, weight: u64) {
        self.load_weight -= weight;
    }

    /// Add a task that starts running here without passing through the waiting list
    /// (weight only: the caller sets `current`).
    pub(crate) fn add_running_load(&mut self, weight: u64) {
        self.load_weight += weight;
    }

    /// The index of the first waiting task, in run order, that `cpu` may take: not on a
    /// CPU any more, allowed on `cpu`, and of a weight `accept_weight` agrees to.
    pub(crate) fn find_movable(
        &self,
        cpu: usize,
        accept_weight: impl Fn(u64) -> bool,
    ) -> Option<usize> {
        (0..self.waiting.len()).rev().find(|&index| {
            let waiting = &self.waiting[index];
            if !accept_weight(waiting.weight) {
                return false;
            }
            let entity = waiting.task.entity();
            let state = entity.lock();
            !entity.is_on_cpu() && state.affinity.contains(cpu)
        })
    }

    /// Move the waiting task at `index` (from [`find_movable`](Self::find_movable)) to
    /// `destination`, the queue of `destination_cpu`, keeping its lag; returns its weight.
    pub(crate) fn move_waiting(
        &mut self,
        index: usize,
        destination: &mut QueueState<T>,
        destination_cpu: usize,
    ) -> u64 {
        let moving = self.waiting.remove(index);
        self.load_weight -= moving.weight;
        let lag = self.lag_of(moving.key.vruntime);
        self.update_min_vruntime();
        let mut state = moving.task.entity().lock();
        state.vruntime = destination.arriving_vruntime(lag);
        destination.enqueue(moving.task.clone(), &mut state, destination_cpu);
        moving.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::SchedEntity;
    use crate::task::Schedulable;
    extern crate std;
    use std::sync::Arc;
    use std::vec::Vec;

    struct Task(SchedEntity<spin::Mutex<()>>);

    impl Schedulable for Task {
        type RawMutex = spin::Mutex<()>;
        fn sched_entity(&self) -> &SchedEntity<spin::Mutex<()>> {
            &self.0
        }
    }

    fn queue_with(vruntimes: &[u64]) -> (QueueState<Arc<Task>>, Vec<Arc<Task>>) {
        let mut queue = QueueState::new();
        queue.reserve_for(vruntimes.len());
        let tasks: Vec<_> = vruntimes
            .iter()
            .map(|&vruntime| {
                let task = Arc::new(Task(SchedEntity::new()));
                let mut state = task.0.lock();
                state.vruntime = vruntime;
                queue.enqueue(task.clone(), &mut state, 0);
                drop(state);
                task
            })
            .collect();
        (queue, tasks)
    }

    #[test]
    fn pops_smallest_vruntime_then_fifo() {
        let (mut queue, tasks) = queue_with(&[30, 10, 20, 10]);
        let order: Vec<_> = core::iter::from_fn(|| queue.pop_next())
            .map(|task| tasks.iter().position(|t| t.is_same_task(&task)).unwrap())
            .collect();
        assert_eq!(order, [1, 3, 2, 0]);
        assert_eq!(queue.load_weight(), 0);
    }

    #[test]
    fn removes_a_given_task_and_keeps_its_lag() {
        let (mut queue, tasks) = queue_with(&[30, 10, 20]);
        queue.account_current(0);
        assert_eq!(queue.load_weight(), 3 * 1024);
        let mut state = tasks[2].0.lock();
        let removed = queue.remove_waiting(&mut state).expect("task 2 is queued");
        assert!(removed.is_same_task(&tasks[2]));
        assert_eq!(state.lag, 10, "20 above the floor of 10");
        assert!(queue.remove_waiting(&mut state).is_none());
        drop(state);
        assert_eq!(queue.stats().waiting, 2);
        assert_eq!(queue.load_weight(), 2 * 1024);
    }

    #[test]
    fn moving_keeps_lag_relative_to_each_floor() {
        let (mut source, tasks) = queue_with(&[1000, 1500]);
        let (mut destination, _) = queue_with(&[5000]);
        source.account_current(0);
        destination.account_current(0);
        let index = source.find_movable(1, |_| true).expect("any task may move");
        assert_eq!(source.move_waiting(index, &mut destination, 1), 1024);
        assert_eq!(tasks[0].0.state(), TaskState::Queued { cpu: 1 });
        assert_eq!(tasks[0].0.vruntime(), 5000 + 1000 - 1000);
    }
}
