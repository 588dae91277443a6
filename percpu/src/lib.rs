//! GS-relative per-CPU variables for x86_64 kernels: each access to a per-CPU scalar is one
//! instruction, `mov rax, gs:[rip + VAR]`, `inc qword ptr gs:[rip + VAR]`, and so on.
//!
//! Any crate of a kernel declares per-CPU variables with [`per_cpu!`]; the kernel gives
//! each CPU its own copy of all of them (an *area*) at boot and points that CPU's GS base
//! at it. From then on code reaches *this* CPU's copy through GS, and any CPU's copy
//! through a table indexed by CPU number. This page is the contract a kernel signs: what
//! its linker script needs, what it calls when, and what each access costs.
//!
//! # Layout: delta-based, RIP-relative
//!
//! Every per-CPU variable is a static in the linker section `topframe_percpu`. Together
//! those statics are the *template*, which nobody uses as a CPU's data. Each CPU gets an
//! *area*: a copy of the template (allocated by the kernel, [`area_layout`]), and its GS base
//! is set to `area - template_start`. An instruction with the operand `gs:[rip + VAR]`
//! computes `GS base + address of VAR`, i.e. `VAR`'s place in that CPU's area.
//!
//! Why this layout rather than Linux's classic zero-based section (linked at address 0, so
//! a variable's address is its offset in the area, reached as absolute `gs:VAR`): absolute
//! 32-bit addresses of symbols do not link into position-independent host test binaries,
//! while RIP-relative ones work everywhere: in a kernel linked at -2 GiB with
//! `code-model=kernel` and in a PIE host executable alike. So the same accessors and the
//! same hand-written assembly run in the kernel and in `cargo test` on real GS.
//!
//! In a kernel, put the areas below the kernel image (e.g. in the direct map), the boot
//! CPU's too: then every kernel GS base is negative as a signed number, and "negative GS
//! base means kernel GS" stays a valid test in a paranoid entry (NMI, #MC, #DB, #DF).
//!
//! Areas are aligned to [`AREA_ALIGN`] (128, [`crossbeam_utils::CachePadded`]'s alignment),
//! and so is the template's start (this crate's own block is `align(128)`), so every copy of
//! a variable is as aligned as its template; variables may not be more aligned than that.
//! This crate's own block in each area holds the CPU number ([`cpu_id`]) and the area's
//! offset (for [`PerCpu::get`], like Linux's `this_cpu_off`). Remote CPUs are reached
//! through a table of areas indexed by CPU number ([`MAX_CPUS`] entries), never through GS.
//!
//! # Declaring and using variables
//!
//! ```
//! use core::sync::atomic::{AtomicU64, Ordering};
//! use topframe_percpu::{CpuPinned, per_cpu};
//!
//! pub struct RunQueue {
//!     pub runnable: AtomicU64,
//! }
//!
//! per_cpu! {
//!     /// System calls entered on this CPU.
//!     pub static SYSCALL_COUNT: u64 = 0;
//!     /// Whether this CPU should reschedule before returning to user mode.
//!     static NEED_RESCHED: bool = false;
//!     /// This CPU's run queue.
//!     pub static RUN_QUEUE: RunQueue = RunQueue { runnable: AtomicU64::new(0) };
//! }
//!
//! fn on_syscall() {
//!     SYSCALL_COUNT.inc(); // inc qword ptr gs:[rip + SYSCALL_COUNT]
//!     if NEED_RESCHED.replace(false) {
//!         // ...
//!     }
//! }
//!
//! fn enqueue(pinned: &CpuPinned) {
//!     // A reference needs the CPU pinned (the kernel's guard makes the token).
//!     RUN_QUEUE.get(pinned).runnable.fetch_add(1, Ordering::Relaxed);
//! }
//!
//! fn total_runnable() -> u64 {
//!     topframe_percpu::online_cpus()
//!         .filter_map(|cpu| RUN_QUEUE.remote(cpu))
//!         .map(|queue| queue.runnable.load(Ordering::Relaxed))
//!         .sum()
//! }
//! # #[cfg(target_os = "linux")]
//! # fn main() {
//! #     topframe_percpu::install_on_current_thread(3).unwrap();
//! #     on_syscall();
//! #     // SAFETY: a test thread is its own CPU for its whole life.
//! #     let pinned = unsafe { CpuPinned::new_unchecked() };
//! #     enqueue(&pinned);
//! #     assert_eq!(SYSCALL_COUNT.read(), 1);
//! #     assert_eq!(topframe_percpu::cpu_id(), 3);
//! #     assert!(total_runnable() >= 1);
//! # }
//! # #[cfg(not(target_os = "linux"))]
//! # fn main() {}
//! ```
//!
//! # What `per_cpu!` generates
//!
//! For each `static NAME: T = init;` in a [`per_cpu!`] block:
//!
//! - `static NAME: PerCpu<T, NAME>` with the given visibility and attributes, in the section
//!   `topframe_percpu`, holding `init` (a const expression) as the template value;
//! - a hidden, uninhabited `enum NAME {}` (the *marker*: same name, type namespace) that
//!   carries the variable's own `asm!` accessors, since an `asm!` `sym` operand must name
//!   the static itself;
//! - one impl of a hidden trait for the marker, which picks the variable's *kind*:
//!   - a **scalar** when `T` is written literally as `u8`, `u16`, `u32`, `u64`, `usize`,
//!     `i8`, `i16`, `i32`, `i64`, `isize`, `bool`, `*const U` or `*mut U`: single-instruction
//!     accessors on [`PerCpu`] (`read`, `write`, `add`, `sub`, `inc`, `dec`, `and`, `or`,
//!     `fetch_add` (`xadd`), `replace` (`xchg`), `compare_exchange` (`cmpxchg`); the
//!     arithmetic ones for integers only) and [`PerCpu::remote_read`];
//!   - **by reference** for any other type (a type alias of `u64` included), if `T: Sync`:
//!     [`PerCpu::get`] with a [`CpuPinned`] token, and [`PerCpu::remote`].
//!
//! The two kinds exclude each other: a `&u64` would promise a value that an interrupt
//! handler's `inc` could change under it.
//!
//! # What each access costs
//!
//! | access | code (optimized) |
//! |---|---|
//! | scalar accessors: `VAR.read()`, `.write(v)`, `.inc()`, `.add(v)`, ... | one GS-relative instruction, e.g. `mov rax, qword ptr gs:[rip + VAR]`; no `lock` prefix (`xchg` with memory is implicitly locked by the processor) |
//! | [`cpu_id()`] | one `mov reg, qword ptr gs:[rip + ...]` |
//! | [`VAR.get(&pinned)`](PerCpu::get) | one GS-relative load of this CPU's offset, a test (it panics on a CPU without an area) and an add |
//! | [`VAR.remote(cpu)`](PerCpu::remote), [`VAR.remote_read(cpu)`](PerCpu::remote_read) | a bounds check, an acquire load from the table of areas, a null test and an add (`remote_read` then one plain load) |
//! | hand-written `asm!` | one instruction with `gs:[rip + {var} + {offset}]`, `var = sym VAR` |
//!
//! Unoptimized (debug) builds still use exactly one GS-relative instruction per scalar
//! access, but move values through stack slots around it (see [Code
//! generation](#code-generation)).
//!
//! # Integrating into a kernel
//!
//! ## Linker script
//!
//! The kernel's linker script must give the template an output section of its own, in a
//! **loaded, writable** segment (the template holds initial values: not `NOLOAD`, not
//! `.bss`), start it at least [`AREA_ALIGN`]-aligned, keep every input section and define
//! its bounds, whose names this crate references:
//!
//! ```text
//! topframe_percpu : ALIGN(4096) {
//!     __start_topframe_percpu = .;
//!     KEEP(*(topframe_percpu))
//!     __stop_topframe_percpu = .;
//! } :data
//! ```
//!
//! (`topframe_percpu` and `:data` as in the reference kernel's `kernel/linker.ld`, where
//! it also has an `AT(...)` load address.) The template must lie within ±2 GiB of the
//! code that uses it (true under `code-model=kernel`), since every access is RIP-relative;
//! code in a shared library cannot use it (the static would need a GOT indirection).
//!
//! ## Each CPU, on that CPU, before its first per-CPU access
//!
//! ```ignore
//! // Not compiled here: `load_gs_base` exists only on bare metal (`target_os = "none"`)
//! // and needs CPL 0. Call this on CPU `cpu` itself, after loading its GDT and segment
//! // registers (loading a GS selector overwrites the GS base), before anything touches
//! // per-CPU data, and before interrupts that use per-CPU data are enabled.
//! fn init_this_cpu(cpu: usize) {
//!     let layout = topframe_percpu::area_layout();
//!     // Below the kernel image (here the heap, in the direct map); never freed.
//!     // SAFETY: the layout's size is not zero (it holds this crate's own block).
//!     let area = unsafe { alloc::alloc::alloc(layout) };
//!     assert!(!area.is_null(), "out of memory for a per-CPU area");
//!     // SAFETY: `area` fits `layout`, belongs to CPU `cpu` forever, and this code runs at
//!     // CPL 0 on CPU `cpu`.
//!     unsafe {
//!         let base = topframe_percpu::init_area(cpu, area);
//!         topframe_percpu::load_gs_base(base); // IA32_GS_BASE
//!     }
//!     // The user's GS base waits in IA32_KERNEL_GS_BASE until the SWAPGS on the way out.
//!     x86_64::registers::model_specific::KernelGsBase::write(x86_64::VirtAddr::zero());
//!     assert_eq!(topframe_percpu::cpu_id(), cpu);
//! }
//! ```
//!
//! - CPU numbers are the kernel's own dense numbering `0..MAX_CPUS` (not APIC IDs).
//! - [`init_area`] may run on any CPU (it copies the template, writes this crate's block and
//!   publishes the area in the table); `load_gs_base` must run on the CPU itself, with
//!   the base `init_area` returned for that CPU number.
//! - From `init_area` on, [`online_cpus`] lists the CPU and [`PerCpu::remote`] reaches its
//!   copy: "online" here means "has an area", nothing more.
//! - Before its GS base is loaded, a CPU's GS base is 0 and `gs:[rip + VAR]` is the
//!   template itself: scalar reads see initial values, [`cpu_id`] is [`NO_CPU`],
//!   [`PerCpu::get`] panics, and scalar *writes change the template*, so they become the
//!   initial values of every area set up afterwards. Set up each CPU before it uses
//!   per-CPU data.
//!
//! ## Entry and exit
//!
//! This crate never executes SWAPGS. The kernel's entry code (`topframe-entry` in this
//! project) must SWAPGS on every entry from user mode and before every return to it, so
//! that kernel code always runs with the kernel GS base; an NMI, #MC, #DB or #DF can arrive
//! on either side of a SWAPGS, and its entry decides from the sign of IA32_GS_BASE (hence
//! the negative kernel bases above).
//!
//! # Interrupts, preemption and other CPUs
//!
//! - **Scalars**: every accessor is one instruction, so it is atomic against interrupts
//!   on the same CPU and needs no pinning. Two accessor calls in preemptible code may run
//!   on different CPUs, though; disable preemption around sequences that must see one CPU.
//!   The accessors are not atomic against *other* CPUs (no `lock` prefix): a scalar is
//!   written by its own CPU only, and read by others with [`PerCpu::remote_read`] (a relaxed,
//!   never torn load of a value that may change at any moment).
//! - **References**: [`PerCpu::get`] needs a [`CpuPinned`] token, which the kernel creates
//!   inside its own "stay on this CPU" guard (interrupts or preemption disabled); on bare
//!   metal `with_interrupts_disabled` does both. The types are `Sync` and interrupt
//!   handlers on this CPU and other CPUs ([`PerCpu::remote`]) share the same copy, so
//!   mutation goes through atomics or locks (a lock that an interrupt handler also takes
//!   must disable interrupts).
//! - Areas are never freed, so remote references are `&'static`.
//!
//! # Hand-written assembly
//!
//! Per-CPU variables of either kind are plain statics: assembly in any crate reaches this
//! CPU's copy with `gs:[rip + {var}]`, or a field of it with `gs:[rip + {var} + {offset}]`,
//! passing `var = sym VAR` and `offset = const offset_of!(Type, field)` (see [`per_cpu!`]
//! for an example). In AT&T syntax: `%gs:{var}(%rip)`.
//!
//! # Hosts: Linux threads as CPUs
//!
//! In a host executable the linker defines `__start_topframe_percpu` /
//! `__stop_topframe_percpu` by itself (the section name is a C identifier). On Linux,
//! `install_on_current_thread` gives the calling thread its own area and GS base (via
//! `arch_prctl(ARCH_SET_GS)`), so that test threads emulate CPUs on real GS; glibc and Rust's
//! standard library use FS for thread-local storage, so GS is free.
//!
//! # Targets and conditional items
//!
//! The crate builds for x86_64 only (a `compile_error!` elsewhere) and is `no_std`.
//!
//! | items | exist on |
//! |---|---|
//! | everything not listed below | every x86_64 target |
//! | `load_gs_base`, `with_interrupts_disabled` | `target_os = "none"` (bare metal, e.g. `x86_64-unknown-none`) |
//! | `install_on_current_thread`, `set_thread_gs_base`, `ArchPrctlError` | `target_os = "linux"` |
//! | `codegen_probes` | feature `codegen-probes` |
//!
//! (Items of a target other than the one these docs were built for appear only in that
//! target's docs, so they are not linked here.)
//!
//! # Feature flags
//!
//! - `codegen-probes` (off by default): exports one `#[no_mangle]` function per
//!   single-instruction accessor and width, named with [`PROBE_SYMBOL_PREFIX`], so that a
//!   disassembly check of the final kernel can verify that each is one GS-relative
//!   instruction (see the `codegen_probes` module for the expected sequences).
//!
//! # Code generation
//!
//! With optimizations, every scalar accessor compiles to its one instruction with the
//! variable's address as a `sym` operand, RIP-relative. The feature `codegen-probes`
//! exports one function per accessor and width (names start with [`PROBE_SYMBOL_PREFIX`])
//! whose expected disassembly is documented in `codegen_probes.rs`. Without optimizations
//! (debug builds) the instruction is still one, but values pass through stack slots around
//! it.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(not(target_arch = "x86_64"))]
compile_error!("topframe-percpu works on x86_64 only (GS-relative addressing)");

mod area;
#[cfg(feature = "codegen-probes")]
pub mod codegen_probes;
mod gs_base;
mod macros;
mod pinned;
mod scalar;
mod symbol;
mod variable;

pub use area::{AREA_ALIGN, MAX_CPUS, NO_CPU, area_layout, cpu_id, init_area, online_cpus};
#[cfg(target_os = "none")]
pub use gs_base::load_gs_base;
#[cfg(target_os = "linux")]
pub use gs_base::{ArchPrctlError, install_on_current_thread, set_thread_gs_base};
pub use pinned::CpuPinned;
#[cfg(target_os = "none")]
pub use pinned::with_interrupts_disabled;
pub use scalar::{Integer, Scalar};
pub use variable::PerCpu;

/// Prefix of the symbol names of the codegen probes (feature `codegen-probes`), e.g.
/// `topframe_percpu_probe_read_u64`; each must disassemble to one GS-relative instruction
/// and `ret` (see `codegen_probes.rs` for the exact sequences).
pub const PROBE_SYMBOL_PREFIX: &str = "topframe_percpu_probe_";

/// What [`per_cpu!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::symbol::{ScalarSymbol, SharedSymbol, Width};
}
