//! The per-CPU entry block: what the entry assembly needs before it has a stack, each
//! reached with one `gs:`-relative instruction. The kernel keeps it current on every
//! context switch ([`install_thread`]).

use crate::work::ThreadWork;
use core::sync::atomic::AtomicU32;

topframe_percpu::per_cpu! {
    /// The user RSP at SYSCALL entry (Linux's `old_rsp`, later `rsp_scratch`). Under
    /// [`LazyTopOfStack`](crate::LazyTopOfStack) it is the only copy during a fast-path
    /// syscall, carried across context switches by the strategy's hook.
    pub static OLD_RSP: u64 = 0;
    /// Top of the running thread's kernel stack: where a syscall frame is built (the
    /// same value as TSS.RSP0, which the CPU uses for interrupts from user mode).
    pub static KERNEL_STACK_TOP: u64 = 0;
    /// The running thread's work flags, tested before every return to user mode.
    pub static WORK_FLAGS: *const AtomicU32 = core::ptr::null();
    /// Syscall numbers below this are dispatched by the fast path; any other number takes
    /// the entry's slow dispatch, which for a number the table has runs the kernel's
    /// [`SyscallKernel::entry_work`](crate::SyscallKernel::entry_work) first. The table's
    /// length for a thread without syscall-entry work, 0 for one with it (a tracer's
    /// syscall stops): so the check costs the fast path nothing it did not already do.
    pub static DISPATCH_LIMIT: u32 = 0;
}

/// Make the entry code use `kernel_stack_top`, `work` and `dispatch_limit` (see
/// [`DISPATCH_LIMIT`]) for the thread about to run on this CPU (part of a context switch;
/// also set TSS.RSP0 to the same stack top).
///
/// # Safety
/// `work` must outlive the thread's time on this CPU, `kernel_stack_top` must be the
/// top of a mapped kernel stack that nothing else uses, and `dispatch_limit` must not
/// exceed the length of the syscall table (the fast path indexes it below the limit).
pub unsafe fn install_thread(kernel_stack_top: u64, work: &ThreadWork, dispatch_limit: u32) {
    KERNEL_STACK_TOP.write(kernel_stack_top);
    WORK_FLAGS.write(work.as_ptr());
    DISPATCH_LIMIT.write(dispatch_limit);
}

/// Change the running thread's [`DISPATCH_LIMIT`] (it gained or lost syscall-entry work).
///
/// # Safety
/// As for [`install_thread`]: `dispatch_limit` must not exceed the syscall table's length.
pub unsafe fn set_dispatch_limit(dispatch_limit: u32) {
    DISPATCH_LIMIT.write(dispatch_limit);
}

/// The running thread's work flags (those [`install_thread`] installed).
///
/// # Panics
/// Before any [`install_thread`] on this CPU.
pub fn current_work() -> &'static ThreadWork {
    let word = WORK_FLAGS.read();
    assert!(!word.is_null(), "no thread installed on this CPU");
    // SAFETY: `install_thread`'s contract keeps the word alive while its thread runs here,
    // and ThreadWork is a transparent wrapper of that AtomicU32.
    unsafe { &*word.cast::<ThreadWork>() }
}

/// The frame a syscall or interrupt from user mode built for the running thread: it is
/// always the topmost [`PtRegs`](crate::PtRegs) on the thread's kernel stack.
pub fn current_frame_address() -> u64 {
    frame_address_for(KERNEL_STACK_TOP.read())
}

/// Where the user-mode frame of a thread whose kernel stack tops out at
/// `kernel_stack_top` lies: where a new thread's first return to user mode must find it.
pub const fn frame_address_for(kernel_stack_top: u64) -> u64 {
    kernel_stack_top - crate::offsets::SIZE as u64
}
