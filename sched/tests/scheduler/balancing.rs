//! Idle stealing and periodic balancing: they happen, even the load out, leave running
//! tasks (and tasks still being switched away from) alone, respect affinity, and do not
//! ping-pong.

use super::harness::{EmulatedCpu, Task, TestScheduler, add_all_on, cpus, new_tasks, scheduler};
use topframe_sched::{CpuSet, Nice, TaskState};

/// Queue `count` new tasks on `cpu` and run one of them there.
fn loaded_cpu(scheduler: &TestScheduler, cpu: usize, count: usize) -> Vec<Task> {
    let tasks = new_tasks(count);
    add_all_on(scheduler, &tasks, cpu);
    let mut emulated = EmulatedCpu::new(scheduler, cpu);
    let _ = emulated.schedule();
    tasks
}

fn runnable(scheduler: &TestScheduler) -> Vec<usize> {
    scheduler
        .online_cpus()
        .iter()
        .map(|cpu| scheduler.cpu_stats(cpu).runnable)
        .collect()
}

/// Balance every CPU in turn until a round moves nothing; returns the rounds that moved.
fn balance_until_settled(scheduler: &TestScheduler) -> usize {
    let mut rounds = 0;
    loop {
        let moved: usize = scheduler
            .online_cpus()
            .iter()
            .map(|cpu| scheduler.balance(cpu))
            .sum();
        if moved == 0 {
            return rounds;
        }
        rounds += 1;
    }
}

#[test]
fn idle_cpu_steals_from_a_loaded_one() {
    let scheduler = scheduler(2);
    let tasks = new_tasks(4);
    add_all_on(&scheduler, &tasks, 0);
    // Every task runs once on CPU 0 (each yields to the next).
    let mut cpu0 = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu0.schedule();
    for _ in 0..4 {
        cpu0.now_ns += 100_000;
        scheduler.yield_current(0, cpu0.now_ns);
        let _ = cpu0.schedule();
    }
    assert!(tasks.iter().all(|task| task.sched.last_cpu() == Some(0)));
    assert_eq!(runnable(&scheduler), [4, 0]);
    let mut cpu1 = EmulatedCpu::new(&scheduler, 1);
    let _ = cpu1.schedule();
    let stolen = cpu1.current.clone().expect("CPU 1 stole a task");
    assert_eq!(stolen.sched.state(), TaskState::Running { cpu: 1 });
    assert_eq!(runnable(&scheduler), [3, 1]);
    assert_eq!(scheduler.cpu_stats(1).migrations, 1);
    assert_eq!(scheduler.cpu_stats(1).context_switches, 1);
    assert!(!scheduler.idle_cpus().contains(1));
}

#[test]
fn stealing_leaves_pinned_and_running_tasks_alone() {
    let scheduler = scheduler(2);
    let pinned = new_tasks(3);
    for task in &pinned {
        let _ = scheduler.set_affinity(task, cpus(&[0]), 0).expect("online");
        let _ = scheduler.add_task(task, 0).expect("new task");
    }
    let mut cpu0 = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu0.schedule();
    let mut cpu1 = EmulatedCpu::new(&scheduler, 1);
    let _ = cpu1.schedule();
    assert!(cpu1.current.is_none(), "pinned tasks stay on CPU 0");
    assert!(scheduler.idle_cpus().contains(1));
    assert_eq!(scheduler.balance(1), 0);

    let lone = scheduler_with_one_running_task();
    assert!(
        lone.pick_next(1, 0).is_none(),
        "the running task is not stolen"
    );
}

fn scheduler_with_one_running_task() -> TestScheduler {
    let scheduler = scheduler(2);
    let _ = loaded_cpu(&scheduler, 0, 1);
    scheduler
}

#[test]
fn a_task_still_being_switched_away_from_is_not_stolen() {
    let scheduler = scheduler(2);
    let tasks = new_tasks(2);
    add_all_on(&scheduler, &tasks, 0);
    let first = scheduler.pick_next(0, 0).expect("a task");
    let _ = scheduler.finish_switch(0);
    scheduler.yield_current(0, 1000);
    let second = scheduler.pick_next(0, 1000).expect("the other task");
    assert!(!std::sync::Arc::ptr_eq(&first, &second));
    // CPU 0 has not finished switching away from `first`: CPU 1 must leave it.
    assert!(first.sched.is_on_cpu());
    assert!(scheduler.pick_next(1, 0).is_none());
    let _ = scheduler.finish_switch(1);
    let finished = scheduler.finish_switch(0);
    assert!(
        finished
            .switched_out
            .is_some_and(|task| std::sync::Arc::ptr_eq(&task, &first))
    );
    let stolen = scheduler.pick_next(1, 0).expect("now it may go");
    assert!(std::sync::Arc::ptr_eq(&stolen, &first));
}

#[test]
fn balance_evens_out_queues() {
    let scheduler = scheduler(4);
    let _tasks = loaded_cpu(&scheduler, 0, 21);
    assert_eq!(runnable(&scheduler), [21, 0, 0, 0]);
    let rounds = balance_until_settled(&scheduler);
    let counts = runnable(&scheduler);
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "{counts:?}"
    );
    assert!(rounds <= 3, "{rounds} rounds");
    assert_eq!(counts.iter().sum::<usize>(), 21);
}

#[test]
fn balance_evens_out_random_loads() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..100 {
        let cpu_count = rng.usize(2..=8);
        let scheduler = scheduler(cpu_count);
        let mut total = 0;
        for cpu in 0..cpu_count {
            let count = rng.usize(0..12);
            total += count;
            if count > 0 {
                let _ = loaded_cpu(&scheduler, cpu, count);
            }
        }
        balance_until_settled(&scheduler);
        let counts = runnable(&scheduler);
        let spread = counts.iter().max().unwrap() - counts.iter().min().unwrap();
        assert!(spread <= 1, "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), total);
    }
}

#[test]
fn balancing_does_not_ping_pong() {
    // CPU 0: running + one waiting; CPU 1: running. Moving would only swap the imbalance.
    for waiting_nice in [0, 5, -10] {
        let scheduler = scheduler(2);
        let tasks = loaded_cpu(&scheduler, 0, 2);
        let _ = loaded_cpu(&scheduler, 1, 1);
        let waiting = tasks
            .iter()
            .find(|task| task.sched.state() == TaskState::Queued { cpu: 0 })
            .expect("one waits");
        scheduler.set_nice(waiting, Nice::clamped(waiting_nice));
        for _ in 0..10 {
            assert_eq!(scheduler.balance(1), 0, "nice {waiting_nice}");
            assert_eq!(scheduler.balance(0), 0, "nice {waiting_nice}");
        }
        assert_eq!(waiting.sched.state(), TaskState::Queued { cpu: 0 });
    }
}

#[test]
fn balance_respects_affinity() {
    let scheduler = scheduler(4);
    let tasks = loaded_cpu(&scheduler, 0, 12);
    // Half the tasks may use CPUs 0 and 1 only.
    for task in tasks.iter().step_by(2) {
        let _ = scheduler
            .set_affinity(task, cpus(&[0, 1]), 0)
            .expect("online");
    }
    balance_until_settled(&scheduler);
    for task in &tasks {
        let cpu = task.sched.state().run_queue_cpu().expect("runnable");
        assert!(
            task.sched.affinity().contains(cpu),
            "task {} on {cpu}",
            task.id
        );
    }
    let counts = runnable(&scheduler);
    assert!(counts.iter().all(|&count| count >= 2), "{counts:?}");
    assert_eq!(CpuSet::first(4), scheduler.online_cpus());
}
