//! Linux error numbers (`<asm-generic/errno-base.h>`, `<asm-generic/errno.h>`). A failed
//! syscall returns `-errno` in RAX.

/// Operation not permitted.
pub const EPERM: i64 = 1;
/// Bad address.
pub const EFAULT: i64 = 14;
/// Function not implemented.
pub const ENOSYS: i64 = 38;
/// The largest error number a syscall returns: -4095..=-1 are errors.
pub const MAX_ERRNO: i64 = 4095;
