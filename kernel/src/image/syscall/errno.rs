//! The errno values the syscalls return (negated), `<asm-generic/errno-base.h>`.

pub const EPERM: i64 = 1;
pub const ESRCH: i64 = 3;
pub const EINTR: i64 = 4;
pub const EIO: i64 = 5;
pub const EBADF: i64 = 9;
pub const ECHILD: i64 = 10;
pub const EAGAIN: i64 = 11;
pub const ENOMEM: i64 = 12;
pub const EFAULT: i64 = 14;
pub const EEXIST: i64 = 17;
pub const EINVAL: i64 = 22;
pub const ENOTTY: i64 = 25;
pub const ENOSYS: i64 = 38;
pub const ETIMEDOUT: i64 = 110;
