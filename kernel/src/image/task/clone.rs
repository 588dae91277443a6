//! clone, fork and vfork: a new thread in the caller's process, or a new process with a
//! copy (or, with CLONE_VM, a share) of its memory.
//!
//! The child starts from a copy of the caller's syscall frame with RAX = 0. Under
//! LazyTopOfStack the fast path left that frame's top unwritten (user RSP only in the
//! per-CPU OLD_RSP), so this is one of the slow paths the seed names: the strategy's
//! FIXUP_TOP_OF_STACK completes the copy first. Under CompleteFrame it is a no-op.

use super::fpu::FpuState;
use super::{Process, Task, allocate_tid, current, current_handle, register};
use crate::scheduler;
use crate::syscall::errno::{EAGAIN, EINTR, EINVAL, ENOMEM, EPERM};
use crate::user::copy::write_user;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use topframe_entry::{EntryStrategy, PtRegs, Selected, WorkFlags};
use topframe_kernel::layout::USER_SPACE_END;
use topframe_sched::{SchedEntity, Schedulable};

/// clone flags (`<linux/sched.h>`).
const CSIGNAL: u64 = 0xff;
const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SYSVSEM: u64 = 0x40000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
/// Ignored by Linux since 2.6 (old NPTL passes it).
const CLONE_DETACHED: u64 = 0x400000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;

/// Every flag this kernel implements.
const SUPPORTED: u64 = CSIGNAL
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_VFORK
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_CHILD_SETTID;

/// `clone(flags, stack, parent_tid, child_tid, tls)` (x86_64's argument order). Returns
/// the child's ID to the caller; the child returns 0.
pub fn clone(flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> i64 {
    if let Err(errno) = check_flags(flags) {
        return -errno;
    }
    // A TLS base in the kernel half is refused, as arch_prctl refuses it.
    if flags & CLONE_SETTLS != 0 && tls >= USER_SPACE_END {
        return -EPERM;
    }
    let parent = current_handle();
    if parent.fatal_pending() {
        return -EINTR;
    }
    let child = match new_child(&parent, flags, stack, child_tid, tls) {
        Ok(child) => child,
        Err(errno) => return -errno,
    };
    let tid = child.tid;
    if flags & CLONE_PARENT_SETTID != 0 {
        // Written once the child exists; a fault is ignored, as Linux ignores it.
        let _ = write_user(parent_tid, &tid);
    }
    if scheduler::start(&child).is_err() {
        return -EAGAIN;
    }
    if flags & CLONE_VFORK != 0 {
        wait_for_vfork_child(&parent, &child.process);
    }
    i64::from(tid)
}

/// Linux's checks of the flag combinations (copy_process), then ours: flags we do not
/// implement are refused, never ignored.
fn check_flags(flags: u64) -> Result<(), i64> {
    if flags & !SUPPORTED != 0 {
        return Err(EINVAL);
    }
    // Threads share signal handlers; shared signal handlers need shared memory.
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// Build the child task (not yet runnable).
fn new_child(
    parent: &Arc<Task>,
    flags: u64,
    stack: u64,
    child_tid: u64,
    tls: u64,
) -> Result<Arc<Task>, i64> {
    let parent_mm = parent.mm.as_ref().ok_or(EINVAL)?;
    let mm = if flags & CLONE_VM != 0 {
        parent_mm.add_user();
        parent_mm.clone()
    } else {
        Arc::new(parent_mm.duplicate().ok_or(ENOMEM)?)
    };
    let tid = allocate_tid();
    let process = if flags & CLONE_THREAD != 0 {
        parent.process.clone()
    } else {
        Arc::new(Process::new(
            tid,
            Some(&parent.process),
            String::from(parent.process.name.as_str()),
            parent.process.signals.inherit(),
        ))
    };
    let child = Arc::new(Task::new(
        tid,
        process.clone(),
        Some(mm),
        SchedEntity::forked_from(parent.sched_entity()),
        FpuState::copy_of_live(),
    ));
    child
        .fs_base
        .store(parent.fs_base.load(Ordering::Relaxed), Ordering::Relaxed);
    child
        .gs_base
        .store(parent.gs_base.load(Ordering::Relaxed), Ordering::Relaxed);
    if flags & CLONE_SETTLS != 0 {
        child.fs_base.store(tls, Ordering::Relaxed);
    }
    child.signals.set_blocked(parent.signals.blocked());
    // A thread on its own stack starts without the alternate stack; fork and vfork keep it.
    if flags & (CLONE_VM | CLONE_VFORK) != CLONE_VM {
        *child.signals.altstack.lock() = *parent.signals.altstack.lock();
    }
    if flags & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid.store(child_tid, Ordering::Relaxed);
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        child.set_child_tid.store(child_tid, Ordering::Relaxed);
    }
    child.prepare_user_start(child_frame(stack));
    crate::syscall::arm_forced_slow_path(&child.work);
    process.add_thread(tid);
    if flags & CLONE_THREAD == 0 {
        parent.process.adopt(process);
    }
    register(&child);
    Ok(child)
}

/// The child's registers: the caller's at its syscall, completed by the strategy,
/// with RAX = 0 and the new stack if one was given.
fn child_frame(stack: u64) -> PtRegs {
    // SAFETY: in a syscall, the topmost frame on the running task's kernel stack is its
    // syscall frame; nothing else writes it while the handler runs.
    let mut frame = unsafe { *(topframe_entry::current_frame_address() as *const PtRegs) };
    // Complete it, unless it is complete and authoritative already (a traced syscall).
    if !parent_work_modified() {
        Selected::fixup_top_of_stack(&mut frame);
    }
    frame.rax = 0;
    if stack != 0 {
        frame.rsp = stack;
    }
    frame
}

/// True when the running thread's syscall frame was completed (and maybe rewritten)
/// before the handler ran.
fn parent_work_modified() -> bool {
    topframe_entry::current_work()
        .get()
        .contains(WorkFlags::FRAME_MODIFIED)
}

/// CLONE_VFORK: the caller waits until the child has exited (there is no execve).
fn wait_for_vfork_child(parent: &Arc<Task>, child: &Arc<Process>) {
    let scheduler = scheduler::scheduler();
    loop {
        parent
            .process
            .child_event
            .prepare_to_wait(scheduler, parent);
        if child.zombie_status().is_some() || parent.fatal_pending() {
            parent.process.child_event.finish_wait(scheduler, parent);
            return;
        }
        scheduler::schedule();
        parent.process.child_event.finish_wait(scheduler, parent);
    }
}

/// A new user task's first kernel code, on its own stack with `regs` its user frame:
/// finish the switch, write CLONE_CHILD_SETTID's TID, and do any exit work, then
/// return to user mode (the caller IRETQs, interrupts off).
pub extern "C" fn first_run_of_user_task(regs: &mut PtRegs) {
    scheduler::finish_first_switch();
    let task = current();
    let set_child_tid = task.set_child_tid.load(Ordering::Relaxed);
    if set_child_tid != 0 {
        // Linux ignores a fault here too (the child just runs on).
        let _ = write_user(set_child_tid, &task.tid);
    }
    if !task.work.get().is_empty() {
        crate::syscall::run_exit_work(regs, crate::syscall::ExitFrom::Interrupt);
    }
    task.work.take(WorkFlags::FRAME_MODIFIED);
}
