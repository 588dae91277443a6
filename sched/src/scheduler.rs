//! The scheduler: the run queues of all CPUs, the idle CPUs, and the calls a kernel makes
//! on a task's behalf. Picking and switching, placement, balancing and affinity each have
//! their own file; this one holds the scheduler itself and the running task's requests.

use crate::cpu_set::{AtomicCpuSet, CpuSet, MAX_CPUS};
use crate::entity::{EntityState, StopRequest};
use crate::error::SchedError;
use crate::nice::Nice;
use crate::outcome::{Placement, WakeOutcome};
use crate::placement::Arrival;
use crate::policy;
use crate::queue_state::QueueState;
use crate::run_queue::RunQueue;
use crate::run_queues::{PaddedRunQueues, RunQueues};
use crate::stats::CpuStats;
use crate::task::TaskHandle;
use crate::task_state::TaskState;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The multi-core scheduler: per-CPU run queues under a fair policy, wake-up placement,
/// stealing and balancing, affinity. See the crate documentation for how a kernel drives it.
pub struct Scheduler<T: TaskHandle, Q: RunQueues<T> = PaddedRunQueues<T>> {
    pub(crate) queues: Q,
    /// The CPUs with a run queue.
    pub(crate) online: CpuSet,
    /// The CPUs whose last pick found nothing to run.
    pub(crate) idle: AtomicCpuSet,
    /// Tasks added and not exited: every queue has room for this many.
    pub(crate) live_tasks: AtomicUsize,
    tasks: PhantomData<fn(T) -> T>,
}

impl<T: TaskHandle, Q: RunQueues<T>> Scheduler<T, Q> {
    /// A scheduler over `queues`; the CPUs that have a queue are the online ones, all idle
    /// until they first pick a task.
    pub fn new(queues: Q) -> Self {
        let mut online = CpuSet::new();
        for cpu in 0..MAX_CPUS {
            if queues.run_queue(cpu).is_some() {
                online.insert(cpu);
            }
        }
        let idle = AtomicCpuSet::new();
        for cpu in online.iter() {
            idle.insert(cpu);
        }
        Scheduler {
            queues,
            online,
            idle,
            live_tasks: AtomicUsize::new(0),
            tasks: PhantomData,
        }
    }

    /// The CPUs the scheduler runs tasks on.
    pub fn online_cpus(&self) -> CpuSet {
        self.online
    }

    /// The CPUs that found nothing to run at their last pick.
    pub fn idle_cpus(&self) -> CpuSet {
        self.idle.snapshot()
    }

    /// Tasks added and not yet exited.
    pub fn live_tasks(&self) -> usize {
        self.live_tasks.load(Ordering::Relaxed)
    }

    /// `cpu`'s figures, read without locking.
    ///
    /// # Panics
    /// If `cpu` has no run queue (true of every per-CPU call below).
    pub fn cpu_stats(&self, cpu: usize) -> CpuStats {
        self.queue(cpu).stats()
    }

    /// Make a [`TaskState::New`] task runnable (Linux's `wake_up_new_task`): room is made
    /// for it in every run queue (this allocates, so call it in process context), then it is
    /// placed like a wake-up, on an idle allowed CPU if there is one, starting one virtual
    /// slice behind the queue's floor. `caller_cpu` is the CPU making the call (the parent's).
    pub fn add_task(&self, task: &T, caller_cpu: usize) -> Result<Placement, SchedError> {
        {
            let state = task.entity().lock();
            if state.status != TaskState::New {
                return Err(SchedError::AlreadyAdded);
            }
            if state.affinity.intersection(&self.online).is_empty() {
                return Err(SchedError::NoOnlineCpuInAffinity);
            }
        }
        let live_tasks = self.live_tasks.fetch_add(1, Ordering::Relaxed) + 1;
        for cpu in self.online.iter() {
            self.queue(cpu).lock().reserve_for(live_tasks);
        }
        match self.place(task, caller_cpu, Arrival::New) {
            WakeOutcome::Woken(placement) => Ok(placement),
            WakeOutcome::AlreadyQueued | WakeOutcome::AlreadyRunning | WakeOutcome::NotLive => {
                self.live_tasks.fetch_sub(1, Ordering::Relaxed);
                Err(SchedError::AlreadyAdded)
            }
        }
    }

    /// The running `task` is about to sleep (Linux's `set_current_state`): at the next
    /// [`pick_next`](Self::pick_next) on its CPU it leaves the run queue, unless a
    /// [`wake`](Self::wake) or [`cancel_block`](Self::cancel_block) comes first. Call it
    /// before making the task visible to its wakers (a [`WaitQueue`](crate::WaitQueue)
    /// does), so that no wake-up is lost. Returns false (and arms nothing) when `task` is
    /// not running or is exiting.
    pub fn prepare_to_block(&self, task: &T) -> bool {
        self.request_stop(task, StopRequest::Block)
    }

    /// The running `task` exits: at the next [`pick_next`](Self::pick_next) on its CPU it
    /// leaves for good ([`TaskState::Exited`]; wakes are ignored from now on), and
    /// [`finish_switch`](Self::finish_switch) hands its last scheduler handle back. Returns
    /// false when `task` is not running.
    pub fn prepare_to_exit(&self, task: &T) -> bool {
        self.request_stop(task, StopRequest::Exit)
    }

    /// Withdraw a [`prepare_to_block`](Self::prepare_to_block) (the awaited condition
    /// already holds); a no-op otherwise.
    pub fn cancel_block(&self, task: &T) {
        let mut state = task.entity().lock();
        if state.stop_request == Some(StopRequest::Block) {
            state.stop_request = None;
        }
    }

    fn request_stop(&self, task: &T, request: StopRequest) -> bool {
        let mut state = task.entity().lock();
        let running = matches!(state.status, TaskState::Running { .. });
        if !running || state.stop_request == Some(StopRequest::Exit) {
            return false;
        }
        state.stop_request = Some(request);
        true
    }

    /// The timer tick on `cpu` at `now_ns` (this CPU's monotonic clock): charges the
    /// running task and returns whether it should be preempted (set need-resched and call
    /// [`pick_next`](Self::pick_next) at the next preemption point). True when its slice is
    /// used up (see [`policy`]), or when the CPU is idle with tasks queued.
    pub fn tick(&self, cpu: usize, now_ns: u64) -> bool {
        let mut queue = self.queue(cpu).lock();
        queue.account_current(now_ns);
        let Some(current) = &queue.current else {
            return queue.has_waiting();
        };
        match (queue.next_waiting_vruntime(), queue.current_slice_ns()) {
            (Some(next_vruntime), Some(slice_ns)) => policy::tick_preempts(
                current.ran_in_slice_ns,
                slice_ns,
                current.vruntime,
                next_vruntime,
            ),
            _ => false,
        }
    }

    /// `sched_yield` on `cpu` at `now_ns`: the running task goes behind every task waiting
    /// there (its virtual runtime rises to the largest waiting one's, as Linux's old
    /// `compat_yield`); the kernel then calls [`pick_next`](Self::pick_next).
    pub fn yield_current(&self, cpu: usize, now_ns: u64) {
        let mut queue = self.queue(cpu).lock();
        queue.account_current(now_ns);
        let Some(last_vruntime) = queue.last_waiting_vruntime() else {
            return;
        };
        if let Some(current) = &mut queue.current
            && current.vruntime < last_vruntime
        {
            current.task.entity().lock().vruntime = last_vruntime;
            current.vruntime = last_vruntime;
        }
    }

    /// Set `task`'s nice value (its weight changes at once, wherever it is).
    pub fn set_nice(&self, task: &T, nice: Nice) {
        self.with_task_locked(task, |queue, state| {
            let old_weight = state.weight();
            state.nice = nice;
            if let Some(queue) = queue {
                queue.reweight(state, old_weight);
            }
        });
    }

    /// `cpu`'s run queue.
    pub(crate) fn queue(&self, cpu: usize) -> &RunQueue<T> {
        self.queues
            .run_queue(cpu)
            .unwrap_or_else(|| panic!("CPU {cpu} has no run queue"))
    }

    /// Run `change` with `task`'s entity locked and, when the task is on a run queue
    /// (waiting or running), that queue locked before it; retried until both agree.
    pub(crate) fn with_task_locked<Output>(
        &self,
        task: &T,
        mut change: impl FnMut(Option<&mut QueueState<T>>, &mut EntityState) -> Output,
    ) -> Output {
        let entity = task.entity();
        loop {
            let seen = entity.lock().status;
            if let Some(cpu) = seen.run_queue_cpu() {
                let mut queue = self.queue(cpu).lock();
                let mut state = entity.lock();
                if state.status == seen {
                    return change(Some(&mut queue), &mut state);
                }
            } else {
                let mut state = entity.lock();
                if state.status == seen {
                    return change(None, &mut state);
                }
            }
        }
    }
}
