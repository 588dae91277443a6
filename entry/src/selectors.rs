//! Linux's x86_64 segment selectors (`arch/x86/include/asm/segment.h`). SYSCALL and
//! SYSRET derive theirs from IA32_STAR, which fixes the order: kernel CS, then kernel
//! SS = CS + 8; user32 CS, then user SS = user32 CS + 8, user CS = user32 CS + 16.

/// 32-bit kernel code (`__KERNEL32_CS`).
pub const KERNEL32_CS: u64 = 0x08;
/// 64-bit kernel code (`__KERNEL_CS`).
pub const KERNEL_CS: u64 = 0x10;
/// Kernel data and stack (`__KERNEL_DS`).
pub const KERNEL_DS: u64 = 0x18;
/// 32-bit user code (`__USER32_CS`), the base SYSRET counts from.
pub const USER32_CS: u64 = 0x23;
/// User data and stack (`__USER_DS`).
pub const USER_DS: u64 = 0x2b;
/// 64-bit user code (`__USER_CS`).
pub const USER_CS: u64 = 0x33;

/// IA32_STAR's selector fields: SYSCALL's CS in bits 47..32, SYSRET's base in 63..48.
pub const STAR: u64 = (USER32_CS << 48) | (KERNEL_CS << 32);

const _: () = assert!(KERNEL_DS == KERNEL_CS + 8);
const _: () = assert!(USER_DS == USER32_CS + 8 && USER_CS == USER32_CS + 16);
