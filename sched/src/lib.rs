//! A kernel-agnostic multi-core scheduler for x86_64 kernels: per-CPU run queues under a
//! fair policy (CFS-style weighted virtual runtime), wake-up placement on the previous or
//! an idle CPU with reschedule requests, idle stealing and periodic balancing, affinity
//! masks respected everywhere, and wait queues. Plain `no_std` Rust (with `alloc`), tested
//! on the host with threads emulating CPUs.
//!
//! # What the kernel provides
//!
//! - A task type embedding a [`SchedEntity`] and implementing [`Schedulable`]; the
//!   scheduler holds tasks through a cloneable handle, `Arc<Task>` ([`TaskHandle`]).
//! - A [`lock_api::RawMutex`] for the entities, run queues and wait queues. In a kernel it
//!   must keep interrupts off while held (interrupt handlers wake tasks), and may save and
//!   restore the interrupt flag in itself: this crate releases its locks in the reverse of
//!   the order it takes them.
//! - The run queues' storage, through [`RunQueues`]: a per-CPU static of [`RunQueue`]
//!   (`RunQueue::new` is `const`) reached with the per-CPU crate's `remote(cpu)`, or a
//!   [`PaddedRunQueues`] array. The CPUs that have a queue are the online ones.
//! - A monotonic nanosecond clock per CPU for [`Scheduler::pick_next`],
//!   [`Scheduler::tick`] and [`Scheduler::yield_current`] (only differences between two
//!   readings on the same CPU matter).
//! - The context switch itself, the need-resched flag, reschedule IPIs and `hlt`.
//!
//! # How the kernel drives it
//!
//! | kernel event | call |
//! |---|---|
//! | task created (`clone`, `fork`) | [`SchedEntity::forked_from`], then [`Scheduler::add_task`] |
//! | timer tick | [`Scheduler::tick`]: true means set need-resched; every few ticks [`Scheduler::balance`] |
//! | `schedule()` (need-resched at a preemption point, blocking, yielding, idle) | [`Scheduler::pick_next`], switch, [`Scheduler::finish_switch`] |
//! | `sched_yield` | [`Scheduler::yield_current`], then `schedule()` |
//! | blocking | [`WaitQueue::prepare_to_wait`] (or [`Scheduler::prepare_to_block`]), re-check, `schedule()`, [`WaitQueue::finish_wait`] |
//! | waking | [`WaitQueue::wake_one`] / [`WaitQueue::wake_all`], then [`Scheduler::wake`] for each |
//! | exit | [`Scheduler::prepare_to_exit`], then `schedule()`; [`Scheduler::finish_switch`] hands the task back |
//! | `sched_setaffinity`, `setpriority` | [`Scheduler::set_affinity`], [`Scheduler::set_nice`] |
//! | per-CPU table | [`Scheduler::cpu_stats`] |
//!
//! Every call that can make another CPU reschedule returns a [`Reschedule`]:
//! [`Reschedule::Ipi`] means send that CPU the reschedule IPI, [`Reschedule::ThisCpu`]
//! means set this CPU's need-resched flag.
//!
//! # Rules for the integrator
//!
//! - `pick_next`, `finish_switch`, `tick` and `yield_current` take the CPU they run on;
//!   call them with interrupts off. Between `pick_next` returning a different task (or
//!   `None`) and `finish_switch`, the CPU switches stacks and does nothing else: other CPUs
//!   wait (spinning) for `finish_switch` before they run the task switched away from.
//! - When `pick_next` returns `None`, the CPU is idle: enable interrupts and `hlt`
//!   atomically (`sti; hlt`), and call `pick_next` again after any interrupt. Keep the
//!   periodic tick (or call [`Scheduler::balance`]) on idle CPUs, so they steal work that
//!   waits behind a busy CPU's running task.
//! - Lock order: a wait queue's lock, then run-queue locks (two at once only in ascending
//!   CPU order), then one task entity's lock. Wake-ups may be called with wait-queue (or
//!   other kernel) locks held.
//! - Allocation happens only in [`PaddedRunQueues::new`], [`Scheduler::add_task`] (every
//!   run queue grows to hold every live task, under its lock) and
//!   [`WaitQueue::prepare_to_wait`]: process context. Waking, ticking, picking, switching
//!   and balancing never allocate, so they are safe in interrupt handlers even with a heap
//!   lock that does not disable interrupts. The scheduler never drops the last handle of a
//!   task: [`Scheduler::finish_switch`] hands back the switched-out task.
//! - The running task's runtime is charged from the `now_ns` of `pick_next`, `tick` and
//!   `yield_current` on its CPU; nothing needs a `ran_ns` figure from the kernel, and time
//!   between ticks is never lost or counted twice. Wake-ups read no clock.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use topframe_sched::{
//!     PaddedRunQueues, Reschedule, SchedEntity, Schedulable, Scheduler, WaitQueue,
//!     WakeOutcome,
//! };
//!
//! // The kernel's task, with the scheduler's entity embedded. A kernel's raw mutex would
//! // disable interrupts; the host uses a plain spin lock.
//! struct Task {
//!     name: &'static str,
//!     sched: SchedEntity<spin::Mutex<()>>,
//! }
//!
//! impl Schedulable for Task {
//!     type RawMutex = spin::Mutex<()>;
//!     fn sched_entity(&self) -> &SchedEntity<spin::Mutex<()>> {
//!         &self.sched
//!     }
//! }
//!
//! let scheduler: Scheduler<Arc<Task>> = Scheduler::new(PaddedRunQueues::new(2));
//! let shell = Arc::new(Task { name: "shell", sched: SchedEntity::new() });
//! let child = Arc::new(Task { name: "child", sched: SchedEntity::forked_from(&shell.sched) });
//!
//! // Both start on idle CPUs: CPU 0 (the caller's) first, then CPU 1, which needs an IPI.
//! let placed = scheduler.add_task(&shell, 0).unwrap();
//! assert_eq!((placed.cpu, placed.reschedule), (0, Reschedule::ThisCpu));
//! let placed = scheduler.add_task(&child, 0).unwrap();
//! assert_eq!((placed.cpu, placed.reschedule), (1, Reschedule::Ipi(1)));
//!
//! // Each CPU's schedule(): pick, switch stacks, finish the switch.
//! let mut now_ns = 0;
//! let current = scheduler.pick_next(0, now_ns).unwrap();
//! assert_eq!(current.name, "shell");
//! let _ = scheduler.finish_switch(0);
//! let child = scheduler.pick_next(1, now_ns).unwrap();
//! let _ = scheduler.finish_switch(1);
//!
//! // The shell waits for its child.
//! let child_exited = WaitQueue::new();
//! assert!(child_exited.prepare_to_wait(&scheduler, &current));
//! now_ns += 1_000_000;
//! assert!(scheduler.pick_next(0, now_ns).is_none()); // nothing else here: CPU 0 halts
//! let finished = scheduler.finish_switch(0);
//! assert_eq!(finished.switched_out.unwrap().name, "shell");
//!
//! // The child exits and wakes the shell.
//! assert!(scheduler.prepare_to_exit(&child));
//! for waiter in child_exited.wake_all() {
//!     // From CPU 1: the shell goes back to idle CPU 0, which gets an IPI.
//!     let outcome = scheduler.wake(&waiter, 1);
//!     assert!(matches!(
//!         outcome,
//!         WakeOutcome::Woken(placement) if placement.reschedule == Reschedule::Ipi(0)
//!     ));
//! }
//!
//! // CPU 0 takes the IPI and runs the shell again.
//! let shell = scheduler.pick_next(0, now_ns).unwrap();
//! let _ = scheduler.finish_switch(0);
//! assert!(!child_exited.finish_wait(&scheduler, &shell)); // it was woken through the queue
//!
//! // CPU 1 schedules away from the exited child and finds nothing to run.
//! assert!(scheduler.pick_next(1, now_ns).is_none());
//! let finished = scheduler.finish_switch(1);
//! assert_eq!(finished.switched_out.unwrap().name, "child"); // the kernel reaps it
//! assert_eq!(scheduler.live_tasks(), 1);
//! assert_eq!(scheduler.cpu_stats(1).context_switches, 2);
//! ```
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

mod affinity;
mod balance;
mod cpu_set;
mod entity;
mod error;
mod nice;
mod outcome;
mod placement;
pub mod policy;
mod queue_state;
mod run_queue;
mod run_queues;
mod scheduler;
mod stats;
mod switch;
mod task;
mod task_state;
mod wait_queue;

pub use cpu_set::{AtomicCpuSet, CpuSet, MAX_CPUS};
pub use entity::SchedEntity;
pub use error::SchedError;
pub use nice::{NICE_0_WEIGHT, Nice};
pub use outcome::{Placement, Reschedule, SwitchFinished, WakeOutcome};
pub use run_queue::RunQueue;
pub use run_queues::{PaddedRunQueues, RunQueues};
pub use scheduler::Scheduler;
pub use stats::CpuStats;
pub use task::{RawMutexOf, Schedulable, TaskHandle};
pub use task_state::TaskState;
pub use wait_queue::WaitQueue;
