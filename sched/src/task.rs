//! How the scheduler reaches the kernel's tasks: through a cloneable handle (`Arc<Task>`)
//! to a task type that embeds a [`SchedEntity`].

use crate::entity::SchedEntity;
use core::ops::Deref;

/// A task type that embeds a [`SchedEntity`] (the kernel's `Task`).
pub trait Schedulable {
    /// The lock the kernel supplies for the entity and for the run queues: a spin lock
    /// that keeps interrupts off while held, in a kernel.
    type RawMutex: lock_api::RawMutex;

    /// The task's scheduling entity.
    fn sched_entity(&self) -> &SchedEntity<Self::RawMutex>;
}

/// What the scheduler stores in its queues: a cheap cloneable pointer to a [`Schedulable`]
/// task, such as `Arc<Task>`. Implemented for every such pointer; two handles are the same
/// task when they point at the same entity.
pub trait TaskHandle: Clone + Deref<Target: Schedulable> {
    /// The task's scheduling entity.
    fn entity(&self) -> &SchedEntity<RawMutexOf<Self>> {
        (**self).sched_entity()
    }

    /// True when both handles point at the same task.
    fn is_same_task(&self, other: &Self) -> bool {
        core::ptr::eq(self.entity(), other.entity())
    }
}

impl<Handle: Clone + Deref<Target: Schedulable>> TaskHandle for Handle {}

/// The raw mutex type of the tasks a handle points at.
pub type RawMutexOf<Handle> = <<Handle as Deref>::Target as Schedulable>::RawMutex;
