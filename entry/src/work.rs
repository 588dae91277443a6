//! Thread work flags: reasons a return to user mode must leave the fast path.
//!
//! Each thread owns one `AtomicU32` of [`WorkFlags`]; the per-CPU
//! [`WORK_FLAGS`](crate::WORK_FLAGS) pointer names the running thread's word, and the
//! syscall exit tests it with interrupts off, in one instruction, before SYSRET. Any
//! flag sends the return through the one slow path: the kernel's exit-work function,
//! then the checked exit (SYSRET only when that restores exactly the frame).

use core::sync::atomic::{AtomicU32, Ordering};

bitflags::bitflags! {
    /// Work to do before returning to user mode.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct WorkFlags: u32 {
        /// The scheduler wants this CPU: reschedule before returning.
        const NEED_RESCHED = 1 << 0;
        /// A signal is pending for the thread: deliver it (builds a signal frame).
        const SIGNAL_PENDING = 1 << 1;
        /// A tracer wants syscall-entry and syscall-exit stops.
        const SYSCALL_TRACE = 1 << 2;
        /// The kernel wants a callback before user mode (e.g. a test of the slow path).
        const NOTIFY_RESUME = 1 << 3;
        /// Something rewrote the saved registers (sigreturn, ptrace, execve, a signal
        /// frame, the i386 entry): the exit must check them before SYSRET.
        const FRAME_MODIFIED = 1 << 4;
    }
}

/// The flags the syscall exit tests: all of them.
pub const EXIT_WORK_MASK: u32 = WorkFlags::all().bits();

/// One thread's work flags, set from any CPU, tested by the entry code.
///
/// ```
/// use topframe_entry::{ThreadWork, WorkFlags};
///
/// let work = ThreadWork::new();
/// // Another CPU queues a signal and asks for a reschedule ...
/// work.set(WorkFlags::SIGNAL_PENDING | WorkFlags::NEED_RESCHED);
/// // ... and the exit path handles the reschedule first, the signal after it.
/// assert_eq!(work.take(WorkFlags::NEED_RESCHED), WorkFlags::NEED_RESCHED);
/// assert_eq!(work.get(), WorkFlags::SIGNAL_PENDING);
/// assert_eq!(work.take(WorkFlags::NEED_RESCHED), WorkFlags::empty());
/// ```
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct ThreadWork(AtomicU32);

impl ThreadWork {
    /// No work pending.
    pub const fn new() -> ThreadWork {
        ThreadWork(AtomicU32::new(0))
    }

    /// Raise `flags`.
    pub fn set(&self, flags: WorkFlags) {
        self.0.fetch_or(flags.bits(), Ordering::AcqRel);
    }

    /// Clear `flags`, returning which of them were set.
    pub fn take(&self, flags: WorkFlags) -> WorkFlags {
        WorkFlags::from_bits_truncate(self.0.fetch_and(!flags.bits(), Ordering::AcqRel)) & flags
    }

    /// The flags now.
    pub fn get(&self) -> WorkFlags {
        WorkFlags::from_bits_truncate(self.0.load(Ordering::Acquire))
    }

    /// The word the entry code tests.
    pub fn as_ptr(&self) -> *const AtomicU32 {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_take_get() {
        let work = ThreadWork::new();
        assert!(work.get().is_empty());
        work.set(WorkFlags::SIGNAL_PENDING | WorkFlags::NOTIFY_RESUME);
        assert_eq!(
            work.take(WorkFlags::NOTIFY_RESUME | WorkFlags::NEED_RESCHED),
            WorkFlags::NOTIFY_RESUME
        );
        assert_eq!(work.get(), WorkFlags::SIGNAL_PENDING);
        // SAFETY: the pointer is to a live AtomicU32 owned by `work`.
        let raw = unsafe { &*work.as_ptr() }.load(Ordering::Relaxed);
        assert_eq!(raw & EXIT_WORK_MASK, WorkFlags::SIGNAL_PENDING.bits());
    }
}
