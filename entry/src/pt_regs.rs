//! Linux's `struct pt_regs` for x86_64, the one register frame every way into the kernel
//! builds: syscall, exception, interrupt.
//!
//! The layout is Linux's exactly (`arch/x86/include/asm/ptrace.h`), so the first 21
//! words of ptrace's `user_regs_struct` line up with it. The assembly never writes an
//! offset as a literal: it uses the `pub const` offsets below through `const` operands,
//! and `static_assertions` ties each of them to `core::mem::offset_of!`.

use core::mem::{offset_of, size_of};
use static_assertions::const_assert_eq;

/// The saved user (or interrupted kernel) registers, lowest address first.
///
/// The words from `rip` to `ss` are the hardware interrupt frame; `orig_rax` holds the
/// system-call number (all 64 bits of RAX at entry), the error code of an exception that
/// pushes one, or `-1` (no error code / not a syscall).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtRegs {
    /// R15 (callee-saved in the C ABI).
    pub r15: u64,
    /// R14 (callee-saved).
    pub r14: u64,
    /// R13 (callee-saved).
    pub r13: u64,
    /// R12 (callee-saved).
    pub r12: u64,
    /// RBP (callee-saved).
    pub rbp: u64,
    /// RBX (callee-saved).
    pub rbx: u64,
    /// R11; after SYSCALL, the user RFLAGS the CPU copied there.
    pub r11: u64,
    /// R10: the fourth syscall argument (RCX is taken by SYSCALL).
    pub r10: u64,
    /// R9: the sixth syscall argument.
    pub r9: u64,
    /// R8: the fifth syscall argument.
    pub r8: u64,
    /// RAX: the syscall number at entry, the return value at exit.
    pub rax: u64,
    /// RCX; after SYSCALL, the user return address the CPU copied there.
    pub rcx: u64,
    /// RDX: the third syscall argument.
    pub rdx: u64,
    /// RSI: the second syscall argument.
    pub rsi: u64,
    /// RDI: the first syscall argument.
    pub rdi: u64,
    /// The syscall number, an exception's error code, or `-1`.
    pub orig_rax: u64,
    /// User (or interrupted) RIP.
    pub rip: u64,
    /// Code segment selector of the interrupted context.
    pub cs: u64,
    /// RFLAGS of the interrupted context.
    pub eflags: u64,
    /// Stack pointer of the interrupted context.
    pub rsp: u64,
    /// Stack segment selector of the interrupted context.
    pub ss: u64,
}

/// Byte offsets of the [`PtRegs`] fields, for assembly `const` operands.
///
/// ```
/// use core::mem::{offset_of, size_of};
/// use topframe_entry::{PtRegs, offsets};
///
/// // The hardware interrupt frame is the top five words, as on Linux.
/// assert_eq!(offsets::SIZE - offsets::RIP, 5 * 8);
/// assert_eq!(offsets::ORIG_RAX, offset_of!(PtRegs, orig_rax));
/// assert_eq!(offsets::SIZE, size_of::<PtRegs>());
/// ```
pub mod offsets {
    /// Offset of [`super::PtRegs::r15`].
    pub const R15: usize = 0;
    /// Offset of [`super::PtRegs::r14`].
    pub const R14: usize = 8;
    /// Offset of [`super::PtRegs::r13`].
    pub const R13: usize = 16;
    /// Offset of [`super::PtRegs::r12`].
    pub const R12: usize = 24;
    /// Offset of [`super::PtRegs::rbp`].
    pub const RBP: usize = 32;
    /// Offset of [`super::PtRegs::rbx`].
    pub const RBX: usize = 40;
    /// Offset of [`super::PtRegs::r11`].
    pub const R11: usize = 48;
    /// Offset of [`super::PtRegs::r10`].
    pub const R10: usize = 56;
    /// Offset of [`super::PtRegs::r9`].
    pub const R9: usize = 64;
    /// Offset of [`super::PtRegs::r8`].
    pub const R8: usize = 72;
    /// Offset of [`super::PtRegs::rax`].
    pub const RAX: usize = 80;
    /// Offset of [`super::PtRegs::rcx`].
    pub const RCX: usize = 88;
    /// Offset of [`super::PtRegs::rdx`].
    pub const RDX: usize = 96;
    /// Offset of [`super::PtRegs::rsi`].
    pub const RSI: usize = 104;
    /// Offset of [`super::PtRegs::rdi`].
    pub const RDI: usize = 112;
    /// Offset of [`super::PtRegs::orig_rax`].
    pub const ORIG_RAX: usize = 120;
    /// Offset of [`super::PtRegs::rip`].
    pub const RIP: usize = 128;
    /// Offset of [`super::PtRegs::cs`].
    pub const CS: usize = 136;
    /// Offset of [`super::PtRegs::eflags`].
    pub const EFLAGS: usize = 144;
    /// Offset of [`super::PtRegs::rsp`].
    pub const RSP: usize = 152;
    /// Offset of [`super::PtRegs::ss`].
    pub const SS: usize = 160;
    /// Size of the whole frame.
    pub const SIZE: usize = 168;
}

const_assert_eq!(offsets::R15, offset_of!(PtRegs, r15));
const_assert_eq!(offsets::R14, offset_of!(PtRegs, r14));
const_assert_eq!(offsets::R13, offset_of!(PtRegs, r13));
const_assert_eq!(offsets::R12, offset_of!(PtRegs, r12));
const_assert_eq!(offsets::RBP, offset_of!(PtRegs, rbp));
const_assert_eq!(offsets::RBX, offset_of!(PtRegs, rbx));
const_assert_eq!(offsets::R11, offset_of!(PtRegs, r11));
const_assert_eq!(offsets::R10, offset_of!(PtRegs, r10));
const_assert_eq!(offsets::R9, offset_of!(PtRegs, r9));
const_assert_eq!(offsets::R8, offset_of!(PtRegs, r8));
const_assert_eq!(offsets::RAX, offset_of!(PtRegs, rax));
const_assert_eq!(offsets::RCX, offset_of!(PtRegs, rcx));
const_assert_eq!(offsets::RDX, offset_of!(PtRegs, rdx));
const_assert_eq!(offsets::RSI, offset_of!(PtRegs, rsi));
const_assert_eq!(offsets::RDI, offset_of!(PtRegs, rdi));
const_assert_eq!(offsets::ORIG_RAX, offset_of!(PtRegs, orig_rax));
const_assert_eq!(offsets::RIP, offset_of!(PtRegs, rip));
const_assert_eq!(offsets::CS, offset_of!(PtRegs, cs));
const_assert_eq!(offsets::EFLAGS, offset_of!(PtRegs, eflags));
const_assert_eq!(offsets::RSP, offset_of!(PtRegs, rsp));
const_assert_eq!(offsets::SS, offset_of!(PtRegs, ss));
const_assert_eq!(offsets::SIZE, size_of::<PtRegs>());
const_assert_eq!(8, core::mem::align_of::<PtRegs>());

/// Bytes of the frame below the hardware interrupt frame (`rip`..`ss`) and the
/// `orig_rax` slot: the fifteen general registers an entry stub stores itself.
pub const GENERAL_REGISTERS_SIZE: usize = offsets::ORIG_RAX;

impl PtRegs {
    /// True when the frame was saved from user mode (CPL 3 in the saved CS).
    pub const fn from_user_mode(&self) -> bool {
        self.cs & 3 == 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_linux() {
        assert_eq!(size_of::<PtRegs>(), 168);
        // Linux's order, lowest address first (arch/x86/include/asm/ptrace.h).
        let expected = [
            ("r15", offsets::R15),
            ("r14", offsets::R14),
            ("r13", offsets::R13),
            ("r12", offsets::R12),
            ("rbp", offsets::RBP),
            ("rbx", offsets::RBX),
            ("r11", offsets::R11),
            ("r10", offsets::R10),
            ("r9", offsets::R9),
            ("r8", offsets::R8),
            ("rax", offsets::RAX),
            ("rcx", offsets::RCX),
            ("rdx", offsets::RDX),
            ("rsi", offsets::RSI),
            ("rdi", offsets::RDI),
            ("orig_rax", offsets::ORIG_RAX),
            ("rip", offsets::RIP),
            ("cs", offsets::CS),
            ("eflags", offsets::EFLAGS),
            ("rsp", offsets::RSP),
            ("ss", offsets::SS),
        ];
        for (index, (name, offset)) in expected.iter().enumerate() {
            assert_eq!(*offset, index * 8, "{name}");
        }
        assert_eq!(GENERAL_REGISTERS_SIZE, 15 * 8);
    }

    #[test]
    fn user_mode_is_cpl3_in_saved_cs() {
        let user = PtRegs {
            cs: 0x33,
            ..PtRegs::default()
        };
        let kernel = PtRegs {
            cs: 0x10,
            ..PtRegs::default()
        };
        assert!(user.from_user_mode());
        assert!(!kernel.from_user_mode());
    }
}
