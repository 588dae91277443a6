//! `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` and `strlen`, which the compiler and
//! `core` call and which libc would give. `compiler_builtins` exports them only on targets
//! without a libc, and these programs link none.
//!
//! Each is a string instruction (`rep movsb`, `rep stosb`, `repe cmpsb`, `repne scasb`):
//! short, fast enough here, and never turned by the optimiser into a call to itself, as a
//! byte loop may be.

use core::arch::asm;

/// Copies `count` bytes from `source` to `destination` (no overlap); returns `destination`.
///
/// # Safety
/// Both ranges are valid for `count` bytes and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(destination: *mut u8, source: *const u8, count: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges; DF is clear (Rust ABI), so the copy runs
    // forwards.
    unsafe {
        asm!(
            "rep movsb", // copy RCX bytes from [RSI] to [RDI], ascending
            inout("rcx") count => _,
            inout("rdi") destination => _,
            inout("rsi") source => _,
            options(nostack, preserves_flags),
        );
    }
    destination
}

/// Copies `count` bytes from `source` to `destination`; the ranges may overlap.
///
/// # Safety
/// Both ranges are valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(destination: *mut u8, source: *const u8, count: usize) -> *mut u8 {
    if (destination as usize).wrapping_sub(source as usize) >= count {
        // The destination starts before the source or after its end: copying forwards
        // reads every source byte before overwriting it.
        // SAFETY: the caller guarantees both ranges; the order is safe (above).
        return unsafe { memcpy(destination, source, count) };
    }
    // SAFETY: the caller guarantees both ranges; copying backwards from the last byte
    // reads every source byte before overwriting it when the destination starts inside
    // the source.
    unsafe {
        asm!(
            "std",       // DF = 1: string instructions run descending
            "rep movsb", // copy RCX bytes from [RSI] to [RDI], RSI and RDI descending
            "cld",       // DF = 0 again, as the Rust ABI requires
            inout("rcx") count => _,
            inout("rdi") destination.add(count - 1) => _,
            inout("rsi") source.add(count - 1) => _,
            options(nostack),
        );
    }
    destination
}

/// Sets `count` bytes at `destination` to `value` (its low byte); returns `destination`.
///
/// # Safety
/// The range is valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(destination: *mut u8, value: i32, count: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range; DF is clear (Rust ABI).
    unsafe {
        asm!(
            "rep stosb", // store AL into RCX bytes from [RDI], ascending
            inout("rcx") count => _,
            inout("rdi") destination => _,
            in("al") value as u8,
            options(nostack, preserves_flags),
        );
    }
    destination
}

/// Compares `count` bytes: 0 if equal, else the difference of the first differing bytes
/// (as unsigned).
///
/// # Safety
/// Both ranges are valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(left: *const u8, right: *const u8, count: usize) -> i32 {
    let equal: u8;
    let left_end: *const u8;
    let right_end: *const u8;
    // SAFETY: the caller guarantees both ranges; DF is clear (Rust ABI), so the scan runs
    // forwards.
    unsafe {
        asm!(
            "test rcx, rcx", // ZF = 1 if there is nothing to compare (count 0: equal)
            "repe cmpsb",    // compare [RSI] with [RDI], ascending, while equal and RCX > 0
            "sete {equal}",  // equal = ZF: no byte differed
            equal = out(reg_byte) equal,
            inout("rcx") count => _,
            inout("rsi") left => left_end,
            inout("rdi") right => right_end,
            options(nostack, readonly),
        );
    }
    if equal != 0 {
        return 0;
    }
    // SAFETY: cmpsb stopped one past the first differing bytes, inside both ranges.
    let (left_byte, right_byte) = unsafe { (left_end.sub(1).read(), right_end.sub(1).read()) };
    i32::from(left_byte) - i32::from(right_byte)
}

/// Compares `count` bytes: 0 if equal, nonzero otherwise.
///
/// # Safety
/// Both ranges are valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(left: *const u8, right: *const u8, count: usize) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { memcmp(left, right, count) }
}

/// The length of the NUL-terminated string at `string`.
///
/// # Safety
/// `string` points at a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(string: *const u8) -> usize {
    let remaining: usize;
    // SAFETY: the caller guarantees the terminating NUL, where the scan stops; DF is clear
    // (Rust ABI), so it runs forwards.
    unsafe {
        asm!(
            "repne scasb", // scan [RDI] ascending until it equals AL (0); RCX counts down
            inout("rcx") usize::MAX => remaining,
            inout("rdi") string => _,
            in("al") 0_u8,
            options(nostack, readonly),
        );
    }
    // RCX went down once per byte, the NUL included: length = !RCX - 1.
    !remaining - 1
}
