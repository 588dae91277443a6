//! A kernel-agnostic multi-core scheduler for x86_64 kernels: per-CPU run queues under a
//! fair policy (CFS-style weighted virtual runtime), wake-up placement on the previous or
//! an idle CPU with reschedule requests, idle stealing and periodic balancing, affinity
//! masks respected everywhere, and wait queues. Plain `no_std` Rust (with `alloc`), tested
//! on the host with threads emulating CPUs.
//!
//! The crate decides *which task runs where and when*. Everything that touches the machine
//! stays in the kernel: the context switch, the need-resched flag, reschedule IPIs, timers,
//! `hlt`. Scheduler calls return what the kernel must do ([`Reschedule`], [`Placement`],
//! [`SwitchFinished`]). This page is the contract between the two.
//!
//! # What the kernel implements
//!
//! | what | how |
//! |---|---|
//! | its task type | embeds a [`SchedEntity`] and implements [`Schedulable`]: one associated type (the raw mutex) and one method returning the entity |
//! | a task handle | any cheap `Clone + Deref<Target = Task>` pointer, usually `Arc<Task>`; [`TaskHandle`] is implemented for every such type, nothing to write. Cloning it must not allocate (wake-ups in interrupt handlers clone handles) |
//! | a lock | a [`lock_api::RawMutex`], [`Schedulable::RawMutex`], for the entities, run queues and wait queues. In a kernel it must keep interrupts off on the holding CPU while held (interrupt handlers wake tasks), and may save and restore the interrupt flag in itself: this crate releases its locks in the reverse of the order it takes them |
//! | run-queue storage | nothing, with [`PaddedRunQueues`] (one heap array); or a [`RunQueues`] impl over the kernel's per-CPU data (a per-CPU static of [`RunQueue`], whose `new` is `const`; see [below](#run-queues-in-per-cpu-data)) |
//! | a clock | a monotonic nanosecond clock per CPU, read by the kernel and passed to [`Scheduler::pick_next`], [`Scheduler::tick`] and [`Scheduler::yield_current`] (only differences between two readings on the same CPU matter) |
//!
//! There is no callback trait: the scheduler never calls into the kernel, apart from the
//! raw mutex, `Deref`/`Clone`/`Drop` of handles and the global allocator.
//!
//! # What the kernel does itself
//!
//! - The context switch (registers, stack, address space, FPU state) and its own record
//!   of each CPU's current task: the scheduler keeps a handle to each CPU's running task
//!   until it stops running there, so a raw pointer from it stays valid that long.
//! - The need-resched flag (per task or per CPU) and the preemption points that test it
//!   (return to user mode, explicit reschedule points).
//! - The reschedule IPI: its handler only sets need-resched (an idle CPU leaves `hlt` and
//!   picks again anyway).
//! - The timer: when to call [`Scheduler::tick`] and [`Scheduler::balance`] (e.g. a
//!   periodic tick, or a tickless scheme that ticks only while tasks wait).
//! - Creating and freeing tasks: [`Scheduler::finish_switch`] hands the last scheduler
//!   handle of an exited task back for the kernel to drop.
//!
//! # How the kernel drives it
//!
//! `cpu` is always the CPU the call runs on (the kernel's CPU number, `0..`[`MAX_CPUS`]),
//! `caller_cpu` likewise; every call taking a CPU panics for a CPU without a run queue.
//!
//! | kernel event | call | then |
//! |---|---|---|
//! | boot, once every CPU that will run tasks is up | [`Scheduler::new`] (the CPUs with a queue are the online ones, fixed from now on) | keep it in a static (e.g. a `spin::Once`) |
//! | task created (`clone`, `fork`) | [`SchedEntity::forked_from`] (or [`SchedEntity::new`]), then [`Scheduler::add_task`] | act on the [`Placement`]'s `reschedule` |
//! | timer tick on `cpu` | [`Scheduler::tick`] | true: set need-resched |
//! | every few ticks (or on a balancing IPI) | [`Scheduler::balance`] on the lighter CPU | more than 0 moved: set need-resched there |
//! | `schedule()` (need-resched at a preemption point, blocking, yielding, exiting) | [`Scheduler::pick_next`], switch to the task it returns (or to the idle context for `None`), [`Scheduler::finish_switch`] on the new stack | act on its `reschedule`; drop its `switched_out` handle |
//! | a new task's first instructions (its first switch does not return into `schedule()`) | [`Scheduler::finish_switch`] | as above |
//! | idle context | [`Scheduler::pick_next`]; `None`: [`Scheduler::finish_switch`], then `sti; hlt` atomically, and pick again after any interrupt | |
//! | `sched_yield` | [`Scheduler::yield_current`], then `schedule()` | |
//! | blocking | [`WaitQueue::prepare_to_wait`] (or [`Scheduler::prepare_to_block`]), re-check the condition, `schedule()`, [`WaitQueue::finish_wait`] (or [`Scheduler::cancel_block`]) | |
//! | waking (any context, interrupt handlers included) | [`WaitQueue::wake_one`] / [`WaitQueue::wake_all`], then [`Scheduler::wake`] for each | [`WakeOutcome::Woken`]: act on its `reschedule` |
//! | exit | [`Scheduler::prepare_to_exit`], then `schedule()` | [`Scheduler::finish_switch`] hands the task back |
//! | `sched_setaffinity`, `setpriority` | [`Scheduler::set_affinity`], [`Scheduler::set_nice`] | act on the [`Reschedule`] |
//! | reschedule IPI received | nothing: set need-resched | |
//! | per-CPU figures | [`Scheduler::cpu_stats`], [`Scheduler::idle_cpus`], [`Scheduler::live_tasks`] | |
//!
//! Acting on a [`Reschedule`]: [`Reschedule::Ipi`]`(cpu)` means send that CPU the
//! reschedule IPI; [`Reschedule::ThisCpu`] means set this CPU's need-resched flag (nothing
//! more when this CPU is idle: it picks again after the interrupt it is in);
//! [`Reschedule::NotNeeded`] means nothing.
//!
//! # Rules: interrupts, locks, allocation, time
//!
//! - `pick_next`, `finish_switch`, `tick` and `yield_current` take the CPU they run on;
//!   call them with interrupts off. Between `pick_next` returning a different task (or
//!   `None`) and `finish_switch`, the CPU switches stacks and does nothing else: other CPUs
//!   wait (spinning) for `finish_switch` before they run the task switched away from.
//!   Calling `finish_switch` after every `pick_next` is correct (a no-op without a switch).
//! - When `pick_next` returns `None`, the CPU is idle: enable interrupts and `hlt`
//!   atomically (`sti; hlt`), and call `pick_next` again after any interrupt. Keep the
//!   periodic tick (or call [`Scheduler::balance`]) on idle CPUs, or have busy CPUs kick
//!   them with an IPI, so they steal work that waits behind a busy CPU's running task:
//!   an idle CPU steals only when it picks.
//! - Lock order: a wait queue's lock, then run-queue locks (two at once only in ascending
//!   CPU order), then one task entity's lock. Wake-ups may be called with wait-queue (or
//!   other kernel) locks held; the scheduler never takes a wait queue's lock itself.
//! - Allocation happens only in [`PaddedRunQueues::new`], [`Scheduler::add_task`] (every
//!   run queue grows to hold every live task, under its lock) and
//!   [`WaitQueue::prepare_to_wait`] (under the wait queue's lock): process context, and
//!   with the kernel's lock held, so with interrupts off in a kernel; the allocator must
//!   work there and must not call into the scheduler. Waking, ticking, picking, switching
//!   and balancing never allocate, so they are safe in interrupt handlers even with a heap
//!   lock that does not disable interrupts. The scheduler never drops the last handle of a
//!   task: [`Scheduler::finish_switch`] hands back the switched-out task.
//!   [`WaitQueue::wake_all`] hands its buffer to the caller, who frees it.
//! - The running task's runtime is charged from the `now_ns` of `pick_next`, `tick` and
//!   `yield_current` on its CPU; nothing needs a `ran_ns` figure from the kernel, and time
//!   between ticks is never lost or counted twice. Wake-ups read no clock. The policy's
//!   constants (Linux's base tunables) are in [`policy`].
//!
//! # Feature flags
//!
//! None. The crate is `no_std` and needs `alloc` (a global allocator).
//!
//! # Run queues in per-CPU data
//!
//! Instead of [`PaddedRunQueues`], a kernel can keep each CPU's [`RunQueue`] in its own
//! per-CPU data. With `topframe-percpu` (not a dependency of this crate, hence not compiled
//! here; this exact code runs on a Linux host with `install_on_current_thread` for each
//! CPU first):
//!
//! ```ignore
//! use std::sync::Arc;
//! use topframe_sched::{RunQueue, RunQueues, Scheduler};
//!
//! topframe_percpu::per_cpu! {
//!     /// This CPU's run queue: a copy per CPU, reached remotely through the area table.
//!     static RUN_QUEUE: RunQueue<Arc<Task>> = RunQueue::new();
//! }
//!
//! struct PerCpuRunQueues;
//!
//! impl RunQueues<Arc<Task>> for PerCpuRunQueues {
//!     fn run_queue(&self, cpu: usize) -> Option<&RunQueue<Arc<Task>>> {
//!         RUN_QUEUE.remote(cpu) // None for a CPU without a per-CPU area
//!     }
//! }
//!
//! // Once every CPU has its per-CPU area: those CPUs are the scheduler's online ones.
//! let scheduler: Scheduler<Arc<Task>, PerCpuRunQueues> = Scheduler::new(PerCpuRunQueues);
//! ```
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
