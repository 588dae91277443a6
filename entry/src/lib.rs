//! x86_64 kernel entry: the register frame every way into the kernel builds, and the
//! SYSCALL entry in two strategies.
//!
//! - [`PtRegs`] is Linux's `struct pt_regs`, byte for byte; [`offsets`] gives the byte
//!   offset of every field to assembly `const` operands, checked at compile time.
//! - [`syscall_entry!`] generates the SYSCALL path for an [`EntryStrategy`]:
//!   [`LazyTopOfStack`] (Linux <= 4.0) or [`CompleteFrame`] (Linux >= 4.1); [`Selected`]
//!   follows the cargo feature `lazy-top-of-stack`.
//! - [`interrupts`] has the 256 IDT stubs (kernel target only).
//! - The per-CPU entry block ([`OLD_RSP`], [`KERNEL_STACK_TOP`], [`WORK_FLAGS`]) lives in
//!   `topframe-percpu` variables, so the assembly needs nothing from other crates.
//!
//! # Using it in another kernel
//! 1. Set up per-CPU areas with `topframe-percpu` on every CPU.
//! 2. Supply a syscall table (`static [SyscallHandler; N]`), a [`SyscallKernel`] impl, and
//!    an interrupt handler ([`set_interrupt_handler!`]); instantiate [`syscall_entry!`].
//! 3. Write the entry's address to IA32_LSTAR, [`STAR`] to IA32_STAR, and an FMASK that
//!    clears IF, TF, DF, AC, NT and IOPL; point the IDT at [`interrupts::stub_address`].
//! 4. On every switch to a thread: [`install_thread`] (and TSS.RSP0), and
//!    [`EntryStrategy::switch_user_state`].
#![no_std]

mod entry_block;
#[cfg(target_os = "none")]
pub mod interrupts;
mod pt_regs;
mod return_to_user;
mod selectors;
pub mod smap;
mod strategy;
pub mod syscall;
mod work;

pub use entry_block::{
    DISPATCH_LIMIT, KERNEL_STACK_TOP, OLD_RSP, WORK_FLAGS, current_frame_address, current_work,
    frame_address_for, install_thread, set_dispatch_limit,
};
pub use pt_regs::{GENERAL_REGISTERS_SIZE, PtRegs, offsets};
pub use return_to_user::{__topframe_entry_iret_to_user, iretq_to_user_address};
pub use selectors::{KERNEL_CS, KERNEL_DS, KERNEL32_CS, STAR, USER_CS, USER_DS, USER32_CS};
pub use strategy::{CompleteFrame, EntryStrategy, LazyTopOfStack, Selected, UserEntryState};
pub use syscall::{CALL_ALIGNMENT_PAD, SyscallHandler, SyscallKernel};
pub use work::{EXIT_WORK_MASK, ThreadWork, WorkFlags};
