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
}

/// Make the entry code use `kernel_stack_top` and `work` for the thread about to run on
/// this CPU (part of a context switch; also set TSS.RSP0 to the same stack top).
///
/// # Safety
/// `work` must outlive the thread's time on this CPU, and `kernel_stack_top` must be the
/// top of a mapped kernel stack that nothing else uses.
pub unsafe fn install_thread(kernel_stack_top: u64, work: &ThreadWork) {
    KERNEL_STACK_TOP.write(kernel_stack_top);
    WORK_FLAGS.write(work.as_ptr());
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
