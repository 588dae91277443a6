//! The initial process stack (System V x86_64 ABI, section 3.4.1), as the kernel lays it
//! out at RSP on entry:
//!
//! ```text
//! RSP -> argc
//!        argv[0] .. argv[argc - 1], NULL
//!        envp[0] .. envp[n - 1], NULL
//!        auxv: (type, value) pairs, ended by (AT_NULL, _)
//!        ... the strings, AT_RANDOM's bytes, ...
//! ```

use core::ffi::{CStr, c_char};
use core::slice;

/// Auxiliary vector entry types (`<linux/auxvec.h>`, `<asm/auxvec.h>`).
pub mod auxv_type {
    /// Ends the vector.
    pub const AT_NULL: u64 = 0;
    /// Address of the program headers.
    pub const AT_PHDR: u64 = 3;
    /// Number of program headers.
    pub const AT_PHNUM: u64 = 5;
    /// Page size.
    pub const AT_PAGESZ: u64 = 6;
    /// The program's entry point.
    pub const AT_ENTRY: u64 = 9;
    /// CPUID feature bits (leaf 1 EDX on x86).
    pub const AT_HWCAP: u64 = 16;
    /// Whether the program runs with elevated privileges (setuid and the like).
    pub const AT_SECURE: u64 = 23;
    /// Address of 16 random bytes.
    pub const AT_RANDOM: u64 = 25;
    /// More feature bits (x86: ring-3 MONITOR/MWAIT, FSGSBASE).
    pub const AT_HWCAP2: u64 = 26;
    /// The minimal signal stack size the kernel needs for this CPU's state.
    pub const AT_MINSIGSTKSZ: u64 = 51;
}

/// The initial stack of this process: argc, argv, envp and auxv.
pub struct InitialStack {
    entry_stack_pointer: *const u64,
}

impl InitialStack {
    /// # Safety
    /// `entry_stack_pointer` is RSP as the kernel set it at process entry, and the memory
    /// above it stays untouched for the process's lifetime.
    pub(crate) unsafe fn from_entry_stack_pointer(entry_stack_pointer: *const u64) -> Self {
        Self {
            entry_stack_pointer,
        }
    }

    /// RSP at process entry.
    pub fn entry_stack_pointer(&self) -> u64 {
        self.entry_stack_pointer as u64
    }

    /// The argument count.
    pub fn argc(&self) -> usize {
        // SAFETY: the entry stack pointer points at argc (type invariant).
        unsafe { self.entry_stack_pointer.read() as usize }
    }

    /// The `argc + 1` argv slots: the arguments, then the slot the ABI says is null.
    pub fn argv(&self) -> &'static [*const c_char] {
        // SAFETY: argc + 1 pointer slots follow argc, and stay untouched (type invariant).
        unsafe { slice::from_raw_parts(self.argv_start(), self.argc() + 1) }
    }

    /// The arguments, up to the first null pointer.
    pub fn args(&self) -> impl Iterator<Item = &'static CStr> {
        strings(&self.argv()[..self.argc()])
    }

    /// The environment pointers, up to (not including) the first null pointer.
    pub fn envp(&self) -> &'static [*const c_char] {
        // SAFETY: envp starts after argv's terminator; the loop stops at envp's own null
        // terminator, which the kernel writes (type invariant).
        unsafe {
            let start = self.argv_start().add(self.argc() + 1);
            let mut count = 0;
            while !start.add(count).read().is_null() {
                count += 1;
            }
            slice::from_raw_parts(start, count)
        }
    }

    /// The environment strings.
    pub fn env(&self) -> impl Iterator<Item = &'static CStr> {
        strings(self.envp())
    }

    /// The auxiliary vector's (type, value) pairs, up to (not including) `AT_NULL`.
    pub fn auxv(&self) -> &'static [[u64; 2]] {
        let envp = self.envp();
        // SAFETY: auxv starts after envp's null terminator and ends with an AT_NULL
        // entry, which the kernel writes (type invariant).
        unsafe {
            let start = envp.as_ptr().add(envp.len() + 1).cast::<[u64; 2]>();
            let mut count = 0;
            while start.add(count).read()[0] != auxv_type::AT_NULL {
                count += 1;
            }
            slice::from_raw_parts(start, count)
        }
    }

    /// The value of the first auxv entry of type `entry_type`.
    pub fn aux(&self, entry_type: u64) -> Option<u64> {
        self.auxv()
            .iter()
            .find(|[found, _]| *found == entry_type)
            .map(|[_, value]| *value)
    }

    fn argv_start(&self) -> *const *const c_char {
        // SAFETY: argv[0]'s slot follows argc (type invariant).
        unsafe { self.entry_stack_pointer.add(1).cast() }
    }
}

/// The C strings behind `pointers`, up to the first null pointer.
fn strings(pointers: &'static [*const c_char]) -> impl Iterator<Item = &'static CStr> {
    pointers
        .iter()
        .take_while(|pointer| !pointer.is_null())
        // SAFETY: non-null argv and envp entries point at NUL-terminated strings the
        // kernel copied above the vectors, untouched for the process's lifetime.
        .map(|&pointer| unsafe { CStr::from_ptr(pointer) })
}
