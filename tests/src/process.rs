//! Processes without libc: [`fork`] (a raw `clone(SIGCHLD)`), [`wait4`] and the wait
//! status decoders.

use crate::nr;
use crate::syscall::{syscall4, syscall6};

/// The signal a child sends its parent when it ends (the low byte of `clone`'s flags).
pub const SIGCHLD: u64 = 17;
/// `wait4` option: return 0 at once if no child has ended (yet).
pub const WNOHANG: u64 = 1;

/// `clone(SIGCHLD, 0, NULL, NULL, 0)`, which is what `fork` does: the child gets a copy of
/// the address space and continues on its copy of the stack. 0 in the child, the child's
/// PID in the parent, or `-errno`.
///
/// The child is a copy of the calling thread only. Like libc's `fork`, this returns twice;
/// the two returns are in different address spaces with the same contents and registers
/// (but RAX), so each continues as if the call had returned once.
pub fn fork() -> i64 {
    // SAFETY: a child with a private copy of memory cannot disturb this process; in the
    // child, the call returns with the registers and memory as they were here.
    unsafe { syscall6(nr::CLONE, SIGCHLD, 0, 0, 0, 0, 0) }
}

/// `wait4(pid, &status, options, NULL)`: (result, status). The result is the PID of the
/// child whose status it is, 0 (WNOHANG and no child ended), or `-errno`; the status is
/// valid only for a PID result (0 otherwise).
pub fn wait4(pid: i64, options: u64) -> (i64, u32) {
    let mut status = 0_u32;
    // SAFETY: wait4 writes the 4-byte status, a local; no rusage.
    let result = unsafe { syscall4(nr::WAIT4, pid as u64, &raw mut status as u64, options, 0) };
    (result, status)
}

/// The exit status of a child that ended with `exit` / `exit_group` (`WIFEXITED`,
/// `WEXITSTATUS`); `None` if it did not.
pub fn exit_status(status: u32) -> Option<u8> {
    (status & 0x7f == 0).then_some((status >> 8) as u8)
}

/// The signal that killed a child (`WIFSIGNALED`, `WTERMSIG`); `None` if none did. The
/// core-dump bit (0x80, `WCOREDUMP`) is ignored.
pub fn killed_by(status: u32) -> Option<u8> {
    let signal = (status & 0x7f) as u8;
    (signal != 0 && signal != 0x7f).then_some(signal)
}
