//! Ending threads and processes: exit (one thread), exit_group and fatal signals (the
//! whole group), and the process's last thread turning it into a zombie for wait4.

use super::spawn::kernel_process;
use super::switch::leave_memory;
use super::{ExitStatus, Process, current, current_handle, find, unregister};
use crate::scheduler;
use crate::user::copy::write_user;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use topframe_entry::WorkFlags;
use topframe_sched::{Schedulable, TaskState};
use x86_64::instructions::interrupts;

/// End the running thread with `status` (the process's status if it is the last one and
/// no group exit set another). Never returns: the scheduler drops the task once this CPU
/// has switched away from it.
pub fn exit_thread(status: ExitStatus) -> ! {
    let task = current_handle();
    // CLONE_CHILD_CLEARTID / set_tid_address: zero the TID word and wake a joiner.
    let clear_child_tid = task.clear_child_tid.swap(0, Ordering::Relaxed);
    if let Some(mm) = &task.mm
        && clear_child_tid != 0
        && write_user(clear_child_tid, &0u32).is_ok()
    {
        crate::futex::wake(mm, clear_child_tid, 1, crate::futex::MATCH_ANY);
    }
    if let Some(mm) = &task.mm {
        interrupts::without_interrupts(|| leave_memory(mm));
        mm.remove_user();
    }
    let process = task.process.clone();
    if task.tid != process.pid {
        unregister(task.tid); // a leader's ID stays taken until its process is reaped
    }
    if process.remove_thread(task.tid) {
        finish_process(&process, process.final_status(status));
    }
    interrupts::disable();
    scheduler::scheduler().prepare_to_exit(&task);
    drop(task); // the scheduler's handle keeps it until this CPU has left it
    scheduler::schedule();
    unreachable!("an exited task was scheduled again");
}

/// The last thread is gone: hand the children to the kernel (Linux gives them to init),
/// record the status, and tell the parent.
fn finish_process(process: &Arc<Process>, status: ExitStatus) {
    crate::ptrace::release_tracees(process);
    process.give_children_to(kernel_process());
    process.become_zombie(status);
    match process.parent() {
        Some(parent) => {
            for waiter in parent.child_event.wake_all() {
                scheduler::wake(&waiter);
            }
        }
        None => process.mark_reaped(), // nobody will wait for it
    }
    // Orphans handed over may be zombies already: the kernel's waiter reaps them.
    for waiter in kernel_process().child_event.wake_all() {
        scheduler::wake(&waiter);
    }
}

/// exit_group: end every thread of the process with `status`.
pub fn exit_group(status: ExitStatus) -> ! {
    begin_teardown(&current().process, status);
    exit_thread(status)
}

/// SIGKILL (or another fatal signal sent from outside): tear `process` down, each thread
/// exiting at its next return to user mode (a blocked one is woken for it).
pub fn begin_kill(process: &Arc<Process>, signal: u8) {
    begin_teardown(process, ExitStatus::Killed(signal));
}

/// Start the group exit with `status` and make every thread notice it.
fn begin_teardown(process: &Arc<Process>, status: ExitStatus) {
    if process.begin_group_exit(status) {
        for tid in process.thread_ids() {
            if let Some(thread) = find(tid) {
                thread.work.set(WorkFlags::SIGNAL_PENDING);
                interrupt(&thread);
            }
        }
    }
}

/// Make `thread` notice its group exit soon: wake it if it sleeps (its wait ends with
/// -EINTR), interrupt its CPU if it runs (the return to user mode runs the exit work).
fn interrupt(thread: &Arc<super::Task>) {
    scheduler::wake(thread);
    if let TaskState::Running { cpu } = thread.sched_entity().state()
        && cpu != topframe_percpu::cpu_id()
    {
        crate::apic::send_ipi(crate::smp::apic_id(cpu), scheduler::RESCHEDULE_VECTOR);
    }
}

/// A fault the process cannot survive: the whole process dies of `signal` (Linux's
/// default action for SIGSEGV, SIGILL, ...), reported as killed.
pub fn kill_current(signal: u8) -> ! {
    exit_group(ExitStatus::Killed(signal))
}
