//! Tasks: kernel threads and user threads, grouped into processes (thread groups), each
//! with its kernel stack, saved registers and scheduling entity. This module holds the
//! task itself, the per-CPU "current" pointers and the table of live task IDs.

mod clone;
mod exit;
pub mod fpu;
mod mm;
mod process;
mod spawn;
mod switch;
mod wait;

pub use clone::clone;
pub use exit::{begin_kill, exit_group, exit_thread, kill_current};
pub use fpu::init as init_fpu;
pub use mm::Mm;
pub use process::{ExitStatus, Process};
pub use spawn::{spawn_kernel_thread, spawn_program};
pub use switch::context_switch;
pub use wait::{wait_for_child, wait4};

use crate::memory::stacks;
use crate::ptrace::Trace;
use crate::signal::{AltStack, SigSet, ThreadSignals};
use crate::sync::{IrqSafeLock, IrqSpinRawMutex};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use fpu::FpuState;
use topframe_entry::{ThreadWork, UserEntryState};
use topframe_kernel::layout::StackSlot;
use topframe_sched::{SchedEntity, Schedulable};

/// Where anonymous mappings start, growing down (below the stack's area and a gap, as
/// Linux's mmap_base).
pub const MMAP_BASE: u64 = crate::user::initial_stack::STACK_TOP - (8 << 30);

/// A thread of execution: a user thread (with an address space) or a kernel thread.
pub struct Task {
    /// Thread ID (the process ID for a process's first thread).
    pub tid: u32,
    pub process: Arc<Process>,
    /// The user memory (None for kernel threads).
    pub mm: Option<Arc<Mm>>,
    sched: SchedEntity<IrqSpinRawMutex>,
    /// Reasons the next return to user mode must take the slow path.
    pub work: ThreadWork,
    kernel_stack: StackSlot,
    /// Saved by the context switch while the task is off its CPU.
    saved_rsp: UnsafeCell<u64>,
    entry_state: UnsafeCell<UserEntryState>,
    fpu: FpuState,
    /// User FS and GS bases (arch_prctl, CLONE_SETTLS); the CPU holds the live ones.
    pub fs_base: AtomicU64,
    pub gs_base: AtomicU64,
    /// set_tid_address / CLONE_CHILD_CLEARTID: zeroed and futex-woken at exit.
    pub clear_child_tid: AtomicU64,
    /// CLONE_CHILD_SETTID: where the child writes its TID before it first runs.
    set_child_tid: AtomicU64,
    /// The CPU whose timers hold this task's timeout (NO_CPU when none is armed).
    pub timer_cpu: AtomicUsize,
    /// The futex word the task waits on (a requeue moves it).
    pub futex_address: AtomicU64,
    /// Set by the timer of the current timed wait when it expires.
    pub timed_out: AtomicBool,
    /// Mask, thread-directed pending signals, alternate stack.
    pub signals: ThreadSignals,
    /// Its tracer's view (ptrace).
    pub trace: Trace,
}

// SAFETY: the UnsafeCell fields (saved RSP, entry state) are touched only by the CPU
// that switches the task out or in, which the scheduler serialises (a task is on at most
// one CPU, and another CPU waits for the switch away to finish before running it).
unsafe impl Sync for Task {}
// SAFETY: as above; everything else is atomic, locked or immutable.
unsafe impl Send for Task {}

impl Schedulable for Task {
    type RawMutex = IrqSpinRawMutex;
    fn sched_entity(&self) -> &SchedEntity<IrqSpinRawMutex> {
        &self.sched
    }
}

impl Task {
    fn new(
        tid: u32,
        process: Arc<Process>,
        mm: Option<Arc<Mm>>,
        sched: SchedEntity<IrqSpinRawMutex>,
        fpu: FpuState,
    ) -> Task {
        Task {
            tid,
            process,
            mm,
            sched,
            work: ThreadWork::new(),
            kernel_stack: stacks::allocate(stacks::KERNEL_STACK_SIZE),
            saved_rsp: UnsafeCell::new(0),
            entry_state: UnsafeCell::new(UserEntryState::default()),
            fpu,
            fs_base: AtomicU64::new(0),
            gs_base: AtomicU64::new(0),
            clear_child_tid: AtomicU64::new(0),
            set_child_tid: AtomicU64::new(0),
            timer_cpu: AtomicUsize::new(topframe_percpu::NO_CPU),
            futex_address: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
            signals: ThreadSignals::new(SigSet::default(), AltStack::default()),
            trace: Trace::new(),
        }
    }

    /// Top of the task's kernel stack.
    pub fn stack_top(&self) -> u64 {
        self.kernel_stack.stack_top
    }

    /// True for user threads.
    pub fn is_user(&self) -> bool {
        self.mm.is_some()
    }

    /// The user memory of a user thread.
    ///
    /// # Panics
    /// On a kernel thread (syscalls and user faults come only from user threads).
    pub fn mm(&self) -> &Mm {
        self.mm.as_deref().expect("a user thread has memory")
    }

    /// True once the task's process is being torn down (exit_group, a fatal signal):
    /// blocking calls give up with -EINTR and the return to user mode exits instead.
    pub fn fatal_pending(&self) -> bool {
        self.process.is_exiting()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        stacks::free(self.kernel_stack);
    }
}

topframe_percpu::per_cpu! {
    /// The task running on this CPU (null in the idle context).
    static CURRENT_TASK: *const Task = core::ptr::null();
    /// Its process (null in the idle context): one load for getpid and getppid.
    static CURRENT_PROCESS: *const Process = core::ptr::null();
}

/// The running task, if this CPU runs one (not in its idle context).
pub fn try_current() -> Option<&'static Task> {
    // SAFETY: as in `current`.
    unsafe { CURRENT_TASK.read().as_ref() }
}

/// The running task. Meaningful in task context (a syscall, a fault from user mode, a
/// kernel thread), where it is never null.
#[inline]
pub fn current() -> &'static Task {
    let task = CURRENT_TASK.read();
    debug_assert!(!task.is_null(), "no task is running on this CPU");
    // SAFETY: the context switch sets CURRENT_TASK to the task it switches to, which the
    // scheduler keeps alive (it holds a handle) for as long as it runs.
    unsafe { &*task }
}

/// The running task's process (one gs-relative load).
#[inline]
pub fn current_process() -> &'static Process {
    let process = CURRENT_PROCESS.read();
    debug_assert!(!process.is_null(), "no task is running on this CPU");
    // SAFETY: the running task holds its process (an Arc) while it runs.
    unsafe { &*process }
}

/// The running task as a handle the scheduler takes.
pub fn current_handle() -> Arc<Task> {
    let task = CURRENT_TASK.read();
    debug_assert!(!task.is_null(), "no task is running on this CPU");
    // SAFETY: CURRENT_TASK points into a live Arc<Task> (the scheduler holds one while
    // the task runs), so one more strong reference may be made from it.
    unsafe {
        Arc::increment_strong_count(task);
        Arc::from_raw(task)
    }
}

/// Every live task by ID: for sched_setaffinity, exit_group, and the like.
static TASKS: IrqSafeLock<BTreeMap<u32, Weak<Task>>> = IrqSafeLock::new(BTreeMap::new());

/// The next task ID (1 is the first program's).
static NEXT_TID: AtomicU32 = AtomicU32::new(1);

/// Linux's default pid_max: IDs wrap (to RESERVED_PIDS, skipping those in use) rather
/// than grow for ever.
const PID_MAX: u32 = 32768;
const RESERVED_PIDS: u32 = 300;

/// A fresh task ID. A process's ID stays taken until it is reaped (its leader's entry
/// stays in TASKS until then), as Linux's.
fn allocate_tid() -> u32 {
    let tasks = TASKS.lock();
    loop {
        let tid = NEXT_TID.fetch_add(1, Ordering::Relaxed);
        if tid >= PID_MAX {
            NEXT_TID.store(RESERVED_PIDS, Ordering::Relaxed);
        } else if !tasks.contains_key(&tid) {
            return tid;
        }
    }
}

/// Make `task` findable by its ID.
fn register(task: &Arc<Task>) {
    TASKS.lock().insert(task.tid, Arc::downgrade(task));
}

/// The live task with this ID.
pub fn find(tid: u32) -> Option<Arc<Task>> {
    TASKS.lock().get(&tid).and_then(Weak::upgrade)
}

/// Free a task ID for reuse (a thread that exited, a process reaped).
fn unregister(tid: u32) {
    TASKS.lock().remove(&tid);
}
