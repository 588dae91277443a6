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
//! 1. Set up per-CPU areas with `topframe-percpu` on every CPU, every kernel GS base
//!    negative (the paranoid entry of the IST vectors tells kernel GS by its sign).
//! 2. Supply a syscall table (`static [SyscallHandler; N]`, indexed by syscall number), a
//!    [`SyscallKernel`] impl, and an interrupt handler ([`set_interrupt_handler!`]);
//!    instantiate [`syscall_entry!`].
//! 3. Give each CPU a GDT with Linux's selectors ([`KERNEL_CS`], [`KERNEL_DS`],
//!    [`USER32_CS`], [`USER_DS`], [`USER_CS`] at their values: SYSRET derives user SS and
//!    CS from [`STAR`]). Write the entry's address to IA32_LSTAR, [`STAR`] to IA32_STAR,
//!    and an FMASK that clears IF, TF, DF, AC, NT and IOPL; point the IDT at
//!    [`interrupts::stub_address`]. The stubs start with CLAC: on a CPU without SMAP,
//!    overwrite each of [`smap::smap_instruction_sites`] with [`smap::NOP3`] first (a
//!    linker script must keep the `topframe_smap_sites` section with its
//!    `__start_`/`__stop_` bounds).
//! 4. On every switch to a thread: [`install_thread`] (and TSS.RSP0), and
//!    [`EntryStrategy::switch_user_state`].
//! 5. A new thread's first return to user mode: write its initial [`PtRegs`] (user CS and
//!    SS, RIP, RSP, RFLAGS) at [`frame_address_for`]`(kernel_stack_top)` and call
//!    [`enter_user_mode`] on it. Every later return goes out the way it came in.
//!
//! `examples/minimal-kernel` in the repository is a small kernel that does exactly this,
//! step by step, on every CPU.
//!
//! # Adding a strategy
//! The entry assembly has two shapes, chosen by [`EntryStrategy::LAZY`]: `false` writes
//! the whole frame and returns with the frame's RSP; `true` leaves CS, SS, RFLAGS and RSP
//! of the frame unwritten, keeps user RSP in [`OLD_RSP`] and returns with it. A third
//! strategy picks a shape and implements the four hooks so that, whatever it does, every
//! slow path sees the complete frame and the exit returns to the stack the slow path left
//! in it (the user-visible ABI is the same under every strategy: all registers but RAX,
//! RCX and R11 preserved, RCX = RIP and R11 = RFLAGS after SYSCALL). The crate
//! `topframe-entry-contract` (in the repository, beside this one) checks those rules on
//! the host for any strategy: `topframe_entry_contract::check::<MyStrategy>()`.
//!
//! # Feature flags
//! - `lazy-top-of-stack`: [`Selected`] is [`LazyTopOfStack`]; without it,
//!   [`CompleteFrame`].
#![no_std]
#![warn(missing_docs)]

mod entry_block;
// Documented on every target, built only for the kernel target.
#[cfg(any(target_os = "none", doc))]
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
pub use return_to_user::{__topframe_entry_iret_to_user, enter_user_mode, iretq_to_user_address};
pub use selectors::{KERNEL_CS, KERNEL_DS, KERNEL32_CS, STAR, USER_CS, USER_DS, USER32_CS};
pub use strategy::{CompleteFrame, EntryStrategy, LazyTopOfStack, Selected, UserEntryState};
pub use syscall::{CALL_ALIGNMENT_PAD, SyscallHandler, SyscallKernel};
pub use work::{EXIT_WORK_MASK, ThreadWork, WorkFlags};
