//! Per-CPU areas: the template section, setting up a CPU's copy, this crate's own per-CPU
//! block (CPU number, this CPU's offset) and the table of every CPU's area.

use core::alloc::Layout;
use core::arch::asm;
use core::mem::offset_of;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use crossbeam_utils::CachePadded;

use crate::variable::PerCpu;

/// How many CPUs can have an area: CPU numbers are `0..MAX_CPUS`. The table of areas that
/// [`PerCpu::remote`] uses has this many entries (2 KiB).
pub const MAX_CPUS: usize = 256;

/// The alignment every area needs (128, that of [`CachePadded`]): at least the alignment of
/// every per-CPU variable, so that each copy is as aligned as its template, and a cache-line
/// pair, so that no two CPUs' areas share a line.
pub const AREA_ALIGN: usize = align_of::<CachePadded<u8>>();

/// [`cpu_id`] before any area is installed (the template's value, which is what a thread
/// whose GS base is still 0 reads).
///
/// ```
/// // A new thread of a process that never set GS has a GS base of 0: it reads the template.
/// let cpu = std::thread::spawn(topframe_percpu::cpu_id).join().unwrap();
/// assert_eq!(cpu, topframe_percpu::NO_CPU);
/// ```
pub const NO_CPU: usize = usize::MAX;

unsafe extern "C" {
    /// First byte of the template section. GNU ld and lld define it for a section whose name
    /// is a C identifier; a kernel's linker script defines it itself.
    static __start_topframe_percpu: u8;
    /// One past the last byte of the template section.
    static __stop_topframe_percpu: u8;
}

/// Start of the template (the `topframe_percpu` section).
fn template_start() -> *const u8 {
    &raw const __start_topframe_percpu
}

/// Size of the template in bytes.
fn template_size() -> usize {
    (&raw const __stop_topframe_percpu).addr() - template_start().addr()
}

/// This crate's own per-CPU data, first thing Rust's `get` and `cpu_id` look at.
///
/// `align(128)` (= [`AREA_ALIGN`]) also makes the whole section 128-aligned: the linker
/// aligns an output section to its most aligned input.
#[repr(C, align(128))]
struct CpuBlock {
    /// This CPU's number, as given to [`init_area`].
    cpu_id: usize,
    /// This CPU's area minus the template's start (also its GS base), like Linux's
    /// `this_cpu_off`.
    this_cpu_offset: usize,
}

const _: () = assert!(align_of::<CpuBlock>() == AREA_ALIGN);

/// The marker type of [`CPU_BLOCK`]: the block is read only by this module's own asm.
enum CpuBlockMarker {}

/// The template of every CPU's [`CpuBlock`].
#[unsafe(link_section = "topframe_percpu")]
static CPU_BLOCK: PerCpu<CpuBlock, CpuBlockMarker> = {
    let template = CpuBlock {
        cpu_id: NO_CPU,
        this_cpu_offset: 0,
    };
    // SAFETY: the static is in the per-CPU section and its marker implements no symbol trait
    // (it is reached only by `cpu_id`, `this_cpu_offset` and `init_area` below).
    unsafe { PerCpu::__new(template) }
};

/// Every CPU's area, indexed by CPU number; null where none is installed. Areas rather than
/// offsets, so that remote pointers carry the area's provenance.
static AREAS: [AtomicPtr<u8>; MAX_CPUS] = [const { AtomicPtr::new(ptr::null_mut()) }; MAX_CPUS];

/// Size and alignment of one CPU's area: the template's size, aligned to [`AREA_ALIGN`].
///
/// The same for every CPU and for the whole run (the template is fixed at link time), and
/// never zero-sized (this crate's own block is in every area). Pass it to the allocator
/// that gives [`init_area`] its memory.
///
/// ```
/// use topframe_percpu::{AREA_ALIGN, area_layout};
///
/// let layout = area_layout();
/// assert_eq!(layout.align(), AREA_ALIGN);
/// assert!(layout.size() >= AREA_ALIGN);
/// assert_eq!(layout.size() % AREA_ALIGN, 0);
/// ```
pub fn area_layout() -> Layout {
    Layout::from_size_align(template_size(), AREA_ALIGN)
        .expect("the per-CPU template is smaller than isize::MAX")
        .pad_to_align()
}

/// Sets up `area` as CPU `cpu`'s copy of every per-CPU variable and returns the value for
/// its GS base (`area - template`, wrapping).
///
/// Copies the template into `area`, writes this crate's block in it (`cpu` for
/// [`cpu_id`], the offset for [`PerCpu::get`]) and publishes `area` in the table that
/// [`PerCpu::remote`] reads. Load the result into the GS base with `load_gs_base` (kernel)
/// or `set_thread_gs_base` (Linux host) on the CPU (thread) that is `cpu`. This function
/// itself may run on any CPU (e.g. the boot CPU preparing an AP's area); from its return
/// on, [`online_cpus`] lists `cpu` and [`PerCpu::remote`] reaches the new copy. The area
/// starts as a copy of the template *as it is now*.
///
/// In a kernel, put areas below the kernel image (e.g. in the direct map): then every GS
/// base is negative as a signed number, which keeps "negative GS base means kernel GS" a
/// valid test in a paranoid entry. Calling this again for the same `cpu` replaces its table
/// entry (the old area must still stay allocated).
///
/// # Safety
///
/// `area` is valid for writes of `area_layout().size()` bytes, aligned to
/// `area_layout().align()`, and used by nothing else, for the rest of the program (areas are
/// never freed: [`PerCpu::remote`] hands out `&'static` references into them).
///
/// Scalars written through a GS base of 0 (a thread or CPU not set up yet) land in the
/// template itself and become the initial values of areas set up afterwards.
///
/// # Panics
///
/// If `cpu >= MAX_CPUS`, if `area` is null, misaligned or overlaps the template, or if the
/// template section does not start [`AREA_ALIGN`]-aligned (a linker-script mistake).
///
/// # Example
///
/// What `install_on_current_thread` does on a Linux host; a kernel passes the result to
/// `load_gs_base` on the CPU itself instead (see the [crate docs](crate#integrating-into-a-kernel)).
///
/// ```
/// use topframe_percpu::{area_layout, cpu_id, init_area, online_cpus, per_cpu};
///
/// per_cpu! {
///     static COUNTER: u32 = 7;
/// }
///
/// let layout = area_layout();
/// // SAFETY: the layout is not zero-sized.
/// let area = unsafe { std::alloc::alloc(layout) }; // never freed
/// assert!(!area.is_null());
/// // SAFETY: `area` is a fresh allocation of `area_layout()`, used for nothing else, for ever.
/// let base = unsafe { init_area(5, area) };
///
/// // CPU 5 is reachable from everywhere now, through the table of areas.
/// assert!(online_cpus().any(|cpu| cpu == 5));
/// assert_eq!(COUNTER.remote_read(5), Some(7));
///
/// // Become CPU 5 (a kernel: `load_gs_base(base)` on CPU 5).
/// // SAFETY: `base` comes from `init_area` for an area only this thread uses.
/// unsafe { topframe_percpu::set_thread_gs_base(base) }.expect("arch_prctl");
/// assert_eq!(cpu_id(), 5);
/// COUNTER.inc();
/// assert_eq!(COUNTER.remote_read(5), Some(8));
/// ```
pub unsafe fn init_area(cpu: usize, area: *mut u8) -> u64 {
    let layout = area_layout();
    let template = template_start();
    assert!(
        cpu < MAX_CPUS,
        "CPU number {cpu} is not below MAX_CPUS ({MAX_CPUS})"
    );
    assert!(
        !area.is_null() && area.addr().is_multiple_of(layout.align()),
        "a per-CPU area must be non-null and aligned to {}",
        layout.align()
    );
    assert!(
        template.addr().is_multiple_of(AREA_ALIGN),
        "the topframe_percpu section must start {AREA_ALIGN}-aligned"
    );
    assert!(
        area.addr().wrapping_sub(template.addr()) >= layout.size()
            && template.addr().wrapping_sub(area.addr()) >= layout.size(),
        "a per-CPU area must not overlap the template"
    );
    // SAFETY: the template section is `template_size()` readable bytes; `area` is valid for
    // `layout.size()` (the section's size rounded up to `AREA_ALIGN`) writes (caller's
    // contract) and does not overlap the template (checked above). The padding after the
    // copy is zeroed.
    unsafe {
        ptr::copy_nonoverlapping(template, area, template_size());
        area.add(template_size())
            .write_bytes(0, layout.size() - template_size());
    }
    let offset = area.addr().wrapping_sub(template.addr());
    let block_in_template = (&raw const CPU_BLOCK).addr() - template.addr();
    // SAFETY: the block lies inside the template's range, so inside `area` at the same
    // offset, aligned like the template (both are `AREA_ALIGN`-aligned); nothing else uses
    // the area yet.
    unsafe {
        area.add(block_in_template)
            .cast::<CpuBlock>()
            .write(CpuBlock {
                cpu_id: cpu,
                this_cpu_offset: offset,
            });
    }
    // Keeps the codegen probes in any executable that sets up an area (nothing calls them).
    #[cfg(feature = "codegen-probes")]
    core::hint::black_box(crate::codegen_probes::RETAINED);
    // `PerCpu::get` turns template address + offset back into a pointer into `area`.
    let _ = area.expose_provenance();
    AREAS[cpu].store(area, Ordering::Release);
    offset as u64
}

/// This CPU's number, from its area: one `mov reg, gs:[rip + ...]`.
///
/// The `cpu` given to [`init_area`] for the area the GS base points at; [`NO_CPU`] on a
/// CPU (thread) whose GS base was never loaded. Safe to call anywhere, interrupt handlers
/// included; in preemptible code the answer may be stale by the time it is used.
///
/// ```
/// use topframe_percpu::{cpu_id, install_on_current_thread};
///
/// let threads: Vec<_> = (0..4)
///     .map(|cpu| {
///         std::thread::spawn(move || {
///             install_on_current_thread(cpu).expect("arch_prctl");
///             cpu_id()
///         })
///     })
///     .collect();
/// let cpus: Vec<usize> = threads.into_iter().map(|thread| thread.join().unwrap()).collect();
/// assert_eq!(cpus, [0, 1, 2, 3]);
/// ```
#[inline(always)]
pub fn cpu_id() -> usize {
    let cpu: usize;
    // SAFETY: reads this CPU's copy of this crate's block, an aligned `usize`; the GS base
    // comes from `init_area` (or is 0, which reads the template's `NO_CPU`).
    unsafe {
        asm!(
            // Load `cpu_id` from this CPU's copy of the block.
            "mov {cpu}, qword ptr gs:[rip + {block} + {field}]",
            cpu = out(reg) cpu,
            block = sym CPU_BLOCK,
            field = const offset_of!(CpuBlock, cpu_id),
            options(nostack, preserves_flags, readonly),
        );
    }
    cpu
}

/// This CPU's area minus the template's start: one `mov reg, gs:[rip + ...]`.
#[inline(always)]
pub(crate) fn this_cpu_offset() -> usize {
    let offset: usize;
    // SAFETY: reads this CPU's copy of this crate's block, an aligned `usize`; the GS base
    // comes from `init_area` (or is 0, which reads the template's 0).
    unsafe {
        asm!(
            // Load `this_cpu_offset` from this CPU's copy of the block.
            "mov {offset}, qword ptr gs:[rip + {block} + {field}]",
            offset = out(reg) offset,
            block = sym CPU_BLOCK,
            field = const offset_of!(CpuBlock, this_cpu_offset),
            options(nostack, preserves_flags, readonly),
        );
    }
    offset
}

/// The copy in `cpu`'s area of the per-CPU template byte at `in_template`, or `None` if
/// `cpu` has no area.
pub(crate) fn remote_copy(in_template: *const u8, cpu: usize) -> Option<*mut u8> {
    let area = AREAS.get(cpu)?.load(Ordering::Acquire);
    if area.is_null() {
        return None;
    }
    Some(area.wrapping_add(in_template.addr() - template_start().addr()))
}

/// The CPU numbers that have an area, in increasing order (each one since its
/// [`init_area`]; areas are never removed). "Online" means "has an area": the kernel
/// decides whether such a CPU runs yet.
///
/// ```
/// topframe_percpu::install_on_current_thread(2).expect("arch_prctl");
/// assert!(topframe_percpu::online_cpus().any(|cpu| cpu == 2));
/// assert!(topframe_percpu::online_cpus().all(|cpu| cpu < topframe_percpu::MAX_CPUS));
/// ```
pub fn online_cpus() -> impl Iterator<Item = usize> {
    AREAS
        .iter()
        .enumerate()
        .filter(|(_, area)| !area.load(Ordering::Acquire).is_null())
        .map(|(cpu, _)| cpu)
}
