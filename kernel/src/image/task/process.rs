//! Processes (thread groups): the threads sharing a PID, their exit status, and the
//! parent-child tree that wait4 walks.

use super::Task;
use crate::signal::ProcessSignals;
use crate::sync::IrqSafeLock;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use topframe_sched::WaitQueue;

/// How a process ended, as wait4 reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(u8),
    Killed(u8),
}

impl ExitStatus {
    /// The status a shell shows: the exit code, or 128 + the signal.
    pub fn shell_status(self) -> u32 {
        match self {
            ExitStatus::Exited(code) => u32::from(code),
            ExitStatus::Killed(signal) => 128 + u32::from(signal),
        }
    }

    /// The `wstatus` word wait4 stores: code << 8, or the signal.
    pub fn wait_status(self) -> u32 {
        match self {
            ExitStatus::Exited(code) => u32::from(code) << 8,
            ExitStatus::Killed(signal) => u32::from(signal),
        }
    }

    fn encode(self) -> u32 {
        match self {
            ExitStatus::Exited(code) => u32::from(code),
            ExitStatus::Killed(signal) => KILLED | u32::from(signal),
        }
    }

    fn decode(raw: u32) -> ExitStatus {
        if raw & KILLED != 0 {
            ExitStatus::Killed(raw as u8)
        } else {
            ExitStatus::Exited(raw as u8)
        }
    }
}

/// Bits of the encoded exit word.
const KILLED: u32 = 1 << 8;
const SET: u32 = 1 << 9;

pub struct Process {
    /// The process ID: its first thread's ID (0 for the kernel's own threads).
    pub pid: u32,
    /// The parent's PID (0 for the kernel's children), kept beside `parent` so getppid
    /// is one load.
    pub parent_pid: AtomicU32,
    parent: IrqSafeLock<Weak<Process>>,
    pub name: String,
    /// Threads not yet exited.
    live_threads: AtomicUsize,
    /// The IDs of the threads, for exit_group.
    threads: IrqSafeLock<Vec<u32>>,
    /// The group's exit status once exit_group or a fatal signal started tearing it
    /// down (SET | encoded status), else 0.
    group_exit: AtomicU32,
    /// The status of the process once its last thread has gone (SET | encoded), else 0.
    zombie: AtomicU32,
    /// Children not yet reaped.
    children: IrqSafeLock<Vec<Arc<Process>>>,
    /// Threads waiting for a child to change state (wait4, vfork).
    pub child_event: WaitQueue<Arc<Task>>,
    /// Reaped: its ID is free again.
    reaped: AtomicBool,
    /// Signal actions (shared by the threads) and process-directed pending signals.
    pub signals: ProcessSignals,
}

impl Process {
    pub fn new(
        pid: u32,
        parent: Option<&Arc<Process>>,
        name: String,
        signals: ProcessSignals,
    ) -> Process {
        Process {
            pid,
            parent_pid: AtomicU32::new(parent.map_or(0, |parent| parent.pid)),
            parent: IrqSafeLock::new(parent.map_or_else(Weak::new, Arc::downgrade)),
            name,
            live_threads: AtomicUsize::new(0),
            threads: IrqSafeLock::new(Vec::new()),
            group_exit: AtomicU32::new(0),
            zombie: AtomicU32::new(0),
            children: IrqSafeLock::new(Vec::new()),
            child_event: WaitQueue::new(),
            reaped: AtomicBool::new(false),
            signals,
        }
    }

    /// A thread joins the group.
    pub fn add_thread(&self, tid: u32) {
        self.live_threads.fetch_add(1, Ordering::AcqRel);
        self.threads.lock().push(tid);
    }

    /// A thread leaves; true when it was the last.
    pub fn remove_thread(&self, tid: u32) -> bool {
        self.threads.lock().retain(|&thread| thread != tid);
        self.live_threads.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// The IDs of the threads still in the group.
    pub fn thread_ids(&self) -> Vec<u32> {
        self.threads.lock().clone()
    }

    /// Start tearing the group down with `status` (the first request wins). Returns
    /// false if it was already being torn down.
    pub fn begin_group_exit(&self, status: ExitStatus) -> bool {
        self.group_exit
            .compare_exchange(
                0,
                SET | status.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// True once exit_group or a fatal signal started tearing the group down.
    pub fn is_exiting(&self) -> bool {
        self.group_exit.load(Ordering::Acquire) != 0
    }

    /// The status the group exits with: the exit_group status, else the last thread's.
    pub fn final_status(&self, last_thread_status: ExitStatus) -> ExitStatus {
        match self.group_exit.load(Ordering::Acquire) {
            0 => last_thread_status,
            raw => ExitStatus::decode(raw),
        }
    }

    /// The process has no threads left: record its status (it is a zombie until reaped).
    pub fn become_zombie(&self, status: ExitStatus) {
        self.zombie.store(SET | status.encode(), Ordering::Release);
    }

    /// The status of a zombie; None while it still runs.
    pub fn zombie_status(&self) -> Option<ExitStatus> {
        match self.zombie.load(Ordering::Acquire) {
            0 => None,
            raw => Some(ExitStatus::decode(raw)),
        }
    }

    /// The parent, if it is still there.
    pub fn parent(&self) -> Option<Arc<Process>> {
        self.parent.lock().upgrade()
    }

    /// Record a new child.
    pub fn adopt(self: &Arc<Process>, child: Arc<Process>) {
        *child.parent.lock() = Arc::downgrade(self);
        child.parent_pid.store(self.pid, Ordering::Release);
        self.children.lock().push(child);
    }

    /// Hand every child to `new_parent` (this process is exiting).
    pub fn give_children_to(&self, new_parent: &Arc<Process>) {
        let children = core::mem::take(&mut *self.children.lock());
        for child in children {
            new_parent.adopt(child);
        }
    }

    /// Run `find` over the children under their lock (wait4's scan); `find` returns the
    /// index of a child to take out of the list (reaped), if any.
    pub fn with_children<R>(&self, find: impl FnOnce(&mut Vec<Arc<Process>>) -> R) -> R {
        find(&mut self.children.lock())
    }

    /// Mark the process reaped: its ID may be reused.
    pub fn mark_reaped(&self) {
        if !self.reaped.swap(true, Ordering::AcqRel) {
            super::unregister(self.pid);
        }
    }
}
