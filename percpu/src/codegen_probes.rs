//! Codegen probes (feature `codegen-probes`): one exported function per single-instruction
//! accessor and width, for a disassembly check of the final kernel.
//!
//! Each probe works on its own probe per-CPU variable (`PROBE_U8`, `PROBE_U16`, `PROBE_U32`,
//! `PROBE_U64`, `PROBE_BOOL`, `PROBE_PTR`) and must compile, with optimizations, to exactly
//! the sequence below (Intel syntax, `VAR` = that probe variable's symbol; arguments arrive
//! in RDI/RSI and results leave in RAX as the System V ABI has them). "W" is the operand
//! size: `byte`/`word`/`dword`/`qword ptr` with the register of that size (`dil`, `di`,
//! `edi`, `rdi`; `al`, `ax`, `eax`, `rax`; `sil`, `si`, `esi`, `rsi`).
//!
//! | probe (`topframe_percpu_probe_...`) | widths | sequence |
//! |---|---|---|
//! | `read_<w>` | u8 u16 u32 u64 bool ptr | `mov A, W gs:[rip + VAR]` ; `ret` |
//! | `write_<w>` | u8 u16 u32 u64 bool ptr | `mov W gs:[rip + VAR], D` ; `ret` |
//! | `add_<w>` | u8 u16 u32 u64 | `add W gs:[rip + VAR], D` ; `ret` |
//! | `sub_<w>` | u8 u16 u32 u64 | `sub W gs:[rip + VAR], D` ; `ret` |
//! | `and_<w>` | u8 u16 u32 u64 | `and W gs:[rip + VAR], D` ; `ret` |
//! | `or_<w>` | u8 u16 u32 u64 | `or W gs:[rip + VAR], D` ; `ret` |
//! | `inc_<w>` | u8 u16 u32 u64 | `inc W gs:[rip + VAR]` ; `ret` |
//! | `dec_<w>` | u8 u16 u32 u64 | `dec W gs:[rip + VAR]` ; `ret` |
//! | `fetch_add_<w>` | u8 u16 u32 u64 | `mov eax/rax, edi/rdi` ; `xadd W gs:[rip + VAR], A` ; `ret` |
//! | `replace_<w>` | u8 u16 u32 u64 bool ptr | `mov eax/rax, edi/rdi` ; `xchg W gs:[rip + VAR], A` ; `ret` |
//! | `compare_exchange_<w>` | u8 u16 u32 u64 bool ptr | `mov eax/rax, edi/rdi` ; `cmpxchg W gs:[rip + VAR], S` ; `ret` |
//! | `cpu_id` | - | `mov rax, qword ptr gs:[rip + CPU_BLOCK]` ; `ret` |
//!
//! (A = the return register, D = the first argument register, S = the second, each of
//! width W.) So every probe is one GS-relative instruction and `ret`, plus, for the three
//! value-returning read-modify-writes, the one register move the ABI forces: the argument
//! arrives in RDI but the instruction leaves the previous value in its register operand,
//! which must be RAX to be returned (for `cmpxchg` the expected value must be in RAX
//! anyway). The `compare_exchange` probes return the previous value, which is both the
//! `Ok` and the `Err` payload, so no `cmp`/`sete` follows.
//!
//! An executable keeps only what it references, and nothing calls the probes, so
//! [`init_area`](crate::init_area) references [`RETAINED`] (one `lea`, with this feature
//! only): every kernel that sets up an area keeps all probes.
//!
//! Unoptimized builds (opt-level 0) do not reach these sequences. Each probe there still has
//! exactly one GS-relative instruction and no call (`#[inline(always)]` is honoured), but 5
//! to 84 instructions in all, since `&self` and every intermediate value go through stack
//! slots: `inc_u64` is `push rax; mov qword ptr [rsp], VAR; inc qword ptr gs:[rip + VAR];
//! pop rax; ret`, `compare_exchange_u64` (which also builds and matches a `Result`) is the
//! longest. Check an optimized build.

use crate::{cpu_id, per_cpu};

per_cpu! {
    /// Probe variable for byte accessors.
    static PROBE_U8: u8 = 0;
    /// Probe variable for word accessors.
    static PROBE_U16: u16 = 0;
    /// Probe variable for doubleword accessors.
    static PROBE_U32: u32 = 0;
    /// Probe variable for quadword accessors.
    static PROBE_U64: u64 = 0;
    /// Probe variable for `bool` accessors.
    static PROBE_BOOL: bool = false;
    /// Probe variable for pointer accessors.
    static PROBE_PTR: *mut u8 = core::ptr::null_mut();
}

/// A probe's address, for [`RETAINED`].
pub struct ProbeAddress(pub *const ());

// SAFETY: the address of a function, never dereferenced: only kept for the linker.
unsafe impl Sync for ProbeAddress {}

/// Defines the probes for each scalar probe variable `$var: $ty` (the accessors every scalar
/// has, and with `integer` also the integer-only ones) and [`RETAINED`], their addresses.
macro_rules! probes {
    (
        scalar { $($var:ident: $ty:ty => $read:ident, $write:ident, $replace:ident, $compare_exchange:ident;)* }
        integer { $($int_var:ident: $int_ty:ty => $add:ident, $sub:ident, $and:ident, $or:ident, $inc:ident, $dec:ident, $fetch_add:ident;)* }
    ) => {
        $(
            #[doc = concat!("`", stringify!($var), ".read()`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $read() -> $ty {
                $var.read()
            }

            #[doc = concat!("`", stringify!($var), ".write(value)`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $write(value: $ty) {
                $var.write(value);
            }

            #[doc = concat!("`", stringify!($var), ".replace(value)`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $replace(value: $ty) -> $ty {
                $var.replace(value)
            }

            #[doc = concat!("`", stringify!($var), ".compare_exchange(current, new)`, returning the previous value.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $compare_exchange(current: $ty, new: $ty) -> $ty {
                match $var.compare_exchange(current, new) {
                    Ok(previous) | Err(previous) => previous,
                }
            }
        )*
        $(
            #[doc = concat!("`", stringify!($int_var), ".add(value)`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $add(value: $int_ty) {
                $int_var.add(value);
            }

            #[doc = concat!("`", stringify!($int_var), ".sub(value)`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $sub(value: $int_ty) {
                $int_var.sub(value);
            }

            #[doc = concat!("`", stringify!($int_var), ".and(value)`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $and(value: $int_ty) {
                $int_var.and(value);
            }

            #[doc = concat!("`", stringify!($int_var), ".or(value)`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $or(value: $int_ty) {
                $int_var.or(value);
            }

            #[doc = concat!("`", stringify!($int_var), ".inc()`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $inc() {
                $int_var.inc();
            }

            #[doc = concat!("`", stringify!($int_var), ".dec()`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $dec() {
                $int_var.dec();
            }

            #[doc = concat!("`", stringify!($int_var), ".fetch_add(value)`.")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $fetch_add(value: $int_ty) -> $int_ty {
                $int_var.fetch_add(value)
            }
        )*

        /// The address of every probe: referenced from `init_area`, so that the linker keeps
        /// the probes in any executable that sets up a per-CPU area.
        pub static RETAINED: &[ProbeAddress] = &[
            $(
                ProbeAddress($read as *const ()),
                ProbeAddress($write as *const ()),
                ProbeAddress($replace as *const ()),
                ProbeAddress($compare_exchange as *const ()),
            )*
            $(
                ProbeAddress($add as *const ()),
                ProbeAddress($sub as *const ()),
                ProbeAddress($and as *const ()),
                ProbeAddress($or as *const ()),
                ProbeAddress($inc as *const ()),
                ProbeAddress($dec as *const ()),
                ProbeAddress($fetch_add as *const ()),
            )*
            ProbeAddress(topframe_percpu_probe_cpu_id as *const ()),
        ];
    };
}

probes! {
    scalar {
        PROBE_U8: u8 => topframe_percpu_probe_read_u8, topframe_percpu_probe_write_u8,
            topframe_percpu_probe_replace_u8, topframe_percpu_probe_compare_exchange_u8;
        PROBE_U16: u16 => topframe_percpu_probe_read_u16, topframe_percpu_probe_write_u16,
            topframe_percpu_probe_replace_u16, topframe_percpu_probe_compare_exchange_u16;
        PROBE_U32: u32 => topframe_percpu_probe_read_u32, topframe_percpu_probe_write_u32,
            topframe_percpu_probe_replace_u32, topframe_percpu_probe_compare_exchange_u32;
        PROBE_U64: u64 => topframe_percpu_probe_read_u64, topframe_percpu_probe_write_u64,
            topframe_percpu_probe_replace_u64, topframe_percpu_probe_compare_exchange_u64;
        PROBE_BOOL: bool => topframe_percpu_probe_read_bool, topframe_percpu_probe_write_bool,
            topframe_percpu_probe_replace_bool, topframe_percpu_probe_compare_exchange_bool;
        PROBE_PTR: *mut u8 => topframe_percpu_probe_read_ptr, topframe_percpu_probe_write_ptr,
            topframe_percpu_probe_replace_ptr, topframe_percpu_probe_compare_exchange_ptr;
    }
    integer {
        PROBE_U8: u8 => topframe_percpu_probe_add_u8, topframe_percpu_probe_sub_u8,
            topframe_percpu_probe_and_u8, topframe_percpu_probe_or_u8,
            topframe_percpu_probe_inc_u8, topframe_percpu_probe_dec_u8,
            topframe_percpu_probe_fetch_add_u8;
        PROBE_U16: u16 => topframe_percpu_probe_add_u16, topframe_percpu_probe_sub_u16,
            topframe_percpu_probe_and_u16, topframe_percpu_probe_or_u16,
            topframe_percpu_probe_inc_u16, topframe_percpu_probe_dec_u16,
            topframe_percpu_probe_fetch_add_u16;
        PROBE_U32: u32 => topframe_percpu_probe_add_u32, topframe_percpu_probe_sub_u32,
            topframe_percpu_probe_and_u32, topframe_percpu_probe_or_u32,
            topframe_percpu_probe_inc_u32, topframe_percpu_probe_dec_u32,
            topframe_percpu_probe_fetch_add_u32;
        PROBE_U64: u64 => topframe_percpu_probe_add_u64, topframe_percpu_probe_sub_u64,
            topframe_percpu_probe_and_u64, topframe_percpu_probe_or_u64,
            topframe_percpu_probe_inc_u64, topframe_percpu_probe_dec_u64,
            topframe_percpu_probe_fetch_add_u64;
    }
}

/// `cpu_id()`.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn topframe_percpu_probe_cpu_id() -> usize {
    cpu_id()
}
