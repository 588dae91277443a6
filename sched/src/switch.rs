//! Picking the next task on a CPU and finishing the switch to it.

use crate::entity::StopRequest;
use crate::outcome::{Reschedule, SwitchFinished, WakeOutcome};
use crate::placement::Arrival;
use crate::queue_state::{CurrentTask, QueueState, SwitchedOut};
use crate::run_queues::RunQueues;
use crate::scheduler::Scheduler;
use crate::task::TaskHandle;
use crate::task_state::TaskState;
use core::sync::atomic::Ordering;

impl<T: TaskHandle, Q: RunQueues<T>> Scheduler<T, Q> {
    /// The heart of `schedule()` on `cpu` at `now_ns`: charge the running task, put it back
    /// in the queue (or let it leave if it prepared to block or exit, or go elsewhere if its
    /// affinity no longer allows `cpu`), and pick the task with the smallest virtual runtime,
    /// which becomes this CPU's current task. With nothing queued, steal a waiting task from
    /// the busiest queue that has one allowed here. `None`: nothing to run, the CPU is idle
    /// (halt until an interrupt, then call again).
    ///
    /// The same task may come back (no switch). Otherwise, once on the new task's stack (or
    /// in the idle loop), the kernel must call [`finish_switch`](Self::finish_switch) before
    /// anything else schedules on this CPU. Call with interrupts off, on `cpu` itself.
    pub fn pick_next(&self, cpu: usize, now_ns: u64) -> Option<T> {
        let mut queue = self.queue(cpu).lock();
        debug_assert!(
            queue.switched_out.is_none(),
            "pick_next on CPU {cpu} before finish_switch of its previous switch"
        );
        queue.account_current(now_ns);
        let previous = queue
            .current
            .take()
            .map(|current| self.put_previous(&mut queue, current, cpu));
        if queue.has_waiting() {
            return self.start_next(&mut queue, cpu, previous);
        }
        drop(queue);
        self.steal_then_start(cpu, previous)
    }

    /// After a switch on `cpu` (on the new stack, interrupts still off): the task switched
    /// away from may now run elsewhere, and if its affinity sent it away, it is placed on
    /// an allowed CPU now (which may need an IPI). A no-op after a pick without a switch.
    pub fn finish_switch(&self, cpu: usize) -> SwitchFinished<T> {
        let switched_out = self.queue(cpu).lock().switched_out.take();
        let Some(SwitchedOut {
            task,
            needs_other_cpu,
        }) = switched_out
        else {
            return SwitchFinished {
                switched_out: None,
                reschedule: Reschedule::NotNeeded,
            };
        };
        task.entity().mark_off_cpu();
        let reschedule = if needs_other_cpu {
            match self.place(&task, cpu, Arrival::Migrating) {
                WakeOutcome::Woken(placement) => placement.reschedule,
                WakeOutcome::AlreadyQueued | WakeOutcome::AlreadyRunning | WakeOutcome::NotLive => {
                    Reschedule::NotNeeded
                }
            }
        } else {
            Reschedule::NotNeeded
        };
        SwitchFinished {
            switched_out: Some(task),
            reschedule,
        }
    }

    /// Requeue the task that was running on `cpu`, or let it go (block, exit, or move for
    /// its affinity) into the switched-out slot; returns its handle.
    fn put_previous(&self, queue: &mut QueueState<T>, current: CurrentTask<T>, cpu: usize) -> T {
        let CurrentTask { task, weight, .. } = current;
        queue.drop_departing_load(weight);
        let mut state = task.entity().lock();
        let leaves_as = match state.stop_request.take() {
            Some(StopRequest::Exit) => {
                self.live_tasks.fetch_sub(1, Ordering::Relaxed);
                Some(TaskState::Exited)
            }
            Some(StopRequest::Block) => Some(TaskState::Sleeping),
            None if !state.affinity.contains(cpu) => Some(TaskState::Migrating),
            None => None,
        };
        match leaves_as {
            Some(status) => {
                state.status = status;
                let needs_other_cpu = status == TaskState::Migrating;
                if needs_other_cpu {
                    state.lag = queue.lag_of(state.vruntime);
                }
                queue.switched_out = Some(SwitchedOut {
                    task: task.clone(),
                    needs_other_cpu,
                });
            }
            None => queue.enqueue(task.clone(), &mut state, cpu),
        }
        drop(state);
        task
    }

    /// Make the next waiting task (if any) `cpu`'s current one, after `previous`.
    pub(crate) fn start_next(
        &self,
        queue: &mut QueueState<T>,
        cpu: usize,
        previous: Option<T>,
    ) -> Option<T> {
        let next = queue.pop_next();
        if let Some(task) = &next {
            let entity = task.entity();
            let mut state = entity.lock();
            debug_assert_eq!(state.status, TaskState::Queued { cpu });
            debug_assert!(state.affinity.contains(cpu), "CPU {cpu} outside affinity");
            let continues = previous
                .as_ref()
                .is_some_and(|previous| previous.is_same_task(task));
            if !continues {
                debug_assert!(!entity.is_on_cpu(), "a task on two CPUs");
                entity.mark_on_cpu();
            }
            state.status = TaskState::Running { cpu };
            if state.last_cpu.is_some_and(|last_cpu| last_cpu != cpu) {
                queue.migrations += 1;
            }
            state.last_cpu = Some(cpu);
            let weight = state.weight();
            queue.add_running_load(weight);
            queue.current = Some(CurrentTask {
                task: task.clone(),
                vruntime: state.vruntime,
                weight,
                ran_in_slice_ns: 0,
            });
        }
        let switched = match (&previous, &next) {
            (Some(previous), Some(next)) => !previous.is_same_task(next),
            (None, None) => false,
            (Some(_), None) | (None, Some(_)) => true,
        };
        if switched {
            queue.context_switches += 1;
            if let Some(previous) = previous
                && queue.switched_out.is_none()
            {
                queue.switched_out = Some(SwitchedOut {
                    task: previous,
                    needs_other_cpu: false,
                });
            }
        }
        if next.is_some() {
            self.idle.remove(cpu);
        } else {
            self.idle.insert(cpu);
        }
        next
    }
}
