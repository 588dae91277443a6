//! `int $0x80` from 64-bit code: Linux's i386 numbers and argument registers (EBX, ECX,
//! EDX, ESI, EDI, EBP), arguments truncated to 32 bits, the result in RAX; every other
//! register is preserved (the frame is restored in full by IRETQ).

use super::errno::ENOSYS;
use super::{console, process};
use topframe_entry::PtRegs;

/// The vector.
pub const VECTOR: u8 = 0x80;

/// Handle `int $0x80` with its frame.
pub fn int80(regs: &mut PtRegs) {
    let argument = |value: u64| u64::from(value as u32);
    regs.orig_rax = regs.rax;
    let result = match regs.rax as u32 {
        1 => process::exit(argument(regs.rbx)),
        4 => console::write(argument(regs.rbx), argument(regs.rcx), argument(regs.rdx)),
        20 => process::getpid(),
        64 => process::getppid(),
        224 => process::gettid(),
        252 => process::exit_group(argument(regs.rbx)),
        _ => -ENOSYS,
    };
    // The return is through IRETQ (the IDT path), which restores the frame as it is.
    regs.rax = result as u64;
}
