//! The one IRETQ to user mode. Every return to user mode that does not use SYSRET
//! (interrupts, exceptions, syscalls whose frame SYSRET cannot restore) goes through
//! [`__topframe_entry_iret_to_user`], so a fault on that IRETQ (a non-canonical RIP, a
//! bad selector: #GP, #SS, #NP raised in ring 0 with the user's GS loaded) happens at one
//! known instruction, which the interrupt entry recognises ([`IRETQ_TO_USER`]).

use crate::pt_regs::{PtRegs, offsets};

unsafe extern "C" {
    /// Jump here with RSP = the `PtRegs` of a return to user mode, interrupts off and the
    /// kernel's GS loaded: restores the 15 general registers, SWAPGS, IRETQ.
    pub fn __topframe_entry_iret_to_user();
    /// The IRETQ instruction of [`__topframe_entry_iret_to_user`].
    pub static __topframe_entry_iret_to_user_iretq: u8;
}

/// Leave the kernel for user mode with the registers of `frame`, through the one IRETQ
/// path: how a new thread runs user code for the first time, when there is no entry to
/// return through. RSP becomes `frame`; the 15 general registers come from it, then SWAPGS
/// and IRETQ take RIP, CS, RFLAGS, RSP and SS from it.
///
/// # Safety
/// Interrupts are off and the kernel's GS base is loaded. `frame` is a user-mode frame
/// (user CS and SS, a canonical RIP; RFLAGS.IF set for a thread that takes interrupts) of
/// the thread installed on this CPU ([`install_thread`](crate::install_thread) and
/// TSS.RSP0), lying where that thread's entries build their frames,
/// [`frame_address_for`](crate::frame_address_for)`(kernel_stack_top)`, or in other memory
/// that stays valid until the IRETQ. Nothing on the current stack is used again.
///
/// ```ignore
/// // A new thread's first instructions in the kernel (its first context switch lands here):
/// let frame = topframe_entry::frame_address_for(kernel_stack_top) as *const PtRegs;
/// // SAFETY: interrupts are off, the thread is installed, its initial frame is at `frame`.
/// unsafe { topframe_entry::enter_user_mode(frame) }
/// ```
#[unsafe(naked)]
pub unsafe extern "C" fn enter_user_mode(frame: *const PtRegs) -> ! {
    core::arch::naked_asm!(
        "mov rsp, rdi",                     // the frame becomes the stack
        "jmp {iret_to_user}",               // its registers, SWAPGS, IRETQ
        iret_to_user = sym __topframe_entry_iret_to_user,
    )
}

/// Address of the IRETQ to user mode: a kernel-mode fault with this RIP is a fault on
/// returning to user mode, with the user's GS live.
pub fn iretq_to_user_address() -> u64 {
    &raw const __topframe_entry_iret_to_user_iretq as u64
}

core::arch::global_asm!(
    ".pushsection .text.topframe_entry, \"ax\"",
    ".global __topframe_entry_iret_to_user",
    ".global __topframe_entry_iret_to_user_iretq",
    "__topframe_entry_iret_to_user:",
    "pop r15",                              // the 15 general registers, PtRegs order
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rax",
    "pop rcx",
    "pop rdx",
    "pop rsi",
    "pop rdi",
    "add rsp, {orig_rax_size}",             // drop orig_rax: RSP at the hardware frame
    "swapgs",                               // the user's GS base
    "__topframe_entry_iret_to_user_iretq:",
    "iretq",                                // RIP, CS, RFLAGS, RSP, SS from the frame
    ".popsection",
    orig_rax_size = const offsets::RIP - offsets::ORIG_RAX,
);
