//! The scheduler tick, tickless where nothing needs it (as Linux's NO_HZ): a CPU runs
//! its periodic tick only while tasks wait behind its running one (preemption has work
//! to do); an idle CPU, or one with a single task, sleeps until its next timer. That
//! keeps a lone benchmark loop free of tick interrupts, so instruction counts stay exact.
//!
//! Whoever queues a task on a CPU whose tick is off sends it the reschedule IPI
//! ([`placed_on`]), and every pick re-decides ([`update`]). A ticking CPU also kicks
//! the least loaded CPU to pull work now and then (periodic balancing).

use super::{request, scheduler, timers};
use crate::task::Task;
use crate::{apic, smp, task, timer, tsc};
use core::sync::atomic::{Ordering, fence};
use topframe_entry::WorkFlags;
use topframe_sched::{Placement, Reschedule, Schedulable, TaskState};

/// The tick period: 4 ms (Linux's HZ=250, Debian's default).
pub const TICK_NS: u64 = 4_000_000;
/// Ticks between balancing kicks.
const BALANCE_TICKS: u64 = 4;
/// The vector that makes a CPU pull waiting tasks from busier ones.
pub const BALANCE_VECTOR: u8 = 0xfb;

topframe_percpu::per_cpu! {
    /// True while this CPU runs its periodic tick.
    static TICKING: bool = false;
    /// The TSC value of the next tick (while TICKING).
    static NEXT_TICK: u64 = 0;
    /// Ticks taken.
    static TICKS: u64 = 0;
    /// The deadline the timer is programmed for (0: none).
    static PROGRAMMED: u64 = 0;
}

/// Decide whether this CPU needs its tick, and program its timer for the earliest of the
/// tick and its sleep timers. Interrupts off.
pub fn update() {
    let cpu = topframe_percpu::cpu_id();
    let needed = || task::try_current().is_some() && scheduler().cpu_stats(cpu).waiting > 0;
    let mut ticking = needed();
    TICKING.write(ticking);
    // Pairs with the fence in `placed_on`: either a CPU queueing a task here sees
    // TICKING set, or this re-check sees its task.
    fence(Ordering::SeqCst);
    if !ticking && needed() {
        ticking = true;
        TICKING.write(true);
    }
    let now = tsc::read();
    if ticking && NEXT_TICK.read() <= now {
        NEXT_TICK.write(now + tsc::from_nanoseconds(TICK_NS));
    }
    program(ticking.then(|| NEXT_TICK.read()));
}

/// Program this CPU's timer for the earlier of `tick` and its first sleep timer.
fn program(tick: Option<u64>) {
    let deadline = match (tick, timers::earliest_here()) {
        (Some(tick), Some(timer)) => Some(tick.min(timer)),
        (tick, timer) => tick.or(timer),
    };
    let deadline = deadline.unwrap_or(0);
    if deadline != PROGRAMMED.read() {
        PROGRAMMED.write(deadline);
        if deadline == 0 {
            timer::disarm();
        } else {
            timer::arm(deadline);
        }
    }
}

/// A task was queued on `placement.cpu`: make sure that CPU ticks if it must.
pub fn placed_on(placement: Placement) {
    let here = topframe_percpu::cpu_id();
    if placement.cpu == here {
        update();
        return;
    }
    if placement.reschedule == Reschedule::Ipi(placement.cpu) {
        return; // the IPI already makes it re-decide
    }
    fence(Ordering::SeqCst);
    if TICKING.remote_read(placement.cpu) == Some(false) {
        apic::send_ipi(smp::apic_id(placement.cpu), super::RESCHEDULE_VECTOR);
    }
}

/// Ticks `cpu` has taken.
pub fn ticks(cpu: usize) -> u64 {
    TICKS.remote_read(cpu).unwrap_or(0)
}

/// A scheduler call may have moved `task` to another CPU's queue without asking for a
/// reschedule there (affinity changes, a switch away from a CPU it may no longer use):
/// make sure that CPU ticks if it must.
pub fn after_move(task: &Task) {
    if let TaskState::Queued { cpu } = task.sched_entity().state() {
        placed_on(Placement {
            cpu,
            reschedule: Reschedule::NotNeeded,
        });
    }
}

/// The local timer interrupt: expire sleep timers, then the tick's work if it is due.
pub fn timer_interrupt() {
    if super::try_scheduler().is_none() {
        return;
    }
    let cpu = topframe_percpu::cpu_id();
    let now = tsc::read();
    PROGRAMMED.write(0);
    timers::expire(cpu, now);
    if TICKING.read() && now >= NEXT_TICK.read() {
        if scheduler().tick(cpu, tsc::to_nanoseconds(now))
            && let Some(task) = task::try_current()
        {
            task.work.set(WorkFlags::NEED_RESCHED);
        }
        TICKS.inc();
        if TICKS.read().is_multiple_of(BALANCE_TICKS) {
            kick_least_loaded(cpu);
        }
        NEXT_TICK.write(now + tsc::from_nanoseconds(TICK_NS));
    }
    update();
}

/// This CPU has tasks waiting: ask the least loaded other CPU, if lighter, to pull.
fn kick_least_loaded(cpu: usize) {
    let scheduler = scheduler();
    let load = scheduler.cpu_stats(cpu).load_weight;
    let lightest = scheduler
        .online_cpus()
        .iter()
        .filter(|&other| other != cpu)
        .map(|other| (scheduler.cpu_stats(other).load_weight, other))
        .min();
    if let Some((lightest_load, lightest)) = lightest
        && lightest_load < load
    {
        apic::send_ipi(smp::apic_id(lightest), BALANCE_VECTOR);
    }
}

/// The balancing kick: pull waiting tasks from busier CPUs, and run them.
pub fn balance_interrupt() {
    let cpu = topframe_percpu::cpu_id();
    if scheduler().balance(cpu) > 0 {
        request(Reschedule::ThisCpu);
        update();
    }
}
