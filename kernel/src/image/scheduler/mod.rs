//! The kernel's side of `topframe-sched`: the scheduler instance, `schedule()`, each
//! CPU's idle context, wake-ups with their reschedule IPIs, and blocking with timeouts.
//!
//! Preemption: the timer tick (see [`tick`]) sets the running task's NEED_RESCHED work
//! flag, which every return to user mode tests (the syscall exit and the interrupt exit
//! both run the exit work then); kernel code reschedules only at its preemption points
//! ([`cond_resched`], blocking, yielding), as Linux's voluntary preemption.

mod tick;
mod timers;

pub use tick::{BALANCE_VECTOR, after_move, balance_interrupt, timer_interrupt};
pub use timers::{arm as arm_timeout, disarm as disarm_timeout, sleep_until};

use crate::task::{self, Task};
use crate::{apic, smp, tsc};
use alloc::sync::Arc;
use topframe_entry::WorkFlags;
use topframe_sched::{CpuStats, PaddedRunQueues, Reschedule, Scheduler, WakeOutcome};
use x86_64::instructions::interrupts;

/// The vector that makes a CPU reschedule (it also wakes an idle CPU from HLT).
pub const RESCHEDULE_VECTOR: u8 = 0xfd;

/// The scheduler, once every CPU is online.
static SCHEDULER: spin::Once<Scheduler<Arc<Task>>> = spin::Once::new();

topframe_percpu::per_cpu! {
    /// TSC ticks this CPU spent halted in its idle context, up to its last wake-up.
    static IDLE_TSC: u64 = 0;
    /// The TSC when this CPU halted, while it is halted (else 0).
    static HALTED_SINCE: u64 = 0;
}

/// Create the scheduler over the online CPUs (boot CPU, after bring-up) and wake every
/// CPU into its idle loop.
pub fn init() {
    let online = smp::online();
    let count = online.len();
    assert!(
        online.iter().eq(0..count),
        "the online CPUs are numbered 0..{count}"
    );
    SCHEDULER.call_once(|| Scheduler::new(PaddedRunQueues::new(count)));
    for cpu in online
        .iter()
        .filter(|&cpu| cpu != topframe_percpu::cpu_id())
    {
        apic::send_ipi(smp::apic_id(cpu), RESCHEDULE_VECTOR);
    }
}

/// The scheduler.
///
/// # Panics
/// Before [`init`].
pub fn scheduler() -> &'static Scheduler<Arc<Task>> {
    SCHEDULER
        .get()
        .expect("the scheduler runs once every CPU is online")
}

/// The scheduler, if it runs yet.
pub fn try_scheduler() -> Option<&'static Scheduler<Arc<Task>>> {
    SCHEDULER.get()
}

/// Run whatever should run on this CPU now: the current task keeps the CPU or another
/// task (or the idle context) gets it; returns when the current task runs again.
pub fn schedule() {
    let interrupts_were_enabled = interrupts::are_enabled();
    interrupts::disable();
    let cpu = topframe_percpu::cpu_id();
    let previous = task::current();
    previous.work.take(WorkFlags::NEED_RESCHED);
    let next = scheduler().pick_next(cpu, tsc::nanoseconds());
    match next {
        Some(next) if core::ptr::eq(&*next, previous) => {}
        Some(next) => {
            let next = Arc::as_ptr(&next);
            // SAFETY: interrupts are off; `previous` runs here; the scheduler keeps a
            // handle to `next` (its new current task), so the pointer stays valid.
            unsafe { task::context_switch(Some(previous), Some(&*next)) };
        }
        // SAFETY: as above; the idle context is this CPU's.
        None => unsafe { task::context_switch(Some(previous), None) },
    }
    finish_switch();
    tick::update();
    if interrupts_were_enabled {
        interrupts::enable();
    }
}

/// Right after a switch, on the new stack: let the scheduler release the task switched
/// away from (dropping the last handle of an exited one frees it here, with interrupts
/// still off, away from its stack).
fn finish_switch() {
    let finished = scheduler().finish_switch(topframe_percpu::cpu_id());
    request(finished.reschedule);
    if let Some(task) = &finished.switched_out {
        // Its affinity may have sent it to another CPU's queue.
        tick::after_move(task);
    }
    drop(finished.switched_out);
}

/// A kernel thread's first instructions: finish the switch into it, interrupts on.
pub extern "C" fn first_run_of_kernel_task() {
    finish_switch();
    interrupts::enable();
}

/// A user task's first switch: finish it (interrupts stay off for the return to user).
pub fn finish_first_switch() {
    finish_switch();
    tick::update();
}

/// This CPU's idle context, for ever: run tasks while there are any, else halt.
pub fn idle_loop() -> ! {
    while SCHEDULER.get().is_none() {
        interrupts::enable_and_hlt();
    }
    let cpu = topframe_percpu::cpu_id();
    loop {
        interrupts::disable();
        match scheduler().pick_next(cpu, tsc::nanoseconds()) {
            Some(next) => {
                let next = Arc::as_ptr(&next);
                // SAFETY: interrupts are off, this is the idle context; the scheduler
                // keeps a handle to `next` while it runs.
                unsafe { task::context_switch(None, Some(&*next)) };
                finish_switch();
            }
            None => {
                finish_switch();
                tick::update();
                HALTED_SINCE.write(tsc::read());
                // STI's one-instruction shadow: no wake-up can slip in before the HLT.
                interrupts::enable_and_hlt();
                interrupts::disable();
                IDLE_TSC.add(tsc::read() - HALTED_SINCE.replace(0));
            }
        }
    }
}

/// Act on a scheduler call's reschedule request.
pub fn request(reschedule: Reschedule) {
    match reschedule {
        Reschedule::NotNeeded => {}
        Reschedule::ThisCpu => {
            if let Some(task) = task::try_current() {
                task.work.set(WorkFlags::NEED_RESCHED);
            }
        }
        Reschedule::Ipi(cpu) => apic::send_ipi(smp::apic_id(cpu), RESCHEDULE_VECTOR),
    }
}

/// Make a sleeping task runnable (a no-op for one already runnable or gone).
pub fn wake(task: &Arc<Task>) {
    interrupts::without_interrupts(|| {
        let cpu = topframe_percpu::cpu_id();
        if let WakeOutcome::Woken(placement) = scheduler().wake(task, cpu) {
            request(placement.reschedule);
            tick::placed_on(placement);
        }
    });
}

/// [`wake`] from the timer interrupt, with its timers locked: the interrupt programs
/// the timer itself when it is done.
fn wake_from_timer(task: &Arc<Task>) {
    let cpu = topframe_percpu::cpu_id();
    if let WakeOutcome::Woken(placement) = scheduler().wake(task, cpu) {
        request(placement.reschedule);
        if placement.cpu != cpu {
            tick::placed_on(placement);
        }
    }
}

/// Make a new task runnable.
pub fn start(task: &Arc<Task>) -> Result<(), topframe_sched::SchedError> {
    interrupts::without_interrupts(|| {
        let placement = scheduler().add_task(task, topframe_percpu::cpu_id())?;
        request(placement.reschedule);
        tick::placed_on(placement);
        Ok(())
    })
}

/// The reschedule IPI: the running task reschedules at its next return to user mode
/// (an idle CPU just leaves HLT and picks).
pub fn reschedule_interrupt() {
    if let Some(task) = task::try_current() {
        task.work.set(WorkFlags::NEED_RESCHED);
    }
    tick::update();
}

/// A kernel preemption point: reschedule now if the tick or a wake-up asked for it.
pub fn cond_resched() {
    if task::current().work.get().contains(WorkFlags::NEED_RESCHED) {
        schedule();
    }
}

/// sched_yield: go behind every task waiting on this CPU.
pub fn yield_now() {
    interrupts::without_interrupts(|| {
        scheduler().yield_current(topframe_percpu::cpu_id(), tsc::nanoseconds());
    });
    schedule();
}

/// Prepare the running task to block (Linux's `set_current_state`); see
/// `Scheduler::prepare_to_block`.
pub fn prepare_to_block(task: &Arc<Task>) -> bool {
    scheduler().prepare_to_block(task)
}

/// TSC ticks `cpu` has spent halted, including a halt still going on.
fn idle_tsc(cpu: usize) -> u64 {
    let halted_since = HALTED_SINCE.remote_read(cpu).unwrap_or(0);
    let ongoing = if halted_since == 0 {
        0
    } else {
        tsc::read().saturating_sub(halted_since)
    };
    IDLE_TSC.remote_read(cpu).unwrap_or(0) + ongoing
}

/// Withdraw a prepared block (the awaited condition already holds).
pub fn cancel_block(task: &Arc<Task>) {
    scheduler().cancel_block(task);
}

/// One CPU's figures for the demo's table.
pub struct CpuFigures {
    pub stats: CpuStats,
    pub ticks: u64,
    pub idle_ns: u64,
}

/// `cpu`'s scheduler figures and idle time.
pub fn cpu_figures(cpu: usize) -> CpuFigures {
    CpuFigures {
        stats: scheduler().cpu_stats(cpu),
        ticks: tick::ticks(cpu),
        idle_ns: tsc::to_nanoseconds(idle_tsc(cpu)),
    }
}
