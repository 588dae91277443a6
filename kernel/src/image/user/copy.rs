//! Copying between kernel and user memory. The only way the kernel touches user memory:
//! the range is checked to lie in user space, SMAP is opened (STAC) only around the copy,
//! and a fault inside the copy is caught through the exception table and becomes a short
//! count, never a kernel fault. As on Linux: -EFAULT when nothing could be copied, a short
//! count when the range runs into an unmapped page after some bytes.

use topframe_kernel::layout::is_user_range;

/// Nothing of the user range could be copied (or it is not a user range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// One exception-table entry: a faulting instruction and where to continue.
#[repr(C)]
struct ExceptionTableEntry {
    fault: u64,
    fixup: u64,
}

unsafe extern "C" {
    static __start_topframe_extable: ExceptionTableEntry;
    static __stop_topframe_extable: ExceptionTableEntry;
    /// Copy `count` bytes from `source` to `destination`, either of them user memory;
    /// returns the number of bytes NOT copied (0 on success).
    fn topframe_copy_user(destination: *mut u8, source: *const u8, count: usize) -> usize;
}

// rep movsq for the whole quadwords, rep movsb for the rest, with their fault fixups.
// Under icount every REP iteration counts as one instruction, so quadwords make a copy
// eight times cheaper there (README, "The REP-string convention"); Linux without ERMS
// copies eight bytes per step too. A fault in the quadword copy continues byte by byte
// from the quadword that faulted, so that the copy still stops exactly at the first
// inaccessible byte; RCX then counts the bytes not copied.
core::arch::global_asm!(
    ".pushsection .text.topframe_copy_user, \"ax\"",
    ".global topframe_copy_user",
    "topframe_copy_user:",
    "2: stac", // open SMAP: user pages accessible
    ".pushsection topframe_smap_sites, \"a\"",
    ".quad 2b",
    ".popsection",
    "mov rcx, rdx", // RCX = count...
    "shr rcx, 3",   // ...in whole quadwords
    "and edx, 7",   // EDX = the bytes after them
    "3: rep movsq", // copy the quadwords (RDI <- RSI, RCX times)
    "mov ecx, edx", // RCX = the bytes left
    "5: rep movsb", // copy them byte by byte
    "4: clac",      // close SMAP again (also a fault's landing)
    ".pushsection topframe_smap_sites, \"a\"",
    ".quad 4b",
    ".popsection",
    "mov rax, rcx", // bytes left: 0 unless the copy faulted
    "ret",
    "6: lea rcx, [rdx + rcx * 8]", // the quadword copy faulted: RCX = every byte left...
    "jmp 5b",                      // ...copied byte by byte up to the fault
    ".pushsection topframe_extable, \"a\"",
    ".quad 3b, 6b", // a fault in rep movsq continues byte by byte
    ".quad 5b, 4b", // a fault in rep movsb continues at the clac
    ".popsection",
    ".popsection",
);

/// Where to continue after a kernel-mode fault at `rip`, if it is a user-copy instruction.
pub fn fixup_for(rip: u64) -> Option<u64> {
    let start = &raw const __start_topframe_extable;
    let stop = &raw const __stop_topframe_extable;
    // SAFETY: the linker brackets the section, which holds only (fault, fixup) pairs
    // written by `.quad` directives.
    let table = unsafe { core::slice::from_raw_parts(start, stop.offset_from(start) as usize) };
    table
        .iter()
        .find(|entry| entry.fault == rip)
        .map(|entry| entry.fixup)
}

/// Copy as much of user `[source, source + out.len())` as is readable into `out`;
/// returns the number of bytes copied.
pub fn copy_from_user_partial(out: &mut [u8], source: u64) -> usize {
    if !is_user_range(source, out.len() as u64) {
        return 0;
    }
    // SAFETY: the source range is in user space (a fault there is caught), the
    // destination is a kernel buffer of the right length.
    let left = unsafe { topframe_copy_user(out.as_mut_ptr(), source as *const u8, out.len()) };
    out.len() - left
}

/// Copy user `[source, source + out.len())` into `out`, all or nothing.
pub fn copy_from_user(out: &mut [u8], source: u64) -> Result<(), Fault> {
    if copy_from_user_partial(out, source) == out.len() {
        Ok(())
    } else {
        Err(Fault)
    }
}

/// Copy `data` to user memory at `destination`; returns the number of bytes copied.
pub fn copy_to_user_partial(destination: u64, data: &[u8]) -> usize {
    if !is_user_range(destination, data.len() as u64) {
        return 0;
    }
    // SAFETY: the destination range is in user space (a fault there is caught), the
    // source is a kernel buffer of the right length.
    let left = unsafe { topframe_copy_user(destination as *mut u8, data.as_ptr(), data.len()) };
    data.len() - left
}

/// Copy `data` to user memory at `destination`, all or nothing.
pub fn copy_to_user(destination: u64, data: &[u8]) -> Result<(), Fault> {
    if copy_to_user_partial(destination, data) == data.len() {
        Ok(())
    } else {
        Err(Fault)
    }
}

/// Read a plain-old-data value from user memory.
pub fn read_user<T: Copy + Default>(source: u64) -> Result<T, Fault> {
    let mut value = T::default();
    // SAFETY: T is Copy (no drop glue, any bit pattern the caller accepts: callers use
    // integer-only structs); the slice covers exactly `value`.
    let bytes =
        unsafe { core::slice::from_raw_parts_mut((&raw mut value).cast::<u8>(), size_of::<T>()) };
    copy_from_user(bytes, source)?;
    Ok(value)
}

/// Write a plain-old-data value to user memory.
pub fn write_user<T: Copy>(destination: u64, value: &T) -> Result<(), Fault> {
    // SAFETY: reading the bytes of a Copy value; callers use integer-only structs
    // without padding.
    let bytes =
        unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) };
    copy_to_user(destination, bytes)
}
