//! GS-relative per-CPU variables for x86_64 kernels: each access to a per-CPU scalar is one
//! instruction, `mov rax, gs:[rip + VAR]`, `inc qword ptr gs:[rip + VAR]`, and so on.
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
//! Scalars (declared as `u8` ... `u64`, `usize`, `i8` ... `i64`, `isize`, `bool`,
//! `*const T`, `*mut T`) get single-instruction accessors on [`PerCpu`]: `read`, `write`,
//! `add`, `sub`, `inc`, `dec`, `and`, `or`, `fetch_add` (`xadd`), `replace` (`xchg`) and
//! `compare_exchange` (`cmpxchg`), none with a lock prefix: one instruction is already
//! atomic against interrupts on the same CPU, which is all per-CPU data needs. Other types
//! get references: [`PerCpu::get`] with a [`CpuPinned`] token and [`PerCpu::remote`]. Both
//! kinds are plain statics, so hand-written assembly in any crate reaches this CPU's copy
//! with `gs:[rip + {var}]` / `gs:[rip + {var} + {offset}]` and `var = sym VAR` (see
//! [`per_cpu!`]).
//!
//! # Setting a kernel up
//!
//! ```ignore
//! // Once per CPU, on that CPU, before any per-CPU access:
//! let layout = topframe_percpu::area_layout();
//! let area: *mut u8 = direct_map_alloc(layout); // below the kernel image, never freed
//! // SAFETY: `area` fits `layout`, belongs to this CPU forever; we run at CPL 0 on `cpu`.
//! unsafe {
//!     let base = topframe_percpu::init_area(cpu, area);
//!     topframe_percpu::load_gs_base(base); // IA32_GS_BASE; user GS lives in KERNEL_GS_BASE
//! }
//! ```
//!
//! The kernel's linker script must keep the section writable and define its bounds:
//!
//! ```text
//! .percpu : ALIGN(4096) {
//!     __start_topframe_percpu = .;
//!     KEEP(*(topframe_percpu))
//!     __stop_topframe_percpu = .;
//! }
//! ```
//!
//! In a host executable the linker defines `__start_topframe_percpu` /
//! `__stop_topframe_percpu` by itself (the section name is a C identifier). On Linux,
//! `install_on_current_thread` gives the calling thread its own area and GS base (via
//! `arch_prctl(ARCH_SET_GS)`), so that test threads emulate CPUs on real GS.
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
