//! Loading a CPU's GS base: the IA32_GS_BASE MSR on bare metal, `arch_prctl` on a Linux
//! host (where each thread plays one CPU).

/// Writes `base` (from [`init_area`](crate::init_area)) into IA32_GS_BASE (MSR 0xC000_0101)
/// of the executing CPU, at CPL 0.
///
/// While the CPU runs user code its kernel base sits in IA32_KERNEL_GS_BASE; SWAPGS on
/// every entry from and exit to user mode exchanges the two (the kernel's entry code does
/// that, not this crate). Loading a GS segment selector afterwards replaces the base, so
/// load segment registers first.
///
/// # Safety
///
/// `base` was returned by `init_area(cpu, area)` for the CPU executing this, and no
/// reference from [`PerCpu::get`](crate::PerCpu::get) of a previous base on this CPU is
/// still relied on as "this CPU's".
///
/// # Panics
///
/// If `base` is not canonical (areas and the template far apart).
///
/// # Example
///
/// ```ignore
/// // Not a host doctest: this function exists only for `target_os = "none"` and `wrmsr`
/// // needs CPL 0. On CPU `cpu`, after loading its segment registers:
/// // SAFETY: `area` fits `area_layout()` and is CPU `cpu`'s for ever; this runs on `cpu`.
/// unsafe { topframe_percpu::load_gs_base(topframe_percpu::init_area(cpu, area)) };
/// ```
#[cfg(target_os = "none")]
pub unsafe fn load_gs_base(base: u64) {
    x86_64::registers::model_specific::GsBase::write(x86_64::VirtAddr::new(base));
}

#[cfg(target_os = "linux")]
pub use host::{ArchPrctlError, install_on_current_thread, set_thread_gs_base};

/// The Linux host side: a thread's GS base through `arch_prctl`, for tests and for user-space
/// programs that want per-thread "per-CPU" data.
#[cfg(target_os = "linux")]
mod host {
    use core::arch::asm;
    use core::fmt;

    /// `arch_prctl` system call number on x86_64 Linux.
    const SYS_ARCH_PRCTL: u64 = 158;
    /// `arch_prctl` code that sets the calling thread's GS base.
    const ARCH_SET_GS: u64 = 0x1001;

    /// `arch_prctl(ARCH_SET_GS)` failed; holds the Linux errno (e.g. `EPERM` = 1 for a base
    /// in the kernel half, which a negative `area - template` would be).
    ///
    /// ```
    /// let error = topframe_percpu::ArchPrctlError { errno: 1 };
    /// assert_eq!(error.to_string(), "arch_prctl(ARCH_SET_GS) failed with errno 1");
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ArchPrctlError {
        /// The Linux error number.
        pub errno: i32,
    }

    impl fmt::Display for ArchPrctlError {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                formatter,
                "arch_prctl(ARCH_SET_GS) failed with errno {}",
                self.errno
            )
        }
    }

    /// Sets the calling thread's GS base to `base` with `arch_prctl(ARCH_SET_GS, base)`
    /// (a raw system call, no libc). glibc and Rust's std use FS for thread-local storage,
    /// so GS is free for this.
    ///
    /// # Safety
    ///
    /// `base` was returned by [`init_area`](crate::init_area), which makes the calling
    /// thread play that CPU for every per-CPU accessor (another thread may play the same
    /// CPU with its own area, but not with this one: single-instruction accessors are only
    /// atomic against one thread).
    ///
    /// # Errors
    ///
    /// The errno of a failed `arch_prctl`: `EPERM` when `base` is not a user-space address
    /// (an area below the template in memory gives a negative base).
    ///
    /// # Example
    ///
    /// See [`init_area`](crate::init_area#example).
    pub unsafe fn set_thread_gs_base(base: u64) -> Result<(), ArchPrctlError> {
        let result: i64;
        // SAFETY: `arch_prctl(ARCH_SET_GS)` changes only this thread's GS base; the caller
        // vouches for the base. The syscall clobbers RCX and R11 and touches no stack.
        unsafe {
            asm!(
                // rax = 158 (arch_prctl), rdi = ARCH_SET_GS, rsi = base; result in rax.
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => result,
                in("rdi") ARCH_SET_GS,
                in("rsi") base,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack, preserves_flags),
            );
        }
        if result < 0 {
            // Linux returns -errno, -4095..=-1.
            Err(ArchPrctlError {
                errno: result.unsigned_abs() as i32,
            })
        } else {
            Ok(())
        }
    }

    /// Makes the calling thread CPU `cpu`: allocates an area (never freed), sets it up with
    /// [`init_area`](crate::init_area) and loads the thread's GS base.
    ///
    /// The usual start of a host test thread. Calling it again (in any thread, for any CPU
    /// number) gives a fresh area; earlier areas stay allocated, so every reference into
    /// them stays valid.
    ///
    /// # Errors
    ///
    /// As [`set_thread_gs_base`]: `EPERM` if the allocator placed the area below the
    /// executable's template (its base would be negative, a kernel-half address).
    ///
    /// # Panics
    ///
    /// If `cpu >= MAX_CPUS` (see [`init_area`](crate::init_area)), or if the allocation
    /// fails.
    ///
    /// # Example
    ///
    /// ```
    /// topframe_percpu::per_cpu! {
    ///     static EVENTS: u64 = 0;
    /// }
    /// std::thread::scope(|scope| {
    ///     for cpu in 0..4 {
    ///         scope.spawn(move || {
    ///             topframe_percpu::install_on_current_thread(cpu).expect("arch_prctl");
    ///             for _ in 0..=cpu {
    ///                 EVENTS.inc(); // this thread's copy only
    ///             }
    ///         });
    ///     }
    /// });
    /// let per_cpu: Vec<_> = (0..4).map(|cpu| EVENTS.remote_read(cpu).unwrap()).collect();
    /// assert_eq!(per_cpu, [1, 2, 3, 4]);
    /// ```
    pub fn install_on_current_thread(cpu: usize) -> Result<(), ArchPrctlError> {
        extern crate alloc;

        let layout = crate::area_layout();
        // SAFETY: the layout has a nonzero size (it holds at least this crate's block).
        let area = unsafe { alloc::alloc::alloc(layout) };
        if area.is_null() {
            alloc::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `area` is a fresh allocation of `area_layout()`, never freed nor used by
        // anything else. A host program has no "template written before set-up" hazard
        // that matters for safety: a template write only changes initial values.
        let base = unsafe { crate::init_area(cpu, area) };
        // SAFETY: `base` comes from `init_area` for an area this thread alone uses.
        unsafe { set_thread_gs_base(base) }
    }
}
