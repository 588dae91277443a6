//! Many tasks on emulated CPUs (one thread each) under random blocking, waiting on a wait
//! queue, waking (double wakes and wakes of running tasks included), yielding, preemption,
//! balancing, nice and affinity changes, until every task has run its share and exited.
//!
//! Checked all along: no task is picked on a CPU while another still runs it, and a task
//! only runs on CPUs its affinity allows (strictly for every pick that starts after the
//! last affinity change; the scheduler's own debug assertions check every pick). Checked
//! at the end: every task ran exactly its share and exited, nothing is left queued or
//! waiting, tasks migrated, and every kind of wake outcome happened.

use super::harness::{EmulatedCpu, Task, TestScheduler, cpus, new_tasks, scheduler};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;
use topframe_sched::{CpuSet, Nice, Reschedule, TaskState, WaitQueue, WakeOutcome};

const CPUS: usize = 4;
const TASKS: usize = 64;
const CHUNKS_PER_TASK: u64 = 400;
/// Far beyond a normal run (well under a second): reached only if work stopped flowing, and
/// then the watchdog ends the test process with a report instead of hanging.
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// What the emulated CPUs share.
struct Workload {
    scheduler: TestScheduler,
    tasks: Vec<Task>,
    chunks_left: Vec<AtomicU64>,
    chunks_run: Vec<AtomicU64>,
    waiting_on_queue: Vec<AtomicBool>,
    wait_queue: WaitQueue<Task>,
    need_resched: [AtomicBool; CPUS],
    exited: AtomicUsize,
    /// Set when an emulated CPU panicked (a check failed): the others stop.
    failed: AtomicBool,
    chunks_done: AtomicU64,
    /// True while affinities may change; set to false under the write lock, so no change
    /// is in flight afterwards.
    affinity_churn: RwLock<bool>,
    wake_outcomes: WakeCounts,
}

#[derive(Default)]
struct WakeCounts {
    woken: AtomicU64,
    already_queued: AtomicU64,
    already_running: AtomicU64,
    not_live: AtomicU64,
}

impl Workload {
    fn new(seed: u64, churn_affinity: bool) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let scheduler = scheduler(CPUS);
        let tasks = new_tasks(TASKS);
        for task in &tasks {
            if rng.u32(0..3) == 0 {
                let _ = scheduler
                    .set_affinity(task, random_mask(&mut rng), 0)
                    .expect("a non-empty mask of online CPUs");
            }
            let _ = scheduler
                .add_task(task, rng.usize(0..CPUS))
                .expect("new task");
        }
        Workload {
            scheduler,
            tasks,
            chunks_left: (0..TASKS)
                .map(|_| AtomicU64::new(CHUNKS_PER_TASK))
                .collect(),
            chunks_run: (0..TASKS).map(|_| AtomicU64::new(0)).collect(),
            waiting_on_queue: (0..TASKS).map(|_| AtomicBool::new(false)).collect(),
            wait_queue: WaitQueue::new(),
            need_resched: [const { AtomicBool::new(false) }; CPUS],
            exited: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            chunks_done: AtomicU64::new(0),
            affinity_churn: RwLock::new(churn_affinity),
            wake_outcomes: WakeCounts::default(),
        }
    }

    fn deliver(&self, reschedule: Reschedule, caller_cpu: usize) {
        match reschedule {
            Reschedule::NotNeeded => {}
            Reschedule::ThisCpu => self.need_resched[caller_cpu].store(true, Ordering::Release),
            Reschedule::Ipi(cpu) => self.need_resched[cpu].store(true, Ordering::Release),
        }
    }

    /// Whether no affinity change can be in flight any more (from then on, strictly).
    fn affinities_settled(&self) -> bool {
        !*self
            .affinity_churn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self, task: &Task, caller_cpu: usize) {
        // Another CPU may change the affinity right after the wake placed the task (and
        // then moves it), so the placement is checked against it only once that stopped.
        let affinities_settled = self.affinities_settled();
        let counter = match self.scheduler.wake(task, caller_cpu) {
            WakeOutcome::Woken(placement) => {
                if affinities_settled {
                    assert!(task.sched.affinity().contains(placement.cpu));
                }
                self.deliver(placement.reschedule, caller_cpu);
                &self.wake_outcomes.woken
            }
            WakeOutcome::AlreadyQueued => &self.wake_outcomes.already_queued,
            WakeOutcome::AlreadyRunning => &self.wake_outcomes.already_running,
            WakeOutcome::NotLive => &self.wake_outcomes.not_live,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// What interrupt handlers and other tasks do on `cpu` between two chunks of work.
    fn disturb(&self, rng: &mut fastrand::Rng, cpu: usize) {
        if rng.u32(0..3) == 0 {
            self.wake(&self.tasks[rng.usize(0..TASKS)], cpu);
        }
        if rng.u32(0..5) == 0
            && let Some(task) = self.wait_queue.wake_one()
        {
            self.wake(&task, cpu);
        }
        if rng.u32(0..50) == 0 {
            for task in self.wait_queue.wake_all() {
                self.wake(&task, cpu);
            }
        }
        if rng.u32(0..20) == 0 {
            let churn = self
                .affinity_churn
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if *churn {
                let task = &self.tasks[rng.usize(0..TASKS)];
                let reschedule = self
                    .scheduler
                    .set_affinity(task, random_mask(rng), cpu)
                    .expect("a non-empty mask of online CPUs");
                self.deliver(reschedule, cpu);
            }
        }
        if rng.u32(0..30) == 0 {
            let task = &self.tasks[rng.usize(0..TASKS)];
            self.scheduler
                .set_nice(task, Nice::clamped(rng.i32(-5..=5)));
        }
        if rng.u32(0..20) == 0 && self.scheduler.balance(cpu) > 0 {
            self.need_resched[cpu].store(true, Ordering::Release);
        }
    }

    /// `schedule()` on `cpu`, checking the affinity of the task picked.
    fn schedule(&self, emulated: &mut EmulatedCpu<'_>) {
        let affinities_settled = self.affinities_settled();
        self.need_resched[emulated.cpu].store(false, Ordering::Release);
        let reschedule = emulated.schedule();
        self.deliver(reschedule, emulated.cpu);
        let Some(task) = &emulated.current else {
            return;
        };
        if affinities_settled {
            assert!(
                task.sched.affinity().contains(emulated.cpu),
                "task {} on CPU {} outside {:?}",
                task.id,
                emulated.cpu,
                task.sched.affinity()
            );
        }
        if self.waiting_on_queue[task.id].swap(false, Ordering::AcqRel) {
            self.wait_queue.finish_wait(&self.scheduler, task);
        }
    }

    /// Emulated CPU `cpu` until every task has exited.
    fn run_cpu(&self, cpu: usize, seed: u64) {
        let _stop_others_on_panic = StopOthersOnPanic(&self.failed);
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut emulated = EmulatedCpu::new(&self.scheduler, cpu);
        while self.exited.load(Ordering::Acquire) < TASKS {
            if self.failed.load(Ordering::Acquire) {
                return;
            }
            self.disturb(&mut rng, cpu);
            let Some(task) = emulated.current.clone() else {
                self.schedule(&mut emulated);
                if emulated.current.is_none() {
                    std::thread::yield_now();
                }
                continue;
            };
            if self.run_chunk(&task, &mut emulated, &mut rng) {
                self.schedule(&mut emulated);
            }
        }
        assert!(emulated.current.is_none(), "CPU {cpu} ends running a task");
    }

    /// The current task runs one chunk of its work; returns whether to reschedule.
    fn run_chunk(
        &self,
        task: &Task,
        emulated: &mut EmulatedCpu<'_>,
        rng: &mut fastrand::Rng,
    ) -> bool {
        self.chunks_run[task.id].fetch_add(1, Ordering::Relaxed);
        let chunks_left = self.chunks_left[task.id].fetch_sub(1, Ordering::Relaxed) - 1;
        let chunks_done = self.chunks_done.fetch_add(1, Ordering::Relaxed) + 1;
        if chunks_done == TASKS as u64 * CHUNKS_PER_TASK / 2 {
            *self
                .affinity_churn
                .write()
                .unwrap_or_else(PoisonError::into_inner) = false;
        }
        let preempt = emulated.run_and_tick(rng.u64(50_000..2_000_000))
            | self.need_resched[emulated.cpu].load(Ordering::Acquire);
        if chunks_left == 0 {
            assert!(self.scheduler.prepare_to_exit(task));
            self.exited.fetch_add(1, Ordering::Release);
            return true;
        }
        match rng.u32(0..10) {
            0 => {
                assert!(self.scheduler.prepare_to_block(task));
                true
            }
            1 => {
                assert!(self.wait_queue.prepare_to_wait(&self.scheduler, task));
                self.waiting_on_queue[task.id].store(true, Ordering::Release);
                if rng.bool() {
                    // The awaited condition already holds.
                    self.waiting_on_queue[task.id].store(false, Ordering::Release);
                    self.wait_queue.finish_wait(&self.scheduler, task);
                }
                true
            }
            2 => {
                self.scheduler.yield_current(emulated.cpu, emulated.now_ns);
                true
            }
            _ => preempt,
        }
    }

    /// What can be read without any lock (some may be held by a stuck CPU).
    fn describe(&self) -> String {
        let live: Vec<_> = self
            .tasks
            .iter()
            .filter(|task| self.chunks_left[task.id].load(Ordering::Relaxed) > 0)
            .map(|task| (task.id, task.running_on(), task.sched.is_on_cpu()))
            .collect();
        let stats: Vec<_> = (0..CPUS).map(|cpu| self.scheduler.cpu_stats(cpu)).collect();
        format!("unfinished tasks (id, running on, on CPU) {live:?}, CPUs {stats:?}")
    }

    fn check_end(&self) {
        for (id, task) in self.tasks.iter().enumerate() {
            assert_eq!(task.sched.state(), TaskState::Exited, "task {id}");
            assert_eq!(task.running_on(), None, "task {id}");
            assert!(!task.sched.is_on_cpu(), "task {id}");
            assert_eq!(self.chunks_run[id].load(Ordering::Relaxed), CHUNKS_PER_TASK);
        }
        assert_eq!(self.scheduler.live_tasks(), 0);
        assert!(self.wait_queue.is_empty());
        let stats: Vec<_> = (0..CPUS).map(|cpu| self.scheduler.cpu_stats(cpu)).collect();
        assert!(stats.iter().all(|stats| stats.runnable == 0), "{stats:?}");
        assert!(stats.iter().map(|stats| stats.migrations).sum::<u64>() > 0);
        assert!(stats.iter().all(|stats| stats.context_switches > 0));
        let outcomes = &self.wake_outcomes;
        for (name, count) in [
            ("woken", &outcomes.woken),
            ("already queued", &outcomes.already_queued),
            ("already running", &outcomes.already_running),
            ("not live", &outcomes.not_live),
        ] {
            assert!(count.load(Ordering::Relaxed) > 0, "no wake was {name}");
        }
    }
}

/// A random non-empty set of the emulated CPUs.
fn random_mask(rng: &mut fastrand::Rng) -> CpuSet {
    let chosen: Vec<usize> = (0..CPUS).filter(|_| rng.bool()).collect();
    if chosen.is_empty() {
        cpus(&[rng.usize(0..CPUS)])
    } else {
        cpus(&chosen)
    }
}

/// Sets the failure flag if the thread unwinds (a check of the emulated CPU failed).
struct StopOthersOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOthersOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

fn run_workload(seed: u64, churn_affinity: bool) {
    let workload = Workload::new(seed, churn_affinity);
    let (finished, watchdog_alarm) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let workload = &workload;
        scope.spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = watchdog_alarm.recv_timeout(TIME_LIMIT) {
                eprintln!("stress seed {seed} stuck: {}", workload.describe());
                std::process::exit(101);
            }
        });
        let cpus: Vec<_> = (0..CPUS)
            .map(|cpu| scope.spawn(move || workload.run_cpu(cpu, seed * 1000 + cpu as u64)))
            .collect();
        let results: Vec<_> = cpus.into_iter().map(|cpu| cpu.join()).collect();
        drop(finished);
        for result in results {
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        }
    });
    workload.check_end();
}

#[test]
fn no_task_lost_or_run_twice_with_pinned_tasks() {
    for seed in 1..=4 {
        run_workload(seed, false);
    }
}

#[test]
fn affinity_changes_under_load() {
    for seed in 11..=14 {
        run_workload(seed, true);
    }
}
