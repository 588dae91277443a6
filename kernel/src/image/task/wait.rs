//! wait4: reaping children that have exited.

use super::{ExitStatus, Process, Task, current_handle};
use crate::scheduler;
use crate::syscall::errno::{ECHILD, EFAULT, EINVAL, ESRCH};
use crate::user::copy::{copy_to_user, write_user};
use alloc::sync::Arc;
use alloc::vec::Vec;

/// wait4 options (`<linux/wait.h>`).
const WNOHANG: u64 = 0x1;
const WUNTRACED: u64 = 0x2;
const WCONTINUED: u64 = 0x8;
const WNOTHREAD: u64 = 0x2000_0000;
const WALL: u64 = 0x4000_0000;
const WCLONE: u64 = 0x8000_0000;

/// What wait4 may wait for, decoded.
pub struct WaitOptions {
    pub no_hang: bool,
}

/// Which children a wait is for.
#[derive(Clone, Copy)]
enum Selector {
    Any,
    Pid(u32),
    /// A process group: there are none here besides everyone's own, so none matches.
    Group,
}

impl Selector {
    fn matches(self, child: &Process) -> bool {
        match self {
            Selector::Any => true,
            Selector::Pid(pid) => child.pid == pid,
            Selector::Group => false,
        }
    }
}

/// What wait4 reports about a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Exited(ExitStatus),
    /// A ptrace stop, with its wait status.
    Stopped(u32),
}

impl Change {
    fn wait_status(self) -> u32 {
        match self {
            Change::Exited(status) => status.wait_status(),
            Change::Stopped(status) => status,
        }
    }
}

/// What a scan of the children found.
enum Scan {
    NoMatchingChild,
    StillRunning,
    Reaped(u32, ExitStatus),
    Stopped(u32, u32),
}

/// Report the first matching child in a ptrace stop not reported yet, else take the first
/// matching zombie out of `parent`'s children.
fn scan(parent: &Process, selector: Selector) -> Scan {
    let mut stopped = None;
    let reaped = parent.with_children(|children: &mut Vec<Arc<Process>>| {
        if !children.iter().any(|child| selector.matches(child)) {
            return None;
        }
        stopped = children
            .iter()
            .filter(|child| selector.matches(child))
            .find_map(|child| crate::ptrace::take_unreported_stop(child, parent.pid));
        if stopped.is_some() {
            return Some(None);
        }
        let index = children
            .iter()
            .position(|child| selector.matches(child) && child.zombie_status().is_some());
        Some(index.map(|index| children.remove(index)))
    });
    if let Some((pid, status)) = stopped {
        return Scan::Stopped(pid, status);
    }
    match reaped {
        None => Scan::NoMatchingChild,
        Some(None) => Scan::StillRunning,
        Some(Some(child)) => {
            child.mark_reaped();
            let status = child.zombie_status().expect("a reaped child is a zombie");
            Scan::Reaped(child.pid, status)
        }
    }
}

/// Wait (block unless `no_hang`) for a child matching `selector` to exit and reap it.
fn wait_child(
    waiter: &Arc<Task>,
    selector: Selector,
    options: WaitOptions,
) -> Result<Option<(u32, Change)>, i64> {
    let scheduler = scheduler::scheduler();
    let parent = &waiter.process;
    loop {
        parent.child_event.prepare_to_wait(scheduler, waiter);
        let outcome = match scan(parent, selector) {
            Scan::NoMatchingChild => Some(Err(ECHILD)),
            Scan::Reaped(pid, status) => Some(Ok(Some((pid, Change::Exited(status))))),
            Scan::Stopped(pid, status) => Some(Ok(Some((pid, Change::Stopped(status))))),
            Scan::StillRunning if options.no_hang => Some(Ok(None)),
            Scan::StillRunning if crate::signal::interrupts_wait(waiter) => {
                Some(Err(crate::signal::ERESTARTSYS))
            }
            Scan::StillRunning => None,
        };
        if let Some(outcome) = outcome {
            parent.child_event.finish_wait(scheduler, waiter);
            return outcome;
        }
        scheduler::schedule();
        parent.child_event.finish_wait(scheduler, waiter);
    }
}

/// `wait4(pid, wstatus, options, rusage)`.
pub fn wait4(pid: i64, status_address: u64, options: u64, rusage: u64) -> i64 {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return -EINVAL;
    }
    let pid = pid as i32; // pid_t
    let selector = match pid {
        i32::MIN => return -ESRCH,
        -1 | 0 => Selector::Any, // 0: the caller's process group, which every child is in
        pid if pid < -1 => Selector::Group,
        pid => Selector::Pid(pid as u32),
    };
    let waiter = current_handle();
    let options = WaitOptions {
        no_hang: options & WNOHANG != 0,
    };
    match wait_child(&waiter, selector, options) {
        Err(errno) => -errno,
        Ok(None) => 0,
        Ok(Some((pid, status))) => {
            if status_address != 0 && write_user(status_address, &status.wait_status()).is_err() {
                return -EFAULT;
            }
            if rusage != 0 && copy_to_user(rusage, &[0u8; RUSAGE_SIZE]).is_err() {
                return -EFAULT;
            }
            i64::from(pid)
        }
    }
}

/// `struct rusage`: no resource accounting yet, so all zeros.
const RUSAGE_SIZE: usize = 144;

/// Wait for the child `pid` of the running kernel thread's process to exit (the kernel
/// running its programs); other zombie children found meanwhile are reaped too.
pub fn wait_for_child(pid: u32) -> ExitStatus {
    let waiter = current_handle();
    loop {
        match wait_child(&waiter, Selector::Any, WaitOptions { no_hang: false }) {
            Ok(Some((reaped, Change::Exited(status)))) if reaped == pid => return status,
            Ok(_) => {}
            Err(errno) => panic!("the kernel lost its child {pid} (errno {errno})"),
        }
    }
}
