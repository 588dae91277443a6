//! Tasks and scheduling: a task type for topframe-sched, its run queues in per-CPU data,
//! one task per CPU, and each CPU's idle loop.
//!
//! Every CPU's boot stack is its *idle context*, and the idle loop is where it schedules
//! (as xv6's per-CPU scheduler does): it picks a task, switches to it, and the task
//! switches back to the idle context when it stops running (here: when it exits). So the
//! only switches are idle -> task and task -> idle, both in this file.

use crate::cpu::{self, APIC_ID};
use crate::interrupts::RESCHEDULE_VECTOR;
use crate::{println, syscall, user};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spin::Once;
use topframe_entry::{EntryStrategy, PtRegs, Selected, ThreadWork, UserEntryState};
use topframe_sched::{
    CpuSet, Reschedule, RunQueue, RunQueues, SchedEntity, Schedulable, Scheduler,
};
use x86_64::instructions::interrupts as irq;

/// Bytes of each kernel stack (a task's, an idle context's).
const KERNEL_STACK_SIZE: usize = 64 << 10;

/// The lock topframe-sched uses for entities and queues. A plain spin lock is enough:
/// no interrupt handler here calls the scheduler (a kernel whose handlers wake tasks
/// needs one that disables interrupts while held).
type SchedLock = spin::Mutex<()>;

/// What the scheduler holds: a shared handle.
type TaskHandle = Arc<Task>;

topframe_percpu::per_cpu! {
    /// This CPU's run queue (its copy in each CPU's area, reached remotely by the scheduler).
    static RUN_QUEUE: RunQueue<TaskHandle> = RunQueue::new();
    /// The task running on this CPU; null in the idle context.
    static CURRENT: *const Task = core::ptr::null();
}

/// The run queues, in per-CPU data: the CPUs with an area are the scheduler's CPUs.
struct PerCpuRunQueues;

impl RunQueues<TaskHandle> for PerCpuRunQueues {
    fn run_queue(&self, cpu: usize) -> Option<&RunQueue<TaskHandle>> {
        RUN_QUEUE.remote(cpu)
    }
}

static SCHEDULER: Once<Scheduler<TaskHandle, PerCpuRunQueues>> = Once::new();

/// Tasks that exited with a status other than 0.
static FAILED_TASKS: AtomicUsize = AtomicUsize::new(0);

/// A kernel stack: memory the CPU writes through RSP, never through a Rust reference.
#[repr(C, align(16))]
pub struct KernelStack(UnsafeCell<[u8; KERNEL_STACK_SIZE]>);

impl KernelStack {
    pub fn new() -> Box<KernelStack> {
        // SAFETY: all zeroes is a valid byte array.
        unsafe { Box::<KernelStack>::new_zeroed().assume_init() }
    }

    /// The address just above the stack (16-byte aligned).
    pub fn top(&self) -> u64 {
        self.0.get() as u64 + KERNEL_STACK_SIZE as u64
    }
}

/// A task: one run of the user program, on a CPU of its own.
pub struct Task {
    /// Its number: the CPU it is pinned to and the program's argument.
    pub number: usize,
    sched: SchedEntity<SchedLock>,
    /// Work flags the entry tests before returning to user mode (never raised here).
    work: ThreadWork,
    kernel_stack: Box<KernelStack>,
    /// RSP while it is switched out.
    saved_rsp: UnsafeCell<u64>,
    /// The entry strategy's per-task state (LazyTopOfStack's user RSP).
    entry_state: UnsafeCell<UserEntryState>,
}

// SAFETY: the cells are touched only by the CPU switching the task in or out, with
// interrupts off, while the scheduler lets no other CPU run it.
unsafe impl Sync for Task {}

impl Schedulable for Task {
    type RawMutex = SchedLock;

    fn sched_entity(&self) -> &SchedEntity<SchedLock> {
        &self.sched
    }
}

impl Task {
    /// Task `number`, ready for its first switch: the user frame at the top of its kernel
    /// stack (where every entry from user mode builds one), and below it what
    /// [`switch_stacks`] pops to "return" into [`first_run`].
    fn new(number: usize) -> TaskHandle {
        let kernel_stack = KernelStack::new();
        let frame = topframe_entry::frame_address_for(kernel_stack.top());
        // Six callee-saved registers, the return address, and a slot where first_run's
        // own return address would be: aligned so that it starts as if called
        // (RSP + 8 a multiple of 16).
        let start_words = [0, 0, 0, 0, 0, 0, first_run as *const () as u64, 0];
        let saved_rsp = (frame - 8 * start_words.len() as u64) & !15;
        // SAFETY: both lie inside the fresh stack, which nothing else uses.
        unsafe {
            (frame as *mut PtRegs).write(user::initial_frame(number));
            (saved_rsp as *mut [u64; 8]).write(start_words);
        }
        let task = Task {
            number,
            sched: SchedEntity::new(),
            work: ThreadWork::new(),
            kernel_stack,
            saved_rsp: UnsafeCell::new(saved_rsp),
            entry_state: UnsafeCell::new(UserEntryState::default()),
        };
        Arc::new(task)
    }
}

/// The task running on this CPU, for the code running on its behalf.
///
/// # Safety
/// The caller runs on that task's kernel stack (a system call or an exception from its
/// user mode): the idle loop's handle keeps the task alive until it switches back, and
/// the reference is not used after that.
///
/// # Panics
/// In an idle context.
unsafe fn running<'a>() -> &'a Task {
    // SAFETY: CURRENT is null or the task this CPU runs, alive as the caller promised.
    unsafe { CURRENT.read().as_ref() }.expect("a task is running")
}

/// The number of the task running on this CPU (see [`running`]).
pub fn current_number() -> usize {
    // SAFETY: only read here, while this CPU still runs the task.
    unsafe { running() }.number
}

/// A clock for the scheduler: the TSC (only differences on one CPU matter; under QEMU's
/// TCG one tick is one nanosecond of virtual time).
pub fn now() -> u64 {
    // SAFETY: RDTSC has no preconditions (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The boot CPU, once every CPU is up: the scheduler over their run queues, one task per
/// CPU pinned there, then its own idle loop.
pub fn start(cpu_count: usize) -> ! {
    let scheduler = Scheduler::new(PerCpuRunQueues);
    for number in 0..cpu_count {
        let task = Task::new(number);
        let mut only_its_cpu = CpuSet::new();
        only_its_cpu.insert(number);
        let placed = scheduler
            .set_affinity(&task, only_its_cpu, 0)
            .and_then(|reschedule| {
                reschedule_cpu(reschedule);
                scheduler.add_task(&task, 0)
            })
            .unwrap_or_else(|error| panic!("task {number}: {error:?}"));
        reschedule_cpu(placed.reschedule);
    }
    SCHEDULER.call_once(|| scheduler);
    run_cpu(0)
}

/// Act on a scheduler's [`Reschedule`]: IPI another CPU. Returns true when this CPU
/// must pick again (its idle loop does).
fn reschedule_cpu(request: Reschedule) -> bool {
    match request {
        Reschedule::Ipi(cpu) => {
            let apic_id = APIC_ID.remote_read(cpu).expect("an online CPU");
            // SAFETY: a fixed IPI to an online CPU, whose IDT has the vector.
            unsafe { cpu::local_apic().send_ipi(RESCHEDULE_VECTOR, apic_id) };
            false
        }
        Reschedule::ThisCpu => true,
        Reschedule::NotNeeded => false,
    }
}

/// CPU `cpu`'s idle context: pick, run, and repeat; halt while there is nothing to run;
/// power off when no task is left.
pub fn run_cpu(cpu: usize) -> ! {
    // Published by the boot CPU after every task is added.
    let scheduler = SCHEDULER.wait();
    loop {
        irq::disable();
        let next = scheduler.pick_next(cpu, now());
        // Back on the idle stack, whatever ran here before is off this CPU: finish that
        // switch (and drop an exited task's last handle, freeing it).
        let finished = scheduler.finish_switch(cpu);
        let pick_again = reschedule_cpu(finished.reschedule);
        drop(finished.switched_out);
        match next {
            Some(task) => {
                // SAFETY: interrupts are off and the scheduler gave this CPU the task.
                unsafe { run(&task) };
                // It returns only by exiting: it leaves the queue at the next pick.
                scheduler.prepare_to_exit(&task);
            }
            None if pick_again => {}
            None if scheduler.live_tasks() == 0 => all_tasks_done(),
            // `sti; hlt`: an IPI in between still wakes it.
            None => irq::enable_and_hlt(),
        }
    }
}

/// Run `task` on this CPU until it switches back to the idle context.
///
/// # Safety
/// Called by the idle loop with interrupts off, for a task the scheduler picked here.
unsafe fn run(task: &Task) {
    let this = cpu::this_cpu();
    let stack_top = task.kernel_stack.top();
    // SAFETY: the task's stack and work flags live as long as it does, and the idle
    // loop's handle keeps it alive while it runs; the table has TABLE_LEN entries.
    unsafe {
        this.set_kernel_stack(stack_top);
        topframe_entry::install_thread(stack_top, &task.work, syscall::TABLE_LEN as u32);
        let mut idle_state = UserEntryState::default();
        Selected::switch_user_state(&mut idle_state, &*task.entry_state.get());
    }
    CURRENT.write(task);
    // SAFETY: the task's saved RSP is a stack built by Task::new or saved by a switch,
    // that nothing runs on; the idle RSP slot is this CPU's.
    unsafe { switch_stacks(this.idle_rsp.get(), *task.saved_rsp.get()) };
    CURRENT.write(core::ptr::null());
}

/// A new task's first instructions in the kernel, on its own stack: out to user mode
/// through the frame Task::new left at the top of its stack.
extern "C" fn first_run() -> ! {
    // SAFETY: this is the task's own stack.
    let frame = topframe_entry::frame_address_for(unsafe { running() }.kernel_stack.top());
    // SAFETY: interrupts are off (the switch ran with them off), the kernel GS is loaded,
    // the task is installed (`run`), and `frame` is its initial user-mode frame.
    unsafe { topframe_entry::enter_user_mode(frame as *const PtRegs) }
}

/// End the running task with `status` (from `exit`, or killed by an exception): back to
/// this CPU's idle context, for good.
///
/// # Safety
/// Called on the running task's kernel stack: by its system call or by an exception from
/// its user mode.
pub unsafe fn exit_current(status: i64) -> ! {
    irq::disable();
    // SAFETY: on the task's stack (the caller's promise); the reference is last used by
    // the switch away, which never returns.
    let task = unsafe { running() };
    println!(
        "task {} exited with status {status} on CPU {}",
        task.number,
        topframe_percpu::cpu_id()
    );
    if status != 0 {
        FAILED_TASKS.fetch_add(1, Ordering::Relaxed);
    }
    let this = cpu::this_cpu();
    // SAFETY: interrupts are off and the task is switching out on its own CPU, which owns
    // its entry state and RSP slot now; the idle RSP was saved by `run`.
    unsafe {
        let idle_state = UserEntryState::default();
        Selected::switch_user_state(&mut *task.entry_state.get(), &idle_state);
        switch_stacks(task.saved_rsp.get(), *this.idle_rsp.get());
    }
    unreachable!("an exited task is never resumed");
}

/// The last task has exited: report and power off (once, whichever CPU sees it first).
fn all_tasks_done() -> ! {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if REPORTED.swap(true, Ordering::AcqRel) {
        loop {
            x86_64::instructions::hlt(); // interrupts are off: for good
        }
    }
    let failed = FAILED_TASKS.load(Ordering::Relaxed);
    println!("all tasks exited, {failed} with a failure");
    crate::power_off(if failed == 0 { 0 } else { 1 })
}

/// Save the callee-saved registers and RSP (to `*save_to`), then continue on the stack
/// `resume_from` (saved the same way, or built by Task::new) with its callee-saved
/// registers, returning where that stack was left.
#[unsafe(naked)]
unsafe extern "C" fn switch_stacks(save_to: *mut u64, resume_from: u64) {
    core::arch::naked_asm!(
        "push %rbp",        // the callee-saved registers of the context we leave
        "push %rbx",        // ...
        "push %r12",        // ...
        "push %r13",        // ...
        "push %r14",        // ...
        "push %r15",        // ... (the System V ABI's six)
        "mov %rsp, (%rdi)", // its RSP, for the switch back
        "mov %rsi, %rsp",   // the stack of the context we resume
        "pop %r15",         // its callee-saved registers
        "pop %r14",         // ...
        "pop %r13",         // ...
        "pop %r12",         // ...
        "pop %rbx",         // ...
        "pop %rbp",         // ...
        "ret",              // back into its switch_stacks call, or into first_run
        options(att_syntax),
    )
}
