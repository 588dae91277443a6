//! [`per_cpu!`](macro@crate::per_cpu) and the internal macros it expands to.
//!
//! A declaration expands to three items: an uninhabited marker type named like the variable
//! (type namespace), the static itself (value namespace) in the section `topframe_percpu`,
//! and one trait impl for the marker. For a scalar the impl's methods are the variable's
//! `asm!` accessors, written once in `__per_cpu_scalar_ops!` / `__per_cpu_asm!`: an asm
//! `sym` operand has to name the static at the declaration, so every variable needs its own.

/// Declares per-CPU variables.
///
/// ```
/// # struct Queue;
/// # impl Queue { const fn new() -> Self { Queue } }
/// topframe_percpu::per_cpu! {
///     /// System calls entered on this CPU.
///     pub static SYSCALL_COUNT: u64 = 0;
///     static CURRENT_TASK: usize = 0;
///     /// This CPU's run queue.
///     pub static RUN_QUEUE: spin::Mutex<Queue> = spin::Mutex::new(Queue::new());
/// }
/// # fn main() {}
/// ```
///
/// Each `static NAME: T = init;` becomes a `static NAME: PerCpu<T, NAME>` in the linker
/// section `topframe_percpu` (the template, see the [crate docs](crate)), initialized by the
/// const expression `init`, and a marker type also named `NAME` (uninhabited, hidden).
/// Attributes (doc comments included) go to the static. `T` may be any type whose alignment
/// is at most [`AREA_ALIGN`](crate::AREA_ALIGN) (128); `init` must not depend on the
/// static's own address, since every CPU gets a bitwise copy of it.
///
/// **Kind.** When `T` is written as one of `u8`, `u16`, `u32`, `u64`, `usize`, `i8`, `i16`,
/// `i32`, `i64`, `isize`, `bool`, `*const U`, `*mut U`, the variable gets the
/// single-instruction accessors of [`PerCpu`](crate::PerCpu) (`read`, `write`, `add`, ...).
/// Any other type (a type alias of `u64` and `core::primitive::u64` included) gets
/// references, [`PerCpu::get`](crate::PerCpu::get) and
/// [`PerCpu::remote`](crate::PerCpu::remote), when it is `Sync`:
///
/// ```compile_fail
/// type Count = u64;
/// topframe_percpu::per_cpu! {
///     static COUNT: Count = 0;
/// }
/// COUNT.inc(); // error: `Count` is not written as `u64`, so COUNT is reached by reference
/// ```
///
/// **Generated items.** For each variable, in the scope of the invocation: the static
/// `NAME: PerCpu<T, NAME>`, a hidden uninhabited `enum NAME {}` (so no other type or
/// module called `NAME` may be in the same scope), and an `unsafe impl` of a hidden trait
/// for that enum. The macro may be invoked several times per module and in any crate.
///
/// **Assembly.** `NAME` is a plain static, so hand-written assembly anywhere reaches this
/// CPU's copy with a `sym` operand, one instruction, at any field offset:
///
/// ```
/// use core::mem::offset_of;
/// #[repr(C)]
/// pub struct EntryBlock {
///     pub scratch_rsp: u64,
///     pub kernel_stack_top: u64,
/// }
///
/// topframe_percpu::per_cpu! {
///     pub static ENTRY_BLOCK: EntryBlock = EntryBlock { scratch_rsp: 0, kernel_stack_top: 0 };
/// }
///
/// # fn main() {
/// # #[cfg(target_os = "linux")]
/// # topframe_percpu::install_on_current_thread(0).unwrap();
/// let saved: u64;
/// // SAFETY: GS points at this CPU's area (the kernel loaded it from `init_area`); the
/// // asm touches only this CPU's `scratch_rsp` slot and one register.
/// unsafe {
///     core::arch::asm!(
///         // Save RSP in this CPU's entry block, as a SYSCALL entry does with the user RSP.
///         "mov gs:[rip + {block} + {scratch}], rsp",
///         // Load it back.
///         "mov {saved}, gs:[rip + {block} + {scratch}]",
///         block = sym ENTRY_BLOCK,
///         scratch = const offset_of!(EntryBlock, scratch_rsp),
///         saved = out(reg) saved,
///         options(nostack, preserves_flags),
///     );
/// }
/// assert_ne!(saved, 0);
/// # }
/// ```
///
/// In Intel syntax the operand is `gs:[rip + {sym}]` (AT&T: `%gs:{sym}(%rip)`); the
/// RIP-relative form is what links both in a kernel under `code-model=kernel` and in a
/// position-independent host executable. It does not work from a shared library (the
/// static would need a GOT indirection).
#[macro_export]
macro_rules! per_cpu {
    () => {};
    // The type is one identifier: a primitive scalar, or a type (alias) of any kind.
    (
        $(#[$attr:meta])*
        $vis:vis static $name:ident : $ty:ident = $init:expr;
        $($rest:tt)*
    ) => {
        $crate::__per_cpu_kind! { $ty [$(#[$attr])*] $vis $name: $ty = $init }
        $crate::per_cpu! { $($rest)* }
    };
    (
        $(#[$attr:meta])*
        $vis:vis static $name:ident : *const $pointee:ty = $init:expr;
        $($rest:tt)*
    ) => {
        $crate::__per_cpu_scalar! { [$(#[$attr])*] $vis $name: *const $pointee = $init }
        $crate::per_cpu! { $($rest)* }
    };
    (
        $(#[$attr:meta])*
        $vis:vis static $name:ident : *mut $pointee:ty = $init:expr;
        $($rest:tt)*
    ) => {
        $crate::__per_cpu_scalar! { [$(#[$attr])*] $vis $name: *mut $pointee = $init }
        $crate::per_cpu! { $($rest)* }
    };
    (
        $(#[$attr:meta])*
        $vis:vis static $name:ident : $ty:ty = $init:expr;
        $($rest:tt)*
    ) => {
        $crate::__per_cpu_shared! { [$(#[$attr])*] $vis $name: $ty = $init }
        $crate::per_cpu! { $($rest)* }
    };
}

/// Picks the kind of a variable whose type is one identifier (see [`per_cpu!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __per_cpu_kind {
    (u8 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (u16 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (u32 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (u64 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (usize $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (i8 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (i16 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (i32 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (i64 $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (isize $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    (bool $($declaration:tt)*) => { $crate::__per_cpu_scalar! { $($declaration)* } };
    ($other:ident $($declaration:tt)*) => { $crate::__per_cpu_shared! { $($declaration)* } };
}

/// The marker type and the static of one variable.
#[doc(hidden)]
#[macro_export]
macro_rules! __per_cpu_static {
    ([$(#[$attr:meta])*] $vis:vis $name:ident : $ty:ty = $init:expr) => {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        $vis enum $name {}

        $(#[$attr])*
        #[unsafe(link_section = "topframe_percpu")]
        $vis static $name: $crate::PerCpu<$ty, $name> = {
            let template: $ty = $init;
            // SAFETY: this static is in the per-CPU section, named like its marker type
            // `$name`, which implements exactly one symbol trait (beside this macro's call).
            unsafe { $crate::PerCpu::__new(template) }
        };
    };
}

/// A variable reached by reference.
#[doc(hidden)]
#[macro_export]
macro_rules! __per_cpu_shared {
    ([$($attr:tt)*] $vis:vis $name:ident : $ty:ty = $init:expr) => {
        $crate::__per_cpu_static! { [$($attr)*] $vis $name: $ty = $init }

        // SAFETY: `$name` marks the per-CPU static `$name: PerCpu<$ty, $name>` just declared
        // and implements no other symbol trait.
        unsafe impl $crate::__private::SharedSymbol for $name {}
    };
}

/// A variable with single-instruction accessors.
#[doc(hidden)]
#[macro_export]
macro_rules! __per_cpu_scalar {
    ([$($attr:tt)*] $vis:vis $name:ident : $ty:ty = $init:expr) => {
        $crate::__per_cpu_static! { [$($attr)*] $vis $name: $ty = $init }

        // SAFETY: `$name` marks the per-CPU static `$name: PerCpu<$ty, $name>` just declared,
        // the methods are `__per_cpu_scalar_ops!` on that static at the width of `$ty`, and
        // `$name` implements no other symbol trait.
        unsafe impl $crate::__private::ScalarSymbol for $name {
            type Value = $ty;
            $crate::__per_cpu_scalar_ops!($name);
        }
    };
}

/// The methods of [`ScalarSymbol`](crate::__private::ScalarSymbol) for the static `$name`.
#[doc(hidden)]
#[macro_export]
macro_rules! __per_cpu_scalar_ops {
    ($name:ident) => {
        #[inline(always)]
        fn read() -> u64 {
            $crate::__per_cpu_asm!(load $name)
        }

        #[inline(always)]
        fn write(bits: u64) {
            $crate::__per_cpu_asm!(source "mov" $name bits [preserves_flags])
        }

        #[inline(always)]
        fn add(bits: u64) {
            $crate::__per_cpu_asm!(source "add" $name bits [])
        }

        #[inline(always)]
        fn sub(bits: u64) {
            $crate::__per_cpu_asm!(source "sub" $name bits [])
        }

        #[inline(always)]
        fn inc() {
            $crate::__per_cpu_asm!(unary "inc" $name)
        }

        #[inline(always)]
        fn dec() {
            $crate::__per_cpu_asm!(unary "dec" $name)
        }

        #[inline(always)]
        fn and(bits: u64) {
            $crate::__per_cpu_asm!(source "and" $name bits [])
        }

        #[inline(always)]
        fn or(bits: u64) {
            $crate::__per_cpu_asm!(source "or" $name bits [])
        }

        #[inline(always)]
        fn fetch_add(bits: u64) -> u64 {
            $crate::__per_cpu_asm!(exchange "xadd" $name bits [])
        }

        #[inline(always)]
        fn replace(bits: u64) -> u64 {
            $crate::__per_cpu_asm!(exchange "xchg" $name bits [preserves_flags])
        }

        #[inline(always)]
        fn compare_exchange(current: u64, new: u64) -> u64 {
            $crate::__per_cpu_asm!(cmpxchg $name current new)
        }
    };
}

/// One GS-relative instruction on this CPU's copy of the static `$name`, at the width of its
/// `ScalarSymbol::Value` (the `match` is on a constant, so only one arm is ever compiled in).
///
/// Every block is one instruction on this CPU's copy, which is why each is atomic with
/// respect to interrupts on this CPU (an interrupt sees the copy before or after it) and
/// needs no lock prefix. Safety of each: the GS base was loaded from `init_area` (the
/// contract of `load_gs_base` / `set_thread_gs_base`), so `gs:[rip + $name]` is `$name`'s
/// place in this CPU's area, aligned and holding a value of this width; the instruction
/// touches nothing else and no stack.
#[doc(hidden)]
#[macro_export]
macro_rules! __per_cpu_asm {
    // mov reg, [copy]: returns the value, zero-extended.
    (load $name:ident) => {
        match <<$name as $crate::__private::ScalarSymbol>::Value as $crate::Scalar>::WIDTH {
            $crate::__private::Width::Byte => {
                let value: u8;
                // SAFETY: one load from this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Load this CPU's byte.
                        "mov {value}, byte ptr gs:[rip + {var}]",
                        var = sym $name,
                        value = out(reg_byte) value,
                        options(nostack, preserves_flags, readonly),
                    );
                }
                u64::from(value)
            }
            $crate::__private::Width::Word => {
                let value: u16;
                // SAFETY: one load from this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Load this CPU's word.
                        "mov {value:x}, word ptr gs:[rip + {var}]",
                        var = sym $name,
                        value = out(reg) value,
                        options(nostack, preserves_flags, readonly),
                    );
                }
                u64::from(value)
            }
            $crate::__private::Width::Dword => {
                let value: u32;
                // SAFETY: one load from this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Load this CPU's doubleword.
                        "mov {value:e}, dword ptr gs:[rip + {var}]",
                        var = sym $name,
                        value = out(reg) value,
                        options(nostack, preserves_flags, readonly),
                    );
                }
                u64::from(value)
            }
            $crate::__private::Width::Qword => {
                let value: u64;
                // SAFETY: one load from this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Load this CPU's quadword.
                        "mov {value:r}, qword ptr gs:[rip + {var}]",
                        var = sym $name,
                        value = out(reg) value,
                        options(nostack, preserves_flags, readonly),
                    );
                }
                value
            }
        }
    };
    // `$insn [copy], reg`: mov / add / sub / and / or with a register source.
    (source $insn:literal $name:ident $bits:ident [$($option:ident)?]) => {
        match <<$name as $crate::__private::ScalarSymbol>::Value as $crate::Scalar>::WIDTH {
            $crate::__private::Width::Byte => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's byte with the source register.
                        concat!($insn, " byte ptr gs:[rip + {var}], {value}"),
                        var = sym $name,
                        value = in(reg_byte) $bits as u8,
                        options(nostack, $($option)?),
                    );
                }
            }
            $crate::__private::Width::Word => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's word with the source register.
                        concat!($insn, " word ptr gs:[rip + {var}], {value:x}"),
                        var = sym $name,
                        value = in(reg) $bits as u16,
                        options(nostack, $($option)?),
                    );
                }
            }
            $crate::__private::Width::Dword => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's doubleword with the source register.
                        concat!($insn, " dword ptr gs:[rip + {var}], {value:e}"),
                        var = sym $name,
                        value = in(reg) $bits as u32,
                        options(nostack, $($option)?),
                    );
                }
            }
            $crate::__private::Width::Qword => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's quadword with the source register.
                        concat!($insn, " qword ptr gs:[rip + {var}], {value:r}"),
                        var = sym $name,
                        value = in(reg) $bits,
                        options(nostack, $($option)?),
                    );
                }
            }
        }
    };
    // `$insn [copy]`: inc / dec, no register at all.
    (unary $insn:literal $name:ident) => {
        match <<$name as $crate::__private::ScalarSymbol>::Value as $crate::Scalar>::WIDTH {
            $crate::__private::Width::Byte => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's byte in place.
                        concat!($insn, " byte ptr gs:[rip + {var}]"),
                        var = sym $name,
                        options(nostack),
                    );
                }
            }
            $crate::__private::Width::Word => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's word in place.
                        concat!($insn, " word ptr gs:[rip + {var}]"),
                        var = sym $name,
                        options(nostack),
                    );
                }
            }
            $crate::__private::Width::Dword => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's doubleword in place.
                        concat!($insn, " dword ptr gs:[rip + {var}]"),
                        var = sym $name,
                        options(nostack),
                    );
                }
            }
            $crate::__private::Width::Qword => {
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's quadword in place.
                        concat!($insn, " qword ptr gs:[rip + {var}]"),
                        var = sym $name,
                        options(nostack),
                    );
                }
            }
        }
    };
    // `$insn [copy], reg` that also writes the register: xchg / xadd, which leave the
    // previous value in it; returns that value, zero-extended.
    (exchange $insn:literal $name:ident $bits:ident [$($option:ident)?]) => {
        match <<$name as $crate::__private::ScalarSymbol>::Value as $crate::Scalar>::WIDTH {
            $crate::__private::Width::Byte => {
                let mut value = $bits as u8;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's byte with the register; the old byte lands in it.
                        concat!($insn, " byte ptr gs:[rip + {var}], {value}"),
                        var = sym $name,
                        value = inout(reg_byte) value,
                        options(nostack, $($option)?),
                    );
                }
                u64::from(value)
            }
            $crate::__private::Width::Word => {
                let mut value = $bits as u16;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's word with the register; the old word lands in it.
                        concat!($insn, " word ptr gs:[rip + {var}], {value:x}"),
                        var = sym $name,
                        value = inout(reg) value,
                        options(nostack, $($option)?),
                    );
                }
                u64::from(value)
            }
            $crate::__private::Width::Dword => {
                let mut value = $bits as u32;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's doubleword with the register; the old one lands
                        // in it.
                        concat!($insn, " dword ptr gs:[rip + {var}], {value:e}"),
                        var = sym $name,
                        value = inout(reg) value,
                        options(nostack, $($option)?),
                    );
                }
                u64::from(value)
            }
            $crate::__private::Width::Qword => {
                let mut value = $bits;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // `$insn` this CPU's quadword with the register; the old one lands
                        // in it.
                        concat!($insn, " qword ptr gs:[rip + {var}], {value:r}"),
                        var = sym $name,
                        value = inout(reg) value,
                        options(nostack, $($option)?),
                    );
                }
                value
            }
        }
    };
    // cmpxchg [copy], reg with the expected value in the accumulator (al/ax/eax/rax): stores
    // `$new` if the copy equals the accumulator; either way the accumulator ends up holding
    // the copy's previous value, which is returned, zero-extended.
    (cmpxchg $name:ident $current:ident $new:ident) => {
        match <<$name as $crate::__private::ScalarSymbol>::Value as $crate::Scalar>::WIDTH {
            $crate::__private::Width::Byte => {
                let mut previous = $current as u8;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Compare this CPU's byte with AL; equal: store the new byte,
                        // different: load it into AL.
                        "cmpxchg byte ptr gs:[rip + {var}], {new}",
                        var = sym $name,
                        new = in(reg_byte) $new as u8,
                        inout("al") previous,
                        options(nostack),
                    );
                }
                u64::from(previous)
            }
            $crate::__private::Width::Word => {
                let mut previous = $current as u16;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Compare this CPU's word with AX; equal: store the new word,
                        // different: load it into AX.
                        "cmpxchg word ptr gs:[rip + {var}], {new:x}",
                        var = sym $name,
                        new = in(reg) $new as u16,
                        inout("ax") previous,
                        options(nostack),
                    );
                }
                u64::from(previous)
            }
            $crate::__private::Width::Dword => {
                let mut previous = $current as u32;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Compare this CPU's doubleword with EAX; equal: store the new one,
                        // different: load it into EAX.
                        "cmpxchg dword ptr gs:[rip + {var}], {new:e}",
                        var = sym $name,
                        new = in(reg) $new as u32,
                        inout("eax") previous,
                        options(nostack),
                    );
                }
                u64::from(previous)
            }
            $crate::__private::Width::Qword => {
                let mut previous = $current;
                // SAFETY: one instruction on this CPU's copy (see `__per_cpu_asm!`).
                unsafe {
                    ::core::arch::asm!(
                        // Compare this CPU's quadword with RAX; equal: store the new one,
                        // different: load it into RAX.
                        "cmpxchg qword ptr gs:[rip + {var}], {new:r}",
                        var = sym $name,
                        new = in(reg) $new,
                        inout("rax") previous,
                        options(nostack),
                    );
                }
                previous
            }
        }
    };
}
