//! What scheduler calls ask of the kernel: which CPU must reschedule, where a task went.

/// Whether some CPU must reschedule because of a scheduler call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "a CPU may have to reschedule"]
pub enum Reschedule {
    /// Nothing to do.
    NotNeeded,
    /// The calling CPU should reschedule: set its need-resched flag, so that it calls
    /// [`Scheduler::pick_next`](crate::Scheduler::pick_next) at its next preemption point
    /// (or at once when it is idle).
    ThisCpu,
    /// Another CPU should reschedule: send it the reschedule IPI.
    Ipi(usize),
}

impl Reschedule {
    /// The request for `target` as seen from `caller_cpu`, if `needed`.
    pub(crate) fn of(target: usize, caller_cpu: usize, needed: bool) -> Reschedule {
        match (needed, target == caller_cpu) {
            (false, _) => Reschedule::NotNeeded,
            (true, true) => Reschedule::ThisCpu,
            (true, false) => Reschedule::Ipi(target),
        }
    }
}

/// Where a runnable task was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "the target CPU may need a reschedule IPI"]
pub struct Placement {
    /// The CPU whose run queue took the task.
    pub cpu: usize,
    /// Whether that CPU must reschedule: it was idle, or the task should preempt its
    /// current one.
    pub reschedule: Reschedule,
}

/// What [`Scheduler::wake`](crate::Scheduler::wake) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "the target CPU may need a reschedule IPI"]
pub enum WakeOutcome {
    /// The task was sleeping and is now queued.
    Woken(Placement),
    /// The task was already runnable (a second wake): nothing changed.
    AlreadyQueued,
    /// The task is running: no queue changed, but a block it had prepared
    /// ([`Scheduler::prepare_to_block`](crate::Scheduler::prepare_to_block)) is cancelled,
    /// so it keeps running (this is what makes a wake racing with a block never lost).
    AlreadyRunning,
    /// The task was never added, or has exited: nothing to wake.
    NotLive,
}

/// What [`Scheduler::finish_switch`](crate::Scheduler::finish_switch) did.
#[derive(Debug)]
#[must_use = "the switched-out task may need dropping outside the scheduler, and a CPU a reschedule"]
pub struct SwitchFinished<T> {
    /// The task this CPU switched away from, if it switched. Handed back so that the
    /// kernel drops it (perhaps the last reference to an exited task) where it chooses:
    /// the scheduler never drops a task's last handle.
    pub switched_out: Option<T>,
    /// Set when the switched-out task was no longer allowed on this CPU and went to
    /// another CPU's queue, which may need an IPI.
    pub reschedule: Reschedule,
}
