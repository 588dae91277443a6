//! Process and thread identity and lifetime: IDs, exit, exit_group, clone, fork, vfork,
//! wait4, set_tid_address.

use crate::task::{self, ExitStatus};
use core::sync::atomic::Ordering;

pub fn getpid() -> i64 {
    i64::from(task::current_process().pid)
}

pub fn getppid() -> i64 {
    i64::from(task::current_process().parent_pid.load(Ordering::Relaxed))
}

pub fn gettid() -> i64 {
    i64::from(task::current().tid)
}

/// exit: this thread only (the process ends with its last thread).
pub fn exit(status: u64) -> i64 {
    task::exit_thread(ExitStatus::Exited(status as u8))
}

/// exit_group: every thread of the process.
pub fn exit_group(status: u64) -> i64 {
    task::exit_group(ExitStatus::Exited(status as u8))
}

pub fn set_tid_address(address: u64) -> i64 {
    let task = task::current();
    task.clear_child_tid.store(address, Ordering::Relaxed);
    i64::from(task.tid)
}

pub fn clone(flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> i64 {
    task::clone(flags, stack, parent_tid, child_tid, tls)
}

/// SIGCHLD, the exit signal fork and vfork children send.
const SIGCHLD: u64 = 17;
const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;

pub fn fork() -> i64 {
    task::clone(SIGCHLD, 0, 0, 0, 0)
}

pub fn vfork() -> i64 {
    task::clone(CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0)
}

pub fn wait4(pid: u64, status: u64, options: u64, rusage: u64) -> i64 {
    task::wait4(pid as i64, status, options, rusage)
}
