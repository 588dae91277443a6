//! x86_64 kernel entry: the register frame every way into the kernel builds.
//!
//! [`PtRegs`] is Linux's `struct pt_regs`, byte for byte; [`offsets`] gives the byte
//! offset of every field to assembly `const` operands, checked at compile time.
#![no_std]

mod pt_regs;

pub use pt_regs::{GENERAL_REGISTERS_SIZE, PtRegs, offsets};

#[cfg(target_os = "none")]
pub mod interrupts;
