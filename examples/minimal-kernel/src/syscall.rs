//! The system calls: a two-entry table behind topframe-entry's SYSCALL entry, which
//! dispatches on the number in RAX and answers -ENOSYS itself for any number at or above
//! the table's length.
//!
//! This kernel's own ABI (arguments in Linux's registers, RDI RSI RDX R10 R8 R9):
//!
//! | RAX | call |
//! |---|---|
//! | 0 ([`SYS_EXIT`]) | `exit(status)`: the task ends |
//! | 1 ([`SYS_WRITE`]) | `write(fd, buffer, length)`: fd 1 or 2 to the console (Linux's number and arguments) |

use crate::user;
use topframe_entry::{PtRegs, SyscallHandler, SyscallKernel};

pub const SYS_EXIT: u64 = 0;
pub const SYS_WRITE: u64 = 1;
/// The table's length, which the entry compares the number with.
pub const TABLE_LEN: usize = 2;

const EBADF: i64 = 9;
const EFAULT: i64 = 14;

/// Indexed by system-call number.
static SYSCALL_TABLE: [SyscallHandler; TABLE_LEN] = [sys_exit, sys_write];

/// What the entry asks of this kernel. It never raises a work flag (no signals, tracing
/// or preemption), so the exit work has nothing to do; the slow exit still runs when the
/// user set TF or RF, and returns through IRETQ.
pub enum Kernel {}

impl SyscallKernel for Kernel {
    fn exit_work(_regs: &mut PtRegs) {}
}

topframe_entry::syscall_entry! {
    /// The SYSCALL entry point (IA32_LSTAR), for the strategy the cargo feature
    /// `lazy-top-of-stack` selects.
    pub unsafe fn syscall_entry;
    strategy: topframe_entry::Selected,
    kernel: Kernel,
    table: SYSCALL_TABLE,
    privileged: true,
}

/// `exit(status)`: as on Linux, the status is its low 8 bits.
extern "C" fn sys_exit(status: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> i64 {
    // SAFETY: a system call runs on the calling task's kernel stack.
    unsafe { crate::task::exit_current(i64::from(status as u8)) }
}

/// `write(fd, buffer, length)`: the bytes to the console; -EBADF for another fd, -EFAULT
/// for a buffer outside user memory.
extern "C" fn sys_write(fd: u64, buffer: u64, length: u64, _: u64, _: u64, _: u64) -> i64 {
    if fd != 1 && fd != 2 {
        return -EBADF;
    }
    if !user::contains(buffer, length) {
        return -EFAULT;
    }
    // SAFETY: the range is user memory (checked), mapped on every CPU.
    unsafe { crate::console::write_user_bytes(buffer, length) };
    length as i64 // at most USER_SIZE: fits
}
