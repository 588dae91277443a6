//! Anonymous memory: `mmap`, `mprotect`, `munmap`.

use crate::nr;
use crate::syscall::{syscall2, syscall3, syscall6};

/// The page size.
pub const PAGE_SIZE: u64 = 4096;
/// No access.
pub const PROT_NONE: u64 = 0;
/// Readable.
pub const PROT_READ: u64 = 0x1;
/// Writable.
pub const PROT_WRITE: u64 = 0x2;
/// Executable.
pub const PROT_EXEC: u64 = 0x4;
/// Private (copy-on-write across fork).
pub const MAP_PRIVATE: u64 = 0x02;
/// Not backed by a file: zero-filled.
pub const MAP_ANONYMOUS: u64 = 0x20;
/// Exactly at the address given, failing with EEXIST if something is mapped there.
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

/// `mmap(NULL, length, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)`: the address of
/// the fresh mapping, or `-errno`.
pub fn map_anonymous(length: u64, protection: u64) -> i64 {
    // SAFETY: without MAP_FIXED the kernel picks an unused range: nothing mapped changes.
    unsafe {
        syscall6(
            nr::MMAP,
            0,
            length,
            protection,
            MAP_PRIVATE | MAP_ANONYMOUS,
            u64::MAX,
            0,
        )
    }
}

/// `mprotect(address, length, protection)`: 0 or `-errno`.
///
/// # Safety
/// Nothing accesses the range in a way the new protection forbids.
pub unsafe fn protect(address: u64, length: u64, protection: u64) -> i64 {
    // SAFETY: the caller vouches for the range's users (above).
    unsafe { syscall3(nr::MPROTECT, address, length, protection) }
}

/// `munmap(address, length)`: 0 or `-errno`.
///
/// # Safety
/// Nothing uses the range any more (an access after this faults).
pub unsafe fn unmap(address: u64, length: u64) -> i64 {
    // SAFETY: the caller vouches that the range is unused (above).
    unsafe { syscall2(nr::MUNMAP, address, length) }
}
