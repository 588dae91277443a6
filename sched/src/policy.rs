//! The fair policy's constants and arithmetic: CFS-style weighted virtual runtime, with
//! Linux's base (unscaled) tunables.
//!
//! Every runnable task has a virtual runtime that advances by `ran_ns * 1024 / weight` while
//! it runs; each CPU runs the queued task with the smallest. A task's *lag* is its virtual
//! runtime minus its queue's `min_vruntime` (a monotonic floor under the virtual runtimes of
//! the queue's tasks); it travels with the task when it moves to another CPU. A sleeper's
//! lag grows more negative as its queue's floor advances while it sleeps: that is its
//! sleeper credit, capped at [`SLEEPER_CREDIT_NS`] when it wakes.

use crate::nice::NICE_0_WEIGHT;

/// Target latency: with up to [`LATENCY_TASKS`] runnable tasks, each runs once in this
/// period, for a share of it proportional to its weight (Linux's `sysctl_sched_latency`).
pub const SCHED_LATENCY_NS: u64 = 6_000_000;

/// The shortest slice a tick lets a task run before preempting it for fairness; with more
/// than [`LATENCY_TASKS`] runnable tasks the period stretches to `tasks * MIN_GRANULARITY_NS`
/// (Linux's `sysctl_sched_min_granularity`).
pub const MIN_GRANULARITY_NS: u64 = 750_000;

/// How many tasks fit in [`SCHED_LATENCY_NS`] at [`MIN_GRANULARITY_NS`] each.
pub const LATENCY_TASKS: u64 = SCHED_LATENCY_NS / MIN_GRANULARITY_NS;

/// A woken task preempts the running one only if it is behind it by more than this much
/// virtual time (scaled to the woken task's weight), so that wake-ups do not switch on
/// every trifle (Linux's `sysctl_sched_wakeup_granularity`).
pub const WAKEUP_GRANULARITY_NS: u64 = 1_000_000;

/// The most virtual time a waking (or moved) task is credited ahead of its queue's
/// `min_vruntime`: half the latency, Linux's `GENTLE_FAIR_SLEEPERS`. A task keeps whatever
/// debt (positive lag) it still has when it wakes, so blocking briefly earns nothing.
pub const SLEEPER_CREDIT_NS: u64 = SCHED_LATENCY_NS / 2;

/// `real_ns` of running converted to virtual time for a task of `weight`.
pub(crate) fn virtual_time(real_ns: u64, weight: u64) -> u64 {
    let scaled = u128::from(real_ns) * u128::from(NICE_0_WEIGHT) / u128::from(weight.max(1));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// The period in which each of `runnable` tasks runs once.
pub(crate) fn scheduling_period(runnable: usize) -> u64 {
    let runnable = runnable as u64;
    if runnable > LATENCY_TASKS {
        runnable * MIN_GRANULARITY_NS
    } else {
        SCHED_LATENCY_NS
    }
}

/// A task's real-time slice: its weight's share of the period, among `runnable` tasks whose
/// weights add up to `total_weight` (the task included).
pub(crate) fn time_slice(runnable: usize, weight: u64, total_weight: u64) -> u64 {
    let share = u128::from(scheduling_period(runnable)) * u128::from(weight)
        / u128::from(total_weight.max(1));
    u64::try_from(share).unwrap_or(u64::MAX)
}

/// The virtual start debit of a new task joining a queue with `runnable` tasks of
/// `queued_weight`: one virtual slice, so that a task that forks cannot keep its children
/// ahead of everyone (Linux's `START_DEBIT`).
pub(crate) fn start_debit(runnable: usize, weight: u64, queued_weight: u64) -> i64 {
    let total_weight = queued_weight + weight;
    let slice = time_slice(runnable + 1, weight, total_weight);
    i64::try_from(virtual_time(slice, weight)).unwrap_or(i64::MAX)
}

/// The virtual runtime of a task arriving with `lag` on a queue whose floor is
/// `min_vruntime`: the lag is kept, but credit is capped at [`SLEEPER_CREDIT_NS`].
pub(crate) fn arriving_vruntime(min_vruntime: u64, lag: i64) -> u64 {
    let credit_cap = -(SLEEPER_CREDIT_NS as i64);
    min_vruntime.saturating_add_signed(lag.max(credit_cap))
}

/// Whether the tick should preempt the running task: it used up its slice, or, past the
/// minimum granularity, it is ahead of the next waiting task by more than a slice.
pub(crate) fn tick_preempts(
    ran_in_slice_ns: u64,
    slice_ns: u64,
    current_vruntime: u64,
    next_vruntime: u64,
) -> bool {
    if ran_in_slice_ns >= slice_ns {
        return true;
    }
    if ran_in_slice_ns < MIN_GRANULARITY_NS {
        return false;
    }
    current_vruntime.saturating_sub(next_vruntime) > slice_ns
}

/// Whether a woken task should preempt the running one.
pub(crate) fn wakeup_preempts(
    current_vruntime: u64,
    woken_vruntime: u64,
    woken_weight: u64,
) -> bool {
    current_vruntime.saturating_sub(woken_vruntime)
        > virtual_time(WAKEUP_GRANULARITY_NS, woken_weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NICE_0: u64 = NICE_0_WEIGHT as u64;

    #[test]
    fn virtual_time_scales_with_weight() {
        assert_eq!(virtual_time(1000, NICE_0), 1000);
        assert_eq!(virtual_time(1000, 2 * NICE_0), 500);
        assert_eq!(virtual_time(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn period_and_slices() {
        assert_eq!(scheduling_period(1), SCHED_LATENCY_NS);
        assert_eq!(scheduling_period(8), SCHED_LATENCY_NS);
        assert_eq!(scheduling_period(16), 16 * MIN_GRANULARITY_NS);
        assert_eq!(time_slice(2, NICE_0, 2 * NICE_0), SCHED_LATENCY_NS / 2);
        assert_eq!(time_slice(16, NICE_0, 16 * NICE_0), MIN_GRANULARITY_NS);
        assert_eq!(
            time_slice(2, 2 * NICE_0, 3 * NICE_0),
            SCHED_LATENCY_NS * 2 / 3
        );
    }

    #[test]
    fn arrival_caps_credit_keeps_debt() {
        let floor = 100 * SCHED_LATENCY_NS;
        assert_eq!(
            arriving_vruntime(floor, -1_000_000_000),
            floor - SLEEPER_CREDIT_NS
        );
        assert_eq!(arriving_vruntime(floor, -1000), floor - 1000);
        assert_eq!(arriving_vruntime(floor, 5000), floor + 5000);
        assert_eq!(arriving_vruntime(10, -1000), 0);
        assert_eq!(
            start_debit(1, NICE_0, NICE_0),
            (SCHED_LATENCY_NS / 2) as i64
        );
    }

    #[test]
    fn preemption_rules() {
        let slice = 3_000_000;
        assert!(tick_preempts(slice, slice, 0, 0));
        assert!(!tick_preempts(MIN_GRANULARITY_NS - 1, slice, 10 * slice, 0));
        assert!(tick_preempts(
            MIN_GRANULARITY_NS,
            slice,
            2 * slice,
            slice / 2
        ));
        assert!(!tick_preempts(MIN_GRANULARITY_NS, slice, slice, 0));
        assert!(wakeup_preempts(WAKEUP_GRANULARITY_NS + 1, 0, NICE_0));
        assert!(!wakeup_preempts(WAKEUP_GRANULARITY_NS, 0, NICE_0));
        assert!(!wakeup_preempts(0, 10, NICE_0));
    }
}
