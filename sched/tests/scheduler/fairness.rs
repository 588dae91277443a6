//! The fair policy on one CPU, on a simulated clock (deterministic): shares follow the
//! weights, slices follow the latency and granularity, sleepers get bounded credit, and a
//! yield goes behind the others.

use super::harness::{EmulatedCpu, Task, TestScheduler, new_tasks, scheduler};
use std::collections::HashMap;
use topframe_sched::policy::{
    MIN_GRANULARITY_NS, SCHED_LATENCY_NS, SLEEPER_CREDIT_NS, WAKEUP_GRANULARITY_NS,
};
use topframe_sched::{Nice, Reschedule, WakeOutcome};

/// Stated bound: over 20 s, the CPU time of tasks deviates from their weights' shares by
/// at most 1%.
const FAIRNESS_BOUND: f64 = 0.01;
const SIMULATED_NS: u64 = 20_000_000_000;

/// Run `tasks` on CPU 0 of `scheduler` for `SIMULATED_NS`, with a tick every 0.5 to 1.5 ms
/// (seeded jitter); returns the CPU time each got, measured by the test itself.
fn run_on_one_cpu(scheduler: &TestScheduler, tasks: &[Task], seed: u64) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut cpu = EmulatedCpu::new(scheduler, 0);
    let mut received = vec![0; tasks.len()];
    let _ = cpu.schedule();
    while cpu.now_ns < SIMULATED_NS {
        let ran_ns = rng.u64(500_000..1_500_000);
        let id = cpu.current.as_ref().expect("always a task to run").id;
        received[id] += ran_ns;
        if cpu.run_and_tick(ran_ns) {
            let _ = cpu.schedule();
        }
    }
    received
}

fn add_with_nice(scheduler: &TestScheduler, tasks: &[Task], nices: &[i32]) {
    for (task, &nice) in tasks.iter().zip(nices) {
        scheduler.set_nice(task, Nice::clamped(nice));
        let _ = scheduler.add_task(task, 0).expect("new task");
    }
}

/// Each task's CPU time divided by its weight's share, minus one.
fn deviations(tasks: &[Task], received: &[u64]) -> Vec<f64> {
    let total_weight: f64 = tasks
        .iter()
        .map(|task| f64::from(task.sched.nice().weight()))
        .sum();
    let total_time: f64 = received.iter().map(|&ns| ns as f64).sum();
    tasks
        .iter()
        .zip(received)
        .map(|(task, &ns)| {
            let share = f64::from(task.sched.nice().weight()) / total_weight;
            ns as f64 / (share * total_time) - 1.0
        })
        .collect()
}

fn assert_fair(nices: &[i32], seed: u64) {
    let scheduler = scheduler(1);
    let tasks = new_tasks(nices.len());
    add_with_nice(&scheduler, &tasks, nices);
    let received = run_on_one_cpu(&scheduler, &tasks, seed);
    for (task, deviation) in tasks.iter().zip(deviations(&tasks, &received)) {
        assert!(
            deviation.abs() <= FAIRNESS_BOUND,
            "task {} (nice {}): {:+.3}% off its share; received {received:?}",
            task.id,
            task.sched.nice().value(),
            deviation * 100.0
        );
        // The scheduler's own accounting agrees with the test's to the last tick.
        let accounted = task.sched.exec_runtime_ns().abs_diff(received[task.id]);
        assert!(
            accounted <= 1_500_000,
            "task {}: {accounted} ns apart",
            task.id
        );
    }
}

#[test]
fn equal_weights_share_equally() {
    assert_fair(&[0; 5], 11);
}

#[test]
fn double_weight_gets_double_time() {
    // 1991 (nice -3) is the table's weight nearest to 2048: expected ratio 1991 / 1024.
    assert_fair(&[0, -3], 12);
}

#[test]
fn mixed_weights_share_by_weight() {
    assert_fair(&[0, -3, 5, 0, 10, -10], 13);
}

/// Lengths of the runs (consecutive time on the CPU) of `count` equal tasks, with a tick
/// every 100 us.
fn run_lengths(count: usize) -> Vec<u64> {
    let scheduler = scheduler(1);
    let tasks = new_tasks(count);
    add_with_nice(&scheduler, &tasks, &vec![0; count]);
    let mut cpu = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu.schedule();
    let mut lengths = Vec::new();
    let mut run_start = 0;
    while cpu.now_ns < 1_000_000_000 {
        if cpu.run_and_tick(100_000) {
            lengths.push(cpu.now_ns - run_start);
            run_start = cpu.now_ns;
            let _ = cpu.schedule();
        }
    }
    lengths
}

#[test]
fn slices_follow_latency_and_granularity() {
    // Two tasks share the 6 ms latency: 3 ms each.
    let two = run_lengths(2);
    assert!(two.iter().all(|&ns| ns == SCHED_LATENCY_NS / 2), "{two:?}");
    // Sixteen stretch the period to 16 x 0.75 ms: each runs the minimum granularity,
    // rounded up to the tick.
    let sixteen = run_lengths(16);
    assert!(
        sixteen.iter().all(|&ns| ns == MIN_GRANULARITY_NS + 50_000),
        "{sixteen:?}"
    );
}

#[test]
fn sleeper_credit_is_bounded() {
    let scheduler = scheduler(1);
    let tasks = new_tasks(3);
    add_with_nice(&scheduler, &tasks, &[0, 0, 0]);
    let mut cpu = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu.schedule();
    // Task 2 blocks at once; tasks 0 and 1 run for a second.
    let sleeper = tasks[2].clone();
    while cpu.current.as_ref().is_none_or(|task| task.id != 2) {
        cpu.run_and_tick(100_000);
        let _ = cpu.schedule();
    }
    assert!(scheduler.prepare_to_block(&sleeper));
    let _ = cpu.schedule();
    while cpu.now_ns < 1_000_000_000 {
        if cpu.run_and_tick(100_000) {
            let _ = cpu.schedule();
        }
    }
    // Woken, it preempts (this CPU's own task), but runs only until it has used its credit
    // (and its slice), not for the second it slept.
    let outcome = scheduler.wake(&sleeper, 0);
    assert!(
        matches!(outcome, WakeOutcome::Woken(placement) if placement.reschedule == Reschedule::ThisCpu),
        "{outcome:?}"
    );
    let _ = cpu.schedule();
    assert_eq!(cpu.current.as_ref().map(|task| task.id), Some(2));
    let mut ran_ns = 0;
    while cpu.current.as_ref().is_some_and(|task| task.id == 2) {
        ran_ns += 100_000;
        if cpu.run_and_tick(100_000) {
            let _ = cpu.schedule();
        }
    }
    let bound = SLEEPER_CREDIT_NS + SCHED_LATENCY_NS / 3 + WAKEUP_GRANULARITY_NS;
    assert!(
        ran_ns <= bound,
        "ran {ran_ns} ns after waking, bound {bound}"
    );
}

#[test]
fn yield_goes_behind_the_others() {
    let scheduler = scheduler(1);
    let tasks = new_tasks(3);
    add_with_nice(&scheduler, &tasks, &[0, 0, 0]);
    let mut cpu = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu.schedule();
    let mut order = Vec::new();
    for _ in 0..9 {
        let current = cpu.current.clone().expect("a task runs");
        order.push(current.id);
        cpu.now_ns += 10_000;
        scheduler.yield_current(0, cpu.now_ns);
        let _ = cpu.schedule();
    }
    // Round robin: each yield lets both others run before the yielder again.
    let mut runs: HashMap<usize, usize> = HashMap::new();
    for window in order.windows(3) {
        let mut ids = window.to_vec();
        ids.sort();
        assert_eq!(ids, [0, 1, 2], "{order:?}");
    }
    for id in order {
        *runs.entry(id).or_default() += 1;
    }
    assert!(runs.values().all(|&count| count == 3));
}
