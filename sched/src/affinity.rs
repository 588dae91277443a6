//! Changing a task's affinity (`sched_setaffinity`).

use crate::cpu_set::CpuSet;
use crate::error::SchedError;
use crate::outcome::{Reschedule, WakeOutcome};
use crate::placement::Arrival;
use crate::run_queues::RunQueues;
use crate::scheduler::Scheduler;
use crate::task::TaskHandle;
use crate::task_state::TaskState;

/// What is left to do once the new affinity is stored.
enum AffinityFollowUp {
    Done(Reschedule),
    /// The task was waiting on a CPU it may no longer use: place it anew.
    Move,
}

impl<T: TaskHandle, Q: RunQueues<T>> Scheduler<T, Q> {
    /// Allow `task` only on the CPUs of `affinity`, from `caller_cpu`. An affinity with no
    /// online CPU is refused ([`SchedError::NoOnlineCpuInAffinity`], `-EINVAL`) and changes
    /// nothing. A task waiting on a CPU it may no longer use moves at once (the returned
    /// request is its new CPU's); a task *running* on one must be rescheduled there (the
    /// returned request names that CPU), and its next [`pick_next`](Self::pick_next) sends
    /// it to an allowed CPU.
    pub fn set_affinity(
        &self,
        task: &T,
        affinity: CpuSet,
        caller_cpu: usize,
    ) -> Result<Reschedule, SchedError> {
        if affinity.intersection(&self.online).is_empty() {
            return Err(SchedError::NoOnlineCpuInAffinity);
        }
        let follow_up = self.with_task_locked(task, |queue, state| {
            state.affinity = affinity;
            match (queue, state.status) {
                (Some(queue), TaskState::Queued { cpu }) if !affinity.contains(cpu) => {
                    let removed = queue.remove_waiting(state);
                    debug_assert!(removed.is_some(), "a queued task is in its queue");
                    state.status = TaskState::Migrating;
                    AffinityFollowUp::Move
                }
                (_, TaskState::Running { cpu }) if !affinity.contains(cpu) => {
                    AffinityFollowUp::Done(Reschedule::of(cpu, caller_cpu, true))
                }
                _ => AffinityFollowUp::Done(Reschedule::NotNeeded),
            }
        });
        Ok(match follow_up {
            AffinityFollowUp::Done(reschedule) => reschedule,
            AffinityFollowUp::Move => match self.place(task, caller_cpu, Arrival::Migrating) {
                WakeOutcome::Woken(placement) => placement.reschedule,
                WakeOutcome::AlreadyQueued | WakeOutcome::AlreadyRunning | WakeOutcome::NotLive => {
                    Reschedule::NotNeeded
                }
            },
        })
    }
}
