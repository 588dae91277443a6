//! Wake-up placement and its reschedule requests; wake idempotence.

use super::harness::{EmulatedCpu, Task, TestScheduler, cpus, new_tasks, scheduler};
use topframe_sched::{Placement, Reschedule, SchedError, TaskState, WakeOutcome};

fn woken(outcome: WakeOutcome) -> Placement {
    match outcome {
        WakeOutcome::Woken(placement) => placement,
        other => panic!("expected a wake-up, got {other:?}"),
    }
}

/// `task` runs once on `cpu` and blocks there (`cpu` idle again afterwards).
fn run_once_and_block(scheduler: &TestScheduler, task: &Task, cpu: usize) {
    let _ = scheduler
        .set_affinity(task, cpus(&[cpu]), cpu)
        .expect("online");
    let _ = scheduler.add_task(task, cpu).expect("new task");
    let mut emulated = EmulatedCpu::new(scheduler, cpu);
    let _ = emulated.schedule();
    assert!(
        emulated
            .current
            .as_ref()
            .is_some_and(|current| current.id == task.id)
    );
    assert!(scheduler.prepare_to_block(task));
    let _ = emulated.schedule();
    assert_eq!(task.sched.state(), TaskState::Sleeping);
    let _ = scheduler
        .set_affinity(task, cpus(&[0, 1, 2, 3]), cpu)
        .expect("online");
}

/// Make `cpu` busy with a new task running there.
fn occupy<'a>(scheduler: &'a TestScheduler, task: &Task, cpu: usize) -> EmulatedCpu<'a> {
    let _ = scheduler
        .set_affinity(task, cpus(&[cpu]), cpu)
        .expect("online");
    let _ = scheduler.add_task(task, cpu).expect("new task");
    let mut emulated = EmulatedCpu::new(scheduler, cpu);
    let _ = emulated.schedule();
    assert!(emulated.current.is_some());
    emulated
}

#[test]
fn prefers_the_idle_previous_cpu() {
    let scheduler = scheduler(4);
    let tasks = new_tasks(1);
    run_once_and_block(&scheduler, &tasks[0], 2);
    let placement = woken(scheduler.wake(&tasks[0], 0));
    assert_eq!(
        placement,
        Placement {
            cpu: 2,
            reschedule: Reschedule::Ipi(2)
        }
    );
}

#[test]
fn busy_previous_cpu_gives_an_idle_allowed_one_with_an_ipi() {
    let scheduler = scheduler(4);
    let tasks = new_tasks(2);
    run_once_and_block(&scheduler, &tasks[0], 2);
    let _busy = occupy(&scheduler, &tasks[1], 2);
    // The search for an idle CPU starts after the previous one and wraps.
    let placement = woken(scheduler.wake(&tasks[0], 0));
    assert_eq!(
        placement,
        Placement {
            cpu: 3,
            reschedule: Reschedule::Ipi(3)
        }
    );
}

#[test]
fn idle_search_stays_within_affinity() {
    let scheduler = scheduler(4);
    let tasks = new_tasks(2);
    run_once_and_block(&scheduler, &tasks[0], 3);
    let _ = scheduler
        .set_affinity(&tasks[0], cpus(&[1, 3]), 0)
        .expect("online");
    let _busy = occupy(&scheduler, &tasks[1], 3);
    // CPUs 0 and 2 are idle too, but not allowed.
    let placement = woken(scheduler.wake(&tasks[0], 0));
    assert_eq!(
        placement,
        Placement {
            cpu: 1,
            reschedule: Reschedule::Ipi(1)
        }
    );
}

#[test]
fn waking_onto_the_calling_cpu_asks_this_cpu() {
    let scheduler = scheduler(2);
    let tasks = new_tasks(1);
    run_once_and_block(&scheduler, &tasks[0], 1);
    let placement = woken(scheduler.wake(&tasks[0], 1));
    assert_eq!(
        placement,
        Placement {
            cpu: 1,
            reschedule: Reschedule::ThisCpu
        }
    );
}

#[test]
fn all_busy_gives_the_least_loaded_allowed_cpu() {
    let scheduler = scheduler(3);
    let sleeper = new_tasks(1).remove(0);
    run_once_and_block(&scheduler, &sleeper, 0);
    let others = new_tasks(6);
    // Loads: CPU 0 three tasks, CPU 1 two, CPU 2 one.
    let _cpu0 = occupy(&scheduler, &others[0], 0);
    let _cpu1 = occupy(&scheduler, &others[1], 1);
    let _cpu2 = occupy(&scheduler, &others[2], 2);
    for (task, cpu) in others[3..].iter().zip([0, 0, 1]) {
        let _ = scheduler
            .set_affinity(task, cpus(&[cpu]), cpu)
            .expect("online");
        let _ = scheduler.add_task(task, cpu).expect("new task");
    }
    let placement = woken(scheduler.wake(&sleeper, 0));
    assert_eq!(placement.cpu, 2);
    // Outside its affinity the least loaded CPU does not count.
    let _ = scheduler
        .set_affinity(&sleeper, cpus(&[0, 1]), 0)
        .expect("online");
    assert_eq!(sleeper.sched.state(), TaskState::Queued { cpu: 1 });
}

#[test]
fn a_long_sleeper_preempts_a_busy_cpu() {
    let scheduler = scheduler(1);
    let tasks = new_tasks(2);
    run_once_and_block(&scheduler, &tasks[0], 0);
    let mut busy = occupy(&scheduler, &tasks[1], 0);
    busy.run_and_tick(50_000_000);
    let placement = woken(scheduler.wake(&tasks[0], 0));
    assert_eq!(
        placement,
        Placement {
            cpu: 0,
            reschedule: Reschedule::ThisCpu
        }
    );
}

#[test]
fn double_wake_and_wake_of_running_are_no_ops() {
    let scheduler = scheduler(2);
    let tasks = new_tasks(2);
    run_once_and_block(&scheduler, &tasks[0], 0);
    let _ = woken(scheduler.wake(&tasks[0], 1));
    assert_eq!(scheduler.wake(&tasks[0], 1), WakeOutcome::AlreadyQueued);
    assert_eq!(scheduler.cpu_stats(0).runnable, 1);
    // Running: a wake reports it and cancels the block the task prepared.
    let mut cpu = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu.schedule();
    assert!(scheduler.prepare_to_block(&tasks[0]));
    assert_eq!(scheduler.wake(&tasks[0], 1), WakeOutcome::AlreadyRunning);
    let switches = scheduler.cpu_stats(0).context_switches;
    let _ = cpu.schedule();
    assert_eq!(tasks[0].sched.state(), TaskState::Running { cpu: 0 });
    assert_eq!(
        scheduler.cpu_stats(0).context_switches,
        switches,
        "no switch happened"
    );
}

#[test]
fn new_and_exited_tasks_are_not_woken() {
    let scheduler = scheduler(2);
    let tasks = new_tasks(2);
    assert_eq!(scheduler.wake(&tasks[0], 0), WakeOutcome::NotLive);
    let _ = scheduler.add_task(&tasks[0], 0).expect("new task");
    assert_eq!(
        scheduler.add_task(&tasks[0], 0),
        Err(SchedError::AlreadyAdded)
    );
    let mut cpu = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu.schedule();
    assert!(scheduler.prepare_to_exit(&tasks[0]));
    assert!(!scheduler.prepare_to_block(&tasks[0]), "exit wins");
    let _ = cpu.schedule();
    assert_eq!(tasks[0].sched.state(), TaskState::Exited);
    assert_eq!(scheduler.wake(&tasks[0], 0), WakeOutcome::NotLive);
    assert_eq!(scheduler.live_tasks(), 0);
    // A new task whose affinity holds no online CPU is refused.
    let _ = scheduler
        .set_affinity(&tasks[1], cpus(&[1]), 0)
        .expect("online");
    let scheduler_of_one = super::harness::scheduler(1);
    assert_eq!(
        scheduler_of_one.add_task(&tasks[1], 0),
        Err(SchedError::NoOnlineCpuInAffinity)
    );
}
