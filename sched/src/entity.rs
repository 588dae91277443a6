//! The scheduling entity a kernel task embeds: everything the scheduler knows of a task.

use crate::cpu_set::CpuSet;
use crate::nice::Nice;
use crate::task_state::TaskState;
use core::sync::atomic::{AtomicBool, Ordering};
use crossbeam_utils::Backoff;
use lock_api::{Mutex, MutexGuard, RawMutex};

/// The scheduler's part of a task; the kernel embeds one in its task type and returns it
/// from [`Schedulable::sched_entity`](crate::Schedulable::sched_entity).
///
/// Its fields change under its own lock (taken after any run-queue lock, and never two
/// entities' at once) and are read through the accessors below, each a snapshot.
pub struct SchedEntity<R: RawMutex> {
    state: Mutex<R, EntityState>,
    /// True from the moment a CPU picks the task until that CPU has switched away from it
    /// ([`Scheduler::finish_switch`](crate::Scheduler::finish_switch)): while set, its
    /// registers and stack are live on that CPU, so no other CPU may run it (Linux's
    /// `task_struct::on_cpu`).
    on_cpu: AtomicBool,
}

/// A request, made by the running task itself, to leave the CPU at the next pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopRequest {
    /// Sleep until woken ([`Scheduler::prepare_to_block`](crate::Scheduler::prepare_to_block)).
    Block,
    /// Leave for good ([`Scheduler::prepare_to_exit`](crate::Scheduler::prepare_to_exit)).
    Exit,
}

/// The entity's fields, under its lock.
pub(crate) struct EntityState {
    pub(crate) status: TaskState,
    pub(crate) stop_request: Option<StopRequest>,
    pub(crate) nice: Nice,
    /// The CPUs the task may run on, as set (not intersected with the online CPUs).
    pub(crate) affinity: CpuSet,
    /// Virtual runtime, on the virtual clock of the queue it is on, or while sleeping of
    /// the queue it blocked on (its `last_cpu`'s); the key it is sorted by when waiting.
    pub(crate) vruntime: u64,
    /// Virtual runtime minus the floor of the queue its affinity took it off (kept while
    /// [`TaskState::Migrating`]).
    pub(crate) lag: i64,
    /// Tie-breaker of the run-queue key while waiting (FIFO among equal virtual runtimes).
    pub(crate) queue_sequence: u64,
    /// The CPU the task last ran on.
    pub(crate) last_cpu: Option<usize>,
    pub(crate) exec_runtime_ns: u64,
}

impl<R: RawMutex> SchedEntity<R> {
    /// A new task: nice 0, allowed on every CPU, [`TaskState::New`].
    pub const fn new() -> Self {
        SchedEntity::with_parameters(Nice::DEFAULT, CpuSet::all())
    }

    /// A new task that inherits `parent`'s nice value and affinity, as `fork` and `clone`
    /// children do.
    pub fn forked_from(parent: &SchedEntity<R>) -> Self {
        let (nice, affinity) = {
            let parent_state = parent.lock();
            (parent_state.nice, parent_state.affinity)
        };
        SchedEntity::with_parameters(nice, affinity)
    }

    const fn with_parameters(nice: Nice, affinity: CpuSet) -> Self {
        SchedEntity {
            state: Mutex::new(EntityState {
                status: TaskState::New,
                stop_request: None,
                nice,
                affinity,
                vruntime: 0,
                lag: 0,
                queue_sequence: 0,
                last_cpu: None,
                exec_runtime_ns: 0,
            }),
            on_cpu: AtomicBool::new(false),
        }
    }

    /// Where the task is now.
    pub fn state(&self) -> TaskState {
        self.lock().status
    }

    /// The task's nice value.
    pub fn nice(&self) -> Nice {
        self.lock().nice
    }

    /// The CPUs the task may run on (what `sched_getaffinity` reports, before the kernel
    /// intersects it with the online CPUs).
    pub fn affinity(&self) -> CpuSet {
        self.lock().affinity
    }

    /// The CPU the task ran on last, if it ran at all.
    pub fn last_cpu(&self) -> Option<usize> {
        self.lock().last_cpu
    }

    /// CPU time the task has consumed, in nanoseconds, up to the last scheduler call that
    /// accounted it (a tick, a yield or a pick on its CPU).
    pub fn exec_runtime_ns(&self) -> u64 {
        self.lock().exec_runtime_ns
    }

    /// The task's virtual runtime (meaningful relative to its queue's other tasks).
    pub fn vruntime(&self) -> u64 {
        self.lock().vruntime
    }

    /// True while some CPU runs the task or has not yet finished switching away from it.
    pub fn is_on_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::Acquire)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, R, EntityState> {
        self.state.lock()
    }

    /// Called with the entity lock held by the CPU that picks the task.
    pub(crate) fn mark_on_cpu(&self) {
        self.on_cpu.store(true, Ordering::Release);
    }

    /// Called by the CPU that switched away from the task, after the switch: everything it
    /// saved of the task is visible to whoever sees the flag clear.
    pub(crate) fn mark_off_cpu(&self) {
        self.on_cpu.store(false, Ordering::Release);
    }

    /// Spin until no CPU is still switching away from the task. The CPU doing that switch
    /// holds no lock the caller could hold and has interrupts off, so this is short.
    pub(crate) fn wait_until_off_cpu(&self) {
        let backoff = Backoff::new();
        while self.is_on_cpu() {
            backoff.snooze();
        }
    }
}

impl<R: RawMutex> Default for SchedEntity<R> {
    fn default() -> Self {
        SchedEntity::new()
    }
}

impl EntityState {
    /// The task's load weight.
    pub(crate) fn weight(&self) -> u64 {
        u64::from(self.nice.weight())
    }
}
