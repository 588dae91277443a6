//! The signal syscalls: rt_sigaction, rt_sigprocmask, rt_sigpending, rt_sigreturn,
//! sigaltstack, kill, tkill, tgkill, with Linux's checks and errors.

use super::errno::{EFAULT, EINVAL, ESRCH};
use crate::signal::{
    self, Action, Handler, Info, SA_KNOWN, SI_TKILL, SI_USER, SIGKILL, SIGSTOP, SigSet,
};
use crate::task;
use crate::user::copy::{read_user, write_user};
use topframe_entry::{EntryStrategy, PtRegs, Selected, WorkFlags};

/// The only sigset size the kernel takes: 64 signals.
const SIGSET_SIZE: u64 = 8;

/// `struct sigaction` as the raw syscall passes it (`struct kernel_sigaction`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

/// SIG_DFL and SIG_IGN.
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;

/// rt_sigprocmask's `how`.
const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

fn to_user_action(action: &Action) -> KernelSigaction {
    KernelSigaction {
        handler: match action.handler {
            Handler::Default => SIG_DFL,
            Handler::Ignore => SIG_IGN,
            Handler::Function(address) => address,
        },
        flags: action.flags,
        restorer: action.restorer,
        mask: action.mask.0,
    }
}

pub fn rt_sigaction(signal: u64, act: u64, oldact: u64, sigset_size: u64) -> i64 {
    if sigset_size != SIGSET_SIZE {
        return -EINVAL;
    }
    let Some(signal) = signal::from_argument(signal) else {
        return -EINVAL;
    };
    let new = match act {
        0 => None,
        _ if signal == SIGKILL || signal == SIGSTOP => return -EINVAL,
        address => match read_user::<KernelSigaction>(address) {
            Ok(new) => Some(new),
            Err(_) => return -EFAULT,
        },
    };
    let signals = &task::current().process.signals;
    let old = signals.action(signal);
    if let Some(new) = new {
        let handler = match new.handler {
            SIG_DFL => Handler::Default,
            SIG_IGN => Handler::Ignore,
            address => Handler::Function(address),
        };
        signals.set_action(
            signal,
            Action {
                handler,
                flags: new.flags & SA_KNOWN,
                restorer: new.restorer,
                mask: SigSet(new.mask).without_unblockable(),
            },
        );
        if signals.discards(signal) {
            // Linux drops what is pending once a signal is ignored.
            signals.discard_pending(signal);
            for thread in task::current().process.thread_ids() {
                if let Some(thread) = task::find(thread) {
                    thread.signals.discard_pending(signal);
                }
            }
        }
    }
    if oldact != 0 && write_user(oldact, &to_user_action(&old)).is_err() {
        return -EFAULT;
    }
    0
}

pub fn rt_sigprocmask(how: u64, set: u64, oldset: u64, sigset_size: u64) -> i64 {
    if sigset_size != SIGSET_SIZE {
        return -EINVAL;
    }
    let task = task::current_handle();
    let old = task.signals.blocked();
    if set != 0 {
        let Ok(set) = read_user::<u64>(set) else {
            return -EFAULT;
        };
        let new = match how {
            SIG_BLOCK => old.0 | set,
            SIG_UNBLOCK => old.0 & !set,
            SIG_SETMASK => set,
            _ => return -EINVAL,
        };
        task.signals.set_blocked(SigSet(new));
        // What this unblocked is delivered before the call returns.
        signal::recalc_pending(&task);
    }
    if oldset != 0 && write_user(oldset, &old.0).is_err() {
        return -EFAULT;
    }
    0
}

pub fn rt_sigpending(set: u64, sigset_size: u64) -> i64 {
    if sigset_size > SIGSET_SIZE {
        return -EINVAL;
    }
    let task = task::current();
    let pending = task.signals.pending().0 | task.process.signals.pending().0;
    let pending = pending & task.signals.blocked().0;
    let bytes = pending.to_le_bytes();
    match crate::user::copy::copy_to_user(set, &bytes[..sigset_size as usize]) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

pub fn rt_sigreturn() -> i64 {
    signal::sigreturn()
}

/// The running thread's user RSP, in a syscall.
fn user_stack_pointer() -> u64 {
    // SAFETY: in a syscall the topmost frame on the thread's kernel stack is its own.
    let regs = unsafe { &*(topframe_entry::current_frame_address() as *const PtRegs) };
    let complete = topframe_entry::current_work()
        .get()
        .contains(WorkFlags::FRAME_MODIFIED);
    Selected::current_user_stack_pointer(regs, complete)
}

pub fn sigaltstack(new: u64, old: u64) -> i64 {
    let task = task::current();
    let sp = user_stack_pointer();
    let previous = signal::describe_altstack(&task.signals.altstack.lock(), sp);
    if new != 0 {
        let Ok(stack) = read_user::<signal::StackT>(new) else {
            return -EFAULT;
        };
        if let Err(errno) = signal::set_altstack(task, &stack, sp) {
            return -errno;
        }
    }
    if old != 0 && write_user(old, &previous).is_err() {
        return -EFAULT;
    }
    0
}

/// The signal number of kill and friends: 0 only checks that the target exists.
fn signal_argument(signal: u64) -> Result<Option<u8>, i64> {
    match signal {
        0 => Ok(None),
        signal => signal::from_argument(signal).map(Some).ok_or(EINVAL),
    }
}

pub fn kill(pid: u64, signal: u64) -> i64 {
    let signal = match signal_argument(signal) {
        Ok(signal) => signal,
        Err(errno) => return -errno,
    };
    let pid = pid as i32;
    let process = match pid {
        // The caller's process group: here, every process is in its own.
        0 => task::current().process.clone(),
        pid if pid > 0 => match task::find(pid as u32) {
            Some(target) => target.process.clone(),
            None => return -ESRCH,
        },
        // -1 (everyone the caller may signal) and other groups: none here.
        _ => return -ESRCH,
    };
    if process.pid == 0 {
        return -ESRCH; // the kernel's own threads take no signals
    }
    if let Some(signal) = signal {
        signal::send_to_process(&process, signal, signal::sent_by_process(SI_USER));
    }
    0
}

fn thread_kill(tgid: Option<u32>, tid: u64, signal: u64) -> i64 {
    let tid = tid as i32;
    if tid <= 0 {
        return -EINVAL;
    }
    let signal = match signal_argument(signal) {
        Ok(signal) => signal,
        Err(errno) => return -errno,
    };
    let Some(target) = task::find(tid as u32) else {
        return -ESRCH;
    };
    if target.process.pid == 0 || tgid.is_some_and(|tgid| target.process.pid != tgid) {
        return -ESRCH;
    }
    if let Some(signal) = signal {
        let info: Info = signal::sent_by_process(SI_TKILL);
        signal::send_to_thread(&target, signal, info);
    }
    0
}

pub fn tkill(tid: u64, signal: u64) -> i64 {
    thread_kill(None, tid, signal)
}

pub fn tgkill(tgid: u64, tid: u64, signal: u64) -> i64 {
    let tgid = tgid as i32;
    if tgid <= 0 {
        return -EINVAL;
    }
    thread_kill(Some(tgid as u32), tid, signal)
}
