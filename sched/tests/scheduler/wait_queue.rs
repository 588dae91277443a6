//! Wait queues: FIFO, wake one / all, the prepare / finish protocol, and a wake-up that
//! comes between preparing to wait and scheduling (it must not be lost).

use super::harness::{EmulatedCpu, Task, TestScheduler, new_tasks, scheduler};
use std::sync::Arc;
use topframe_sched::{TaskState, WaitQueue, WakeOutcome};

/// `count` tasks, each run on its own CPU of a scheduler with `count` CPUs.
fn running_tasks(count: usize) -> (TestScheduler, Vec<Task>) {
    let scheduler = scheduler(count);
    let tasks = new_tasks(count);
    for (cpu, task) in tasks.iter().enumerate() {
        let _ = scheduler.add_task(task, cpu).expect("new task");
        let mut emulated = EmulatedCpu::new(&scheduler, cpu);
        let _ = emulated.schedule();
        assert!(
            emulated
                .current
                .is_some_and(|current| Arc::ptr_eq(&current, task))
        );
    }
    (scheduler, tasks)
}

fn ids(tasks: impl IntoIterator<Item = Task>) -> Vec<usize> {
    tasks.into_iter().map(|task| task.id).collect()
}

#[test]
fn wakes_in_fifo_order() {
    let (scheduler, tasks) = running_tasks(4);
    let queue = WaitQueue::new();
    for index in [2, 0, 3, 1] {
        assert!(queue.prepare_to_wait(&scheduler, &tasks[index]));
    }
    assert!(
        queue.prepare_to_wait(&scheduler, &tasks[2]),
        "again: queued once"
    );
    assert_eq!(queue.len(), 4);
    assert_eq!(queue.wake_one().map(|task| task.id), Some(2));
    assert_eq!(ids(queue.wake_all()), [0, 3, 1]);
    assert!(queue.is_empty());
    assert!(queue.wake_one().is_none());
}

#[test]
fn finish_wait_leaves_the_queue_and_keeps_running() {
    let (scheduler, tasks) = running_tasks(2);
    let queue = WaitQueue::new();
    assert!(queue.prepare_to_wait(&scheduler, &tasks[0]));
    assert!(queue.prepare_to_wait(&scheduler, &tasks[1]));
    // Task 0's condition already holds: it does not sleep.
    assert!(queue.finish_wait(&scheduler, &tasks[0]));
    assert!(!queue.finish_wait(&scheduler, &tasks[0]));
    let mut cpu0 = EmulatedCpu::new(&scheduler, 0);
    cpu0.current = Some(tasks[0].clone());
    let _ = cpu0.schedule();
    assert_eq!(tasks[0].sched.state(), TaskState::Running { cpu: 0 });
    assert_eq!(ids(queue.wake_all()), [1]);
}

#[test]
fn only_running_tasks_wait() {
    let scheduler = scheduler(1);
    let tasks = new_tasks(1);
    let queue = WaitQueue::new();
    assert!(!queue.prepare_to_wait(&scheduler, &tasks[0]));
    assert!(queue.is_empty());
}

#[test]
fn a_wake_before_the_switch_is_not_lost() {
    let (scheduler, tasks) = running_tasks(2);
    let queue = WaitQueue::new();
    let mut cpu0 = EmulatedCpu::new(&scheduler, 0);
    cpu0.current = Some(tasks[0].clone());
    assert!(queue.prepare_to_wait(&scheduler, &tasks[0]));
    // CPU 1 wakes the waiter before CPU 0 schedules.
    let woken = queue.wake_one().expect("task 0 waits");
    assert_eq!(scheduler.wake(&woken, 1), WakeOutcome::AlreadyRunning);
    let _ = cpu0.schedule();
    assert_eq!(tasks[0].sched.state(), TaskState::Running { cpu: 0 });
    assert!(!queue.finish_wait(&scheduler, &tasks[0]));
}

#[test]
fn a_sleeping_waiter_is_woken_from_another_cpu() {
    let (scheduler, tasks) = running_tasks(2);
    let queue = WaitQueue::new();
    let mut cpu0 = EmulatedCpu::new(&scheduler, 0);
    cpu0.current = Some(tasks[0].clone());
    assert!(queue.prepare_to_wait(&scheduler, &tasks[0]));
    let _ = cpu0.schedule();
    assert!(cpu0.current.is_none());
    assert_eq!(tasks[0].sched.state(), TaskState::Sleeping);
    for task in queue.wake_all() {
        assert!(matches!(scheduler.wake(&task, 1), WakeOutcome::Woken(_)));
    }
    let _ = cpu0.schedule();
    assert_eq!(tasks[0].sched.state(), TaskState::Running { cpu: 0 });
}
