//! Wake-up placement: choosing a CPU for a task that becomes runnable, and queueing it.

use crate::cpu_set::CpuSet;
use crate::entity::{EntityState, StopRequest};
use crate::outcome::{Placement, Reschedule, WakeOutcome};
use crate::policy;
use crate::queue_state::QueueState;
use crate::run_queues::RunQueues;
use crate::scheduler::Scheduler;
use crate::task::TaskHandle;
use crate::task_state::TaskState;

/// How a task arrives on a run queue through placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A new task ([`Scheduler::add_task`]): starts one virtual slice behind the floor.
    New,
    /// A sleeping task woken ([`Scheduler::wake`]): its lag against the current floor of
    /// the queue it blocked on, credit capped (sleeping earns up to the cap).
    Wake,
    /// A runnable task its affinity moved off its queue: the lag it had there.
    Migrating,
}

impl Arrival {
    /// The state the task must be in for this arrival.
    fn expected_status(self) -> TaskState {
        match self {
            Arrival::New => TaskState::New,
            Arrival::Wake => TaskState::Sleeping,
            Arrival::Migrating => TaskState::Migrating,
        }
    }

    /// With the entity locked as `state`: what to report when the task is not in the
    /// expected state (a wake of a running task cancels the block it prepared).
    fn refusal(self, state: &mut EntityState) -> Option<WakeOutcome> {
        if state.status == self.expected_status() {
            return None;
        }
        Some(match state.status {
            TaskState::Running { .. } => {
                if self == Arrival::Wake && state.stop_request == Some(StopRequest::Block) {
                    state.stop_request = None;
                }
                WakeOutcome::AlreadyRunning
            }
            TaskState::Queued { .. } | TaskState::Migrating | TaskState::Sleeping => {
                WakeOutcome::AlreadyQueued
            }
            TaskState::New | TaskState::Exited => WakeOutcome::NotLive,
        })
    }
}

impl<T: TaskHandle, Q: RunQueues<T>> Scheduler<T, Q> {
    /// Make a sleeping `task` runnable (Linux's `try_to_wake_up`), from `caller_cpu` (any
    /// context, interrupt handlers included: it never allocates). The CPU is, in order:
    /// the task's previous CPU if allowed and idle; an idle allowed CPU (searched from the
    /// previous one up, wrapping); the allowed CPU with the least load (the previous one on
    /// ties). Its virtual runtime becomes `max(its own, floor - SLEEPER_CREDIT_NS)` (Linux's
    /// `place_entity` with `GENTLE_FAIR_SLEEPERS`; on another CPU, its own is first made
    /// relative to the current floor of the queue it slept on), so a sleeper gets at most
    /// [`SLEEPER_CREDIT_NS`] of credit and keeps any debt; it preempts that CPU's task if it
    /// is behind it by more than the wake-up granularity.
    ///
    /// A second wake is a no-op ([`WakeOutcome::AlreadyQueued`]); so is a wake of a
    /// running task ([`WakeOutcome::AlreadyRunning`]), except that it cancels a block the
    /// task prepared. If the task is still being switched away from on its old CPU, this
    /// waits for that CPU to finish the switch (a few hundred instructions, interrupts off).
    ///
    /// [`SLEEPER_CREDIT_NS`]: crate::policy::SLEEPER_CREDIT_NS
    pub fn wake(&self, task: &T, caller_cpu: usize) -> WakeOutcome {
        self.place(task, caller_cpu, Arrival::Wake)
    }

    /// Choose a CPU for `task` and queue it there, if it is in the state `arrival` expects.
    pub(crate) fn place(&self, task: &T, caller_cpu: usize, arrival: Arrival) -> WakeOutcome {
        let entity = task.entity();
        loop {
            let (allowed, previous_cpu) = {
                let mut state = entity.lock();
                if let Some(refusal) = arrival.refusal(&mut state) {
                    return refusal;
                }
                let previous_cpu = state.last_cpu.unwrap_or(caller_cpu);
                (state.affinity.intersection(&self.online), previous_cpu)
            };
            // A task some CPU is still switching away from must not run anywhere else yet.
            entity.wait_until_off_cpu();
            let target = self.choose_cpu(&allowed, previous_cpu);
            let mut queue = self.queue(target).lock();
            let (vruntime, weight) = {
                let mut state = entity.lock();
                if let Some(refusal) = arrival.refusal(&mut state) {
                    return refusal;
                }
                if !state.affinity.contains(target) || entity.is_on_cpu() {
                    // The affinity changed or the task ran and blocked again meanwhile.
                    continue;
                }
                let lag = match arrival {
                    Arrival::New => queue.start_debit(state.weight()),
                    Arrival::Wake if state.last_cpu == Some(target) => queue.lag_of(state.vruntime),
                    Arrival::Wake => {
                        let slept_on = state.last_cpu.unwrap_or(target);
                        let floor = self.queue(slept_on).min_vruntime();
                        state.vruntime.wrapping_sub(floor) as i64
                    }
                    Arrival::Migrating => state.lag,
                };
                state.vruntime = queue.arriving_vruntime(lag);
                queue.enqueue(task.clone(), &mut state, target);
                (state.vruntime, state.weight())
            };
            let needed = arrival_preempts(&queue, vruntime, weight);
            return WakeOutcome::Woken(Placement {
                cpu: target,
                reschedule: Reschedule::of(target, caller_cpu, needed),
            });
        }
    }

    /// The CPU for a task allowed on `allowed` (online CPUs, not empty) that last ran on
    /// `previous_cpu`.
    fn choose_cpu(&self, allowed: &CpuSet, previous_cpu: usize) -> usize {
        if allowed.contains(previous_cpu) && self.is_idle(previous_cpu) {
            return previous_cpu;
        }
        let after_previous = allowed.iter().filter(|&cpu| cpu > previous_cpu);
        let up_to_previous = allowed.iter().filter(|&cpu| cpu <= previous_cpu);
        if let Some(idle_cpu) = after_previous
            .chain(up_to_previous)
            .find(|&cpu| self.is_idle(cpu))
        {
            return idle_cpu;
        }
        allowed
            .iter()
            .min_by_key(|&cpu| (self.cpu_stats(cpu).load_weight, cpu != previous_cpu))
            .expect("an affinity always holds an online CPU (add_task and set_affinity check)")
    }

    /// True when `cpu` found nothing to run and nothing was queued there since.
    fn is_idle(&self, cpu: usize) -> bool {
        self.idle.contains(cpu) && self.cpu_stats(cpu).waiting == 0
    }
}

/// Whether a task arriving with `vruntime` and `weight` on `queue` should preempt its
/// CPU: always when the CPU is idle, else by the wake-up granularity.
fn arrival_preempts<T>(queue: &QueueState<T>, vruntime: u64, weight: u64) -> bool {
    match &queue.current {
        None => true,
        Some(current) => policy::wakeup_preempts(current.vruntime, vruntime, weight),
    }
}
