//! Requests the scheduler refuses.

use core::fmt;

/// A refused request; each maps onto the errno a Linux system call would return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedError {
    /// The affinity mask holds no online CPU (`sched_setaffinity`'s -EINVAL).
    NoOnlineCpuInAffinity,
    /// [`Scheduler::add_task`](crate::Scheduler::add_task) on a task that is not
    /// [`TaskState::New`](crate::TaskState::New) (a kernel bug, not a user error).
    AlreadyAdded,
}

impl SchedError {
    /// The Linux errno for the error (positive; system calls return its negation).
    pub const fn errno(self) -> i32 {
        const EINVAL: i32 = 22;
        match self {
            SchedError::NoOnlineCpuInAffinity | SchedError::AlreadyAdded => EINVAL,
        }
    }
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedError::NoOnlineCpuInAffinity => f.write_str("affinity mask holds no online CPU"),
            SchedError::AlreadyAdded => f.write_str("task was already added to the scheduler"),
        }
    }
}

impl core::error::Error for SchedError {}
