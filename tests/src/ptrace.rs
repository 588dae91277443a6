//! ptrace without libc: the requests, `struct user_regs_struct`, the wait-status decoders
//! for stops, and wrappers around the raw system call.
//!
//! The raw call differs from glibc's wrapper for the PEEK requests: the kernel stores the
//! word at `data` and returns 0 (glibc returns the word). [`peek`] hides that.

use core::mem::size_of;

use crate::nr;
use crate::syscall::syscall4;

/// The caller becomes traced by its parent.
pub const PTRACE_TRACEME: u64 = 0;
/// Read a word of the tracee's text.
pub const PTRACE_PEEKTEXT: u64 = 1;
/// Read a word of the tracee's data.
pub const PTRACE_PEEKDATA: u64 = 2;
/// Read a word of the tracee's `struct user` (its registers at [`UserRegs`] offsets).
pub const PTRACE_PEEKUSER: u64 = 3;
/// Write a word of the tracee's text.
pub const PTRACE_POKETEXT: u64 = 4;
/// Write a word of the tracee's data.
pub const PTRACE_POKEDATA: u64 = 5;
/// Write a word of the tracee's `struct user`.
pub const PTRACE_POKEUSER: u64 = 6;
/// Resume the tracee (delivering `data` as a signal, if non-zero).
pub const PTRACE_CONT: u64 = 7;
/// Kill the tracee.
pub const PTRACE_KILL: u64 = 8;
/// Resume the tracee for one instruction.
pub const PTRACE_SINGLESTEP: u64 = 9;
/// Read the tracee's registers ([`UserRegs`]).
pub const PTRACE_GETREGS: u64 = 12;
/// Write the tracee's registers.
pub const PTRACE_SETREGS: u64 = 13;
/// Attach to a process and stop it with SIGSTOP.
pub const PTRACE_ATTACH: u64 = 16;
/// Detach from the tracee, resuming it.
pub const PTRACE_DETACH: u64 = 17;
/// Resume the tracee until the next system-call entry or exit.
pub const PTRACE_SYSCALL: u64 = 24;
/// Set `PTRACE_O_*` options.
pub const PTRACE_SETOPTIONS: u64 = 0x4200;
/// Attach without stopping the tracee.
pub const PTRACE_SEIZE: u64 = 0x4206;

/// Option: syscall stops report SIGTRAP | 0x80.
pub const PTRACE_O_TRACESYSGOOD: u64 = 1;

/// `struct user_regs_struct`: pt_regs order, then the segment bases and selectors.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct UserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// The system call number at a syscall stop (-1 elsewhere).
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

const _: () = assert!(size_of::<UserRegs>() == 27 * 8);

/// The raw `ptrace(request, pid, addr, data)`.
///
/// # Safety
/// For the requests that write this process's memory (GETREGS, PEEK*), `data` is a
/// pointer to a writable buffer of the size the request writes; the others touch only the
/// tracee.
pub unsafe fn ptrace(request: u64, pid: i64, addr: u64, data: u64) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe { syscall4(nr::PTRACE, request, pid as u64, addr, data) }
}

/// A request that touches only the tracee (CONT, SYSCALL, SINGLESTEP, KILL, DETACH, ATTACH,
/// SEIZE, SETOPTIONS, TRACEME, POKE*).
pub fn request(request: u64, pid: i64, addr: u64, data: u64) -> i64 {
    assert!(
        !matches!(
            request,
            PTRACE_PEEKTEXT | PTRACE_PEEKDATA | PTRACE_PEEKUSER | PTRACE_GETREGS
        ),
        "request {request} writes memory here: use peek or get_registers"
    );
    // SAFETY: none of the allowed requests writes memory of this process.
    unsafe { ptrace(request, pid, addr, data) }
}

/// PTRACE_PEEKTEXT, PEEKDATA or PEEKUSER at `addr`: the word, or `-errno` as `Err`.
pub fn peek(request: u64, pid: i64, addr: u64) -> Result<u64, i64> {
    assert!(matches!(
        request,
        PTRACE_PEEKTEXT | PTRACE_PEEKDATA | PTRACE_PEEKUSER
    ));
    let mut word = 0_u64;
    // SAFETY: the kernel writes one word into `word`.
    let result = unsafe { ptrace(request, pid, addr, &raw mut word as u64) };
    if result == 0 { Ok(word) } else { Err(result) }
}

/// PTRACE_GETREGS: the tracee's registers, or `-errno` as `Err`.
pub fn get_registers(pid: i64) -> Result<UserRegs, i64> {
    let mut registers = UserRegs::default();
    // SAFETY: the kernel writes one `user_regs_struct` into `registers`.
    let result = unsafe { ptrace(PTRACE_GETREGS, pid, 0, &raw mut registers as u64) };
    if result == 0 {
        Ok(registers)
    } else {
        Err(result)
    }
}

/// PTRACE_SETREGS: the result.
pub fn set_registers(pid: i64, registers: &UserRegs) -> i64 {
    // SAFETY: the kernel only reads `registers`.
    unsafe { ptrace(PTRACE_SETREGS, pid, 0, registers as *const UserRegs as u64) }
}

/// The signal that stopped a child (`WIFSTOPPED`, `WSTOPSIG`), with the 0x80 bit of a
/// TRACESYSGOOD syscall stop kept; `None` if the status is not a stop.
pub fn stopped_by(status: u32) -> Option<u8> {
    (status & 0xff == 0x7f).then_some((status >> 8) as u8)
}
