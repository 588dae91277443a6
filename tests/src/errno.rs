//! Linux error numbers (`<asm-generic/errno-base.h>`, `<asm-generic/errno.h>`). A failed
//! syscall returns `-errno` in RAX.

/// Operation not permitted.
pub const EPERM: i64 = 1;
/// No such process.
pub const ESRCH: i64 = 3;
/// Interrupted system call.
pub const EINTR: i64 = 4;
/// I/O error: also ptrace's answer for inaccessible memory and bad `struct user` offsets.
pub const EIO: i64 = 5;
/// No child processes.
pub const ECHILD: i64 = 10;
/// Try again (`EWOULDBLOCK`): e.g. a futex word that does not hold the expected value.
pub const EAGAIN: i64 = 11;
/// Out of memory (also: an alternate signal stack below MINSIGSTKSZ).
pub const ENOMEM: i64 = 12;
/// Bad address.
pub const EFAULT: i64 = 14;
/// Device or resource busy.
pub const EBUSY: i64 = 16;
/// File exists: also a MAP_FIXED_NOREPLACE range in use.
pub const EEXIST: i64 = 17;
/// Invalid argument.
pub const EINVAL: i64 = 22;
/// Function not implemented.
pub const ENOSYS: i64 = 38;
/// Connection timed out: also a futex wait whose timeout expired.
pub const ETIMEDOUT: i64 = 110;
/// The largest error number a syscall returns: -4095..=-1 are errors.
pub const MAX_ERRNO: i64 = 4095;
