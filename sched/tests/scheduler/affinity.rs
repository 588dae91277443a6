//! `sched_setaffinity` semantics: bad masks refused, queued tasks moved at once, running
//! tasks rescheduled and moved at their CPU's next pick.

use super::harness::{EmulatedCpu, add_all_on, cpus, new_tasks, scheduler};
use topframe_sched::{CpuSet, Reschedule, SchedError, TaskState};

#[test]
fn masks_without_online_cpus_are_refused() {
    let scheduler = scheduler(4);
    let tasks = new_tasks(1);
    let _ = scheduler.add_task(&tasks[0], 0).expect("new task");
    let before = tasks[0].sched.affinity();
    for mask in [CpuSet::new(), cpus(&[4, 100, 255])] {
        let refused = scheduler.set_affinity(&tasks[0], mask, 0);
        assert_eq!(refused, Err(SchedError::NoOnlineCpuInAffinity));
        assert_eq!(refused.unwrap_err().errno(), 22, "EINVAL");
    }
    assert_eq!(tasks[0].sched.affinity(), before, "nothing changed");
    // Offline CPUs in a mask are fine as long as one is online.
    assert!(
        scheduler
            .set_affinity(&tasks[0], cpus(&[3, 200]), 0)
            .is_ok()
    );
}

#[test]
fn a_queued_task_moves_at_once() {
    let scheduler = scheduler(4);
    let tasks = new_tasks(2);
    add_all_on(&scheduler, &tasks, 0);
    let mut cpu0 = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu0.schedule();
    let waiting = tasks
        .iter()
        .find(|task| task.sched.state() == TaskState::Queued { cpu: 0 })
        .expect("one task waits on CPU 0");
    let reschedule = scheduler
        .set_affinity(waiting, cpus(&[2]), 0)
        .expect("online");
    assert_eq!(waiting.sched.state(), TaskState::Queued { cpu: 2 });
    assert_eq!(reschedule, Reschedule::Ipi(2), "CPU 2 was idle");
    assert_eq!(scheduler.cpu_stats(0).runnable, 1);
    // Still allowed where it is: it stays.
    assert_eq!(
        scheduler.set_affinity(waiting, cpus(&[1, 2]), 0),
        Ok(Reschedule::NotNeeded)
    );
    assert_eq!(waiting.sched.state(), TaskState::Queued { cpu: 2 });
}

#[test]
fn a_running_task_is_rescheduled_then_moved() {
    let scheduler = scheduler(4);
    let tasks = new_tasks(1);
    add_all_on(&scheduler, &tasks, 1);
    let mut cpu1 = EmulatedCpu::new(&scheduler, 1);
    let _ = cpu1.schedule();
    assert_eq!(tasks[0].sched.state(), TaskState::Running { cpu: 1 });
    // From another CPU: an IPI to CPU 1; from CPU 1 itself: its own flag.
    assert_eq!(
        scheduler.set_affinity(&tasks[0], cpus(&[0, 3]), 0),
        Ok(Reschedule::Ipi(1))
    );
    assert_eq!(
        scheduler.set_affinity(&tasks[0], cpus(&[3]), 1),
        Ok(Reschedule::ThisCpu)
    );
    // CPU 1 reschedules: the task leaves, and once CPU 1 is off it, it lands on CPU 3.
    let reschedule = cpu1.schedule();
    assert!(cpu1.current.is_none());
    assert_eq!(reschedule, Reschedule::Ipi(3));
    assert_eq!(tasks[0].sched.state(), TaskState::Queued { cpu: 3 });
    let mut cpu3 = EmulatedCpu::new(&scheduler, 3);
    let _ = cpu3.schedule();
    assert_eq!(tasks[0].sched.state(), TaskState::Running { cpu: 3 });
    assert_eq!(scheduler.cpu_stats(3).migrations, 1);
}

#[test]
fn a_sleeping_task_wakes_within_its_new_mask() {
    let scheduler = scheduler(4);
    let tasks = new_tasks(1);
    add_all_on(&scheduler, &tasks, 0);
    let mut cpu0 = EmulatedCpu::new(&scheduler, 0);
    let _ = cpu0.schedule();
    assert!(scheduler.prepare_to_block(&tasks[0]));
    let _ = cpu0.schedule();
    assert_eq!(
        scheduler.set_affinity(&tasks[0], cpus(&[2]), 0),
        Ok(Reschedule::NotNeeded)
    );
    assert_eq!(tasks[0].sched.state(), TaskState::Sleeping);
    let outcome = scheduler.wake(&tasks[0], 0);
    assert_eq!(
        tasks[0].sched.state(),
        TaskState::Queued { cpu: 2 },
        "{outcome:?}"
    );
}

#[test]
fn forked_tasks_inherit_nice_and_affinity() {
    let scheduler = scheduler(4);
    let parent = new_tasks(1).remove(0);
    let _ = scheduler
        .set_affinity(&parent, cpus(&[2, 3]), 0)
        .expect("online");
    scheduler.set_nice(&parent, topframe_sched::Nice::clamped(7));
    let child = topframe_sched::SchedEntity::<super::harness::TestLock>::forked_from(&parent.sched);
    assert_eq!(child.affinity(), cpus(&[2, 3]));
    assert_eq!(child.nice().value(), 7);
    assert_eq!(child.state(), TaskState::New);
}
