//! Sleep timers: each CPU keeps the deadlines armed on it in a heap, earliest first, and
//! its timer interrupt wakes the tasks whose deadline passed. A task has at most one
//! timer armed (its current timed wait) and disarms it when the wait ends, under the same
//! lock the expiry holds while it wakes: no entry outlives its wait, and the interrupt
//! never drops a task's last handle.

use super::{prepare_to_block, schedule, wake_from_timer};
use crate::sync::IrqSafeLock;
use crate::task::{self, Task};
use crate::tsc;
use alloc::collections::BinaryHeap;
use alloc::sync::Arc;
use core::cmp::Ordering as Order;
use core::sync::atomic::Ordering;
use topframe_percpu::NO_CPU;
use x86_64::instructions::interrupts;

/// One armed timeout.
struct Timer {
    /// TSC value at which it fires.
    deadline: u64,
    task: Arc<Task>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Order> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> Order {
        other.deadline.cmp(&self.deadline)
    }
}

topframe_percpu::per_cpu! {
    /// The timers armed on this CPU.
    static TIMERS: IrqSafeLock<BinaryHeap<Timer>> = IrqSafeLock::new(BinaryHeap::new());
}

fn timers_of(cpu: usize) -> &'static IrqSafeLock<BinaryHeap<Timer>> {
    TIMERS
        .remote(cpu)
        .expect("timers exist for every online CPU")
}

/// Arm `task`'s timeout for TSC `deadline` on this CPU (allocates: process context).
pub fn arm(task: &Arc<Task>, deadline: u64) {
    interrupts::without_interrupts(|| {
        let cpu = topframe_percpu::cpu_id();
        task.timed_out.store(false, Ordering::Relaxed);
        task.timer_cpu.store(cpu, Ordering::Release);
        timers_of(cpu).lock().push(Timer {
            deadline,
            task: task.clone(),
        });
        super::tick::update();
    });
}

/// Disarm `task`'s timeout, if it has not fired; once this returns, no timer interrupt
/// touches the task any more.
pub fn disarm(task: &Task) {
    let cpu = task.timer_cpu.swap(NO_CPU, Ordering::AcqRel);
    if cpu != NO_CPU {
        // An expiry in progress on `cpu` holds this lock until it is done with the task.
        timers_of(cpu)
            .lock()
            .retain(|timer| !core::ptr::eq(&*timer.task, task));
    }
}

/// The earliest deadline armed on this CPU.
pub fn earliest_here() -> Option<u64> {
    timers_of(topframe_percpu::cpu_id())
        .lock()
        .peek()
        .map(|timer| timer.deadline)
}

/// Wake every task on `cpu` (this one) whose deadline is at or before `now`: the timer
/// interrupt, which reprograms the timer afterwards. Never allocates, and never drops a
/// task's last handle: the task is still in its timed wait (its disarm waits for this
/// lock), holding a handle of its own.
pub fn expire(cpu: usize, now: u64) {
    let mut timers = timers_of(cpu).lock();
    while timers.peek().is_some_and(|timer| timer.deadline <= now) {
        let Some(timer) = timers.pop() else { break };
        timer.task.timed_out.store(true, Ordering::Release);
        wake_from_timer(&timer.task);
    }
}

/// The wait was cut short: the task's process is being torn down.
#[derive(Debug)]
pub struct Interrupted;

/// Sleep until the monotonic clock reaches `deadline_ns`. Err when a fatal signal ends
/// the sleep early.
pub fn sleep_until(deadline_ns: u64) -> Result<(), Interrupted> {
    let task = task::current_handle();
    let deadline = tsc::from_nanoseconds(deadline_ns);
    loop {
        if tsc::read() >= deadline {
            return Ok(());
        }
        if crate::signal::interrupts_wait(&task) {
            return Err(Interrupted);
        }
        prepare_to_block(&task);
        arm(&task, deadline);
        schedule();
        disarm(&task);
    }
}
