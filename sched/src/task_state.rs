//! Where a task is in its scheduling life.

/// A task's scheduling state, as [`SchedEntity::state`](crate::SchedEntity::state) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Created, not yet given to [`Scheduler::add_task`](crate::Scheduler::add_task).
    New,
    /// Blocked: on no run queue until [`Scheduler::wake`](crate::Scheduler::wake).
    Sleeping,
    /// Runnable and between two run queues for a moment (its affinity moved it away from
    /// its CPU); the scheduler call that moved it puts it on its new queue before it returns.
    Migrating,
    /// Runnable, waiting in `cpu`'s run queue.
    Queued {
        /// The CPU whose run queue holds the task.
        cpu: usize,
    },
    /// The current task of `cpu`.
    Running {
        /// The CPU running the task.
        cpu: usize,
    },
    /// Gone for good after [`Scheduler::prepare_to_exit`](crate::Scheduler::prepare_to_exit).
    Exited,
}

impl TaskState {
    /// The CPU whose run queue holds the task (waiting or running), if any.
    pub fn run_queue_cpu(self) -> Option<usize> {
        match self {
            TaskState::Queued { cpu } | TaskState::Running { cpu } => Some(cpu),
            TaskState::New | TaskState::Sleeping | TaskState::Migrating | TaskState::Exited => None,
        }
    }
}
