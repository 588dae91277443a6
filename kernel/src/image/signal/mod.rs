//! POSIX signals with Linux's x86_64 ABI: per-process actions (shared by the threads, as
//! CLONE_SIGHAND), per-thread masks, pending sets (thread-directed and process-directed),
//! alternate stacks, and delivery on the way back to user mode through the exit work
//! (the one slow path), where the frame is complete under either entry strategy.

mod deliver;
mod frame;
mod state;

pub use deliver::{
    ERESTARTNOHAND, ERESTARTSYS, deliver_pending, is_restart_code, sent_by_process, set_altstack,
};
pub use frame::{StackT, describe_altstack, sigreturn};
pub use state::{
    Action, AltStack, Handler, Info, ProcessSignals, SA_KNOWN, SA_ONSTACK, SA_RESTORER, SigSet,
    ThreadSignals, TrapInfo,
};

use crate::scheduler;
use crate::task::{self, Process, Task};
use alloc::sync::Arc;
use topframe_entry::WorkFlags;
use topframe_sched::{Schedulable, TaskState};

/// Signal numbers the kernel itself sends.
pub const SIGILL: u8 = 4;
pub const SIGTRAP: u8 = 5;
pub const SIGBUS: u8 = 7;
pub const SIGFPE: u8 = 8;
pub const SIGKILL: u8 = 9;
pub const SIGSEGV: u8 = 11;
pub const SIGSTOP: u8 = 19;
/// Signals are 1..=64.
pub const SIGNALS: u8 = 64;

/// si_code values (`<asm-generic/siginfo.h>`).
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const TRAP_BRKPT: i32 = 1;
pub const TRAP_TRACE: i32 = 2;
pub const BUS_ADRALN: i32 = 1;

/// The signal number in a syscall argument, if it is one (1..=64).
pub fn from_argument(signal: u64) -> Option<u8> {
    (1..=u64::from(SIGNALS))
        .contains(&signal)
        .then_some(signal as u8)
}

/// Make `task` notice its pending signals if any are deliverable: the work flag sends its
/// next return to user mode through the exit work, and a sleeping task is woken (its
/// wait ends with a restart code).
pub fn recalc_pending(task: &Arc<Task>) {
    if recalc_current(task) {
        kick(task);
    }
}

/// The running thread's mask changed (a handler's mask set up, or rt_sigreturn's restore):
/// if a signal is deliverable now, the exit work delivers it before the return to user
/// mode (Linux's `set_current_blocked` recalculates TIF_SIGPENDING, and the exit loop sets
/// up one frame after the other). True when one is.
pub fn recalc_current(task: &Task) -> bool {
    let deliverable = task.signals.deliverable(&task.process.signals).is_some();
    if deliverable {
        task.work.set(WorkFlags::SIGNAL_PENDING);
    }
    deliverable
}

/// Wake `task` if it sleeps, interrupt its CPU if it runs elsewhere, so that it reaches
/// its exit work soon.
pub fn kick(task: &Arc<Task>) {
    scheduler::wake(task);
    if let TaskState::Running { cpu } = task.sched_entity().state()
        && cpu != topframe_percpu::cpu_id()
    {
        crate::apic::send_ipi(crate::smp::apic_id(cpu), scheduler::RESCHEDULE_VECTOR);
    }
}

/// True when a blocking call of `task` must give up now: a signal it does not block is
/// pending, or its process is being torn down.
pub fn interrupts_wait(task: &Task) -> bool {
    task.fatal_pending() || task.signals.deliverable(&task.process.signals).is_some()
}

/// Send `signal` to one thread (tgkill, tkill, and faults).
pub fn send_to_thread(task: &Arc<Task>, signal: u8, info: Info) {
    if signal == SIGKILL {
        return kill_process(&task.process);
    }
    // A blocked signal is never dropped: its action may change before it is unblocked.
    if task.process.signals.discards(signal)
        && !task.signals.blocks(signal)
        && !crate::ptrace::is_traced(task)
    {
        return;
    }
    task.signals.queue(signal, info);
    recalc_pending(task);
}

/// Send `signal` to a process (kill): queued on the process, delivered by the first
/// thread that does not block it.
pub fn send_to_process(process: &Arc<Process>, signal: u8, info: Info) {
    if signal == SIGKILL {
        return kill_process(process);
    }
    let threads: alloc::vec::Vec<Arc<Task>> = process
        .thread_ids()
        .into_iter()
        .filter_map(task::find)
        .collect();
    let traced = threads
        .iter()
        .any(|thread| crate::ptrace::is_traced(thread));
    // As Linux, the target of a kill is the thread-group leader: a signal it blocks is
    // queued even if ignored (the action may change before it is unblocked).
    let leader_blocks = threads
        .iter()
        .any(|thread| thread.tid == process.pid && thread.signals.blocks(signal));
    if process.signals.discards(signal) && !traced && !leader_blocks {
        return;
    }
    process.signals.queue(signal, info);
    if let Some(thread) = threads.iter().find(|thread| !thread.signals.blocks(signal)) {
        recalc_pending(thread);
    }
    // Every thread blocks it: it stays pending until one unblocks it.
}

/// SIGKILL: the whole process dies, whatever it blocks or handles.
fn kill_process(process: &Arc<Process>) {
    task::begin_kill(process, SIGKILL);
}

/// True when a fault's `signal` would reach the running thread's handler (installed,
/// not blocked) or its tracer; otherwise the fault kills at once.
pub fn fault_is_caught(signal: u8) -> bool {
    let task = task::current();
    let handled = matches!(
        task.process.signals.action(signal).handler,
        Handler::Function(_)
    ) && !task.signals.blocks(signal);
    handled || crate::ptrace::is_traced(task)
}

/// A fault the running thread caused: the signal is forced (unblocked and, if ignored or
/// blocked, reset to its default action, as Linux's force_sig), with the fault's details
/// for the handler's sigcontext.
pub fn force_fault(signal: u8, info: Info, trap: TrapInfo) {
    let task = task::current();
    let blocked = task.signals.blocks(signal);
    task.process.signals.force_deliverable(signal, blocked);
    task.signals.unblock(signal);
    task.signals.set_trap(trap);
    task.signals.queue(signal, info);
    task.work.set(WorkFlags::SIGNAL_PENDING);
}

/// force_sigsegv: a signal frame could not be written or read back; SIGSEGV is forced,
/// and if that was the signal being handled, its handler is reset so that it kills.
pub fn force_sigsegv(signal_being_handled: Option<u8>) {
    let task = task::current();
    if signal_being_handled == Some(SIGSEGV) {
        task.process.signals.set_action(SIGSEGV, Action::default());
    }
    let info = Info {
        code: SI_KERNEL,
        ..Info::default()
    };
    force_fault(SIGSEGV, info, task.signals.trap());
}
