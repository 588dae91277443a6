//! What the tests share: a task type, and a CPU emulated by a test thread (its clock, its
//! current task, the switch protocol) that checks no task ever runs on two CPUs at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use topframe_sched::{
    CpuSet, PaddedRunQueues, Reschedule, SchedEntity, Schedulable, Scheduler, TaskState,
};

/// The raw mutex of the host tests: a spin lock that yields to the host scheduler while
/// it waits (the tests run more emulated CPUs than the host may have).
pub type TestLock = spin::mutex::SpinMutex<(), spin::relax::Yield>;

/// A task of the tests.
pub struct TestTask {
    pub id: usize,
    pub sched: SchedEntity<TestLock>,
    /// The emulated CPU running it, or [`NOT_RUNNING`].
    running_on: AtomicUsize,
}

const NOT_RUNNING: usize = usize::MAX;

impl Schedulable for TestTask {
    type RawMutex = TestLock;
    fn sched_entity(&self) -> &SchedEntity<TestLock> {
        &self.sched
    }
}

pub type Task = Arc<TestTask>;
pub type TestScheduler = Scheduler<Task>;

impl TestTask {
    /// The CPU now running the task, if any.
    pub fn running_on(&self) -> Option<usize> {
        Some(self.running_on.load(Ordering::Acquire)).filter(|&cpu| cpu != NOT_RUNNING)
    }
}

/// A scheduler over CPUs `0..cpus`.
pub fn scheduler(cpus: usize) -> TestScheduler {
    Scheduler::new(PaddedRunQueues::new(cpus))
}

/// `count` new tasks numbered from 0.
pub fn new_tasks(count: usize) -> Vec<Task> {
    (0..count)
        .map(|id| {
            Arc::new(TestTask {
                id,
                sched: SchedEntity::new(),
                running_on: AtomicUsize::new(NOT_RUNNING),
            })
        })
        .collect()
}

/// A set of the given CPUs.
pub fn cpus(list: &[usize]) -> CpuSet {
    let mut set = CpuSet::new();
    for &cpu in list {
        set.insert(cpu);
    }
    set
}

/// Add `tasks` pinned to `cpu` (they all queue there), then allow them everywhere again
/// (they stay where they are): a deliberately unbalanced start.
pub fn add_all_on(scheduler: &TestScheduler, tasks: &[Task], cpu: usize) {
    for task in tasks {
        let _ = scheduler
            .set_affinity(task, cpus(&[cpu]), cpu)
            .expect("CPU is online");
        let _ = scheduler.add_task(task, cpu).expect("new task");
        let _ = scheduler
            .set_affinity(task, CpuSet::all(), cpu)
            .expect("all CPUs");
        assert_eq!(task.sched.state(), TaskState::Queued { cpu });
    }
}

/// A CPU emulated by the calling thread.
pub struct EmulatedCpu<'a> {
    pub cpu: usize,
    pub now_ns: u64,
    pub current: Option<Task>,
    scheduler: &'a TestScheduler,
}

impl<'a> EmulatedCpu<'a> {
    pub fn new(scheduler: &'a TestScheduler, cpu: usize) -> Self {
        EmulatedCpu {
            cpu,
            now_ns: 0,
            current: None,
            scheduler,
        }
    }

    /// `schedule()`: pick, "switch" (the new task is claimed for this CPU before the old
    /// one is released, and the old one only just before `finish_switch`, so that any
    /// other CPU running it too early fails its claim), finish the switch. Returns the
    /// reschedule request of the finished switch.
    pub fn schedule(&mut self) -> Reschedule {
        let next = self.scheduler.pick_next(self.cpu, self.now_ns);
        let continues = match (&self.current, &next) {
            (Some(current), Some(next)) => Arc::ptr_eq(current, next),
            _ => false,
        };
        if !continues {
            if let Some(next) = &next {
                self.claim(next);
            }
            // Switching takes a while: give other CPUs the chance to misbehave meanwhile.
            std::thread::yield_now();
            if let Some(previous) = &self.current {
                previous.running_on.store(NOT_RUNNING, Ordering::Release);
            }
        }
        self.current = next;
        self.scheduler.finish_switch(self.cpu).reschedule
    }

    /// Let the current task run `ran_ns` and tick: whether to preempt it.
    pub fn run_and_tick(&mut self, ran_ns: u64) -> bool {
        self.now_ns += ran_ns;
        self.scheduler.tick(self.cpu, self.now_ns)
    }

    fn claim(&self, task: &Task) {
        if let Err(other) = task.running_on.compare_exchange(
            NOT_RUNNING,
            self.cpu,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            panic!(
                "task {} picked on CPU {} while still on CPU {other}",
                task.id, self.cpu
            );
        }
    }
}
