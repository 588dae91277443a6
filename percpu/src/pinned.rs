//! [`CpuPinned`]: the proof, visible in types, that the running code stays on its CPU.

use core::marker::PhantomData;

/// A token proving that the code holding it cannot move to another CPU while it exists, so
/// that a reference from [`PerCpu::get`](crate::PerCpu::get) stays *this* CPU's copy.
///
/// Not `Send`, not `Sync`, not `Clone`: it belongs to the pinned stretch of one thread.
/// Create it with [`CpuPinned::new_unchecked`] inside the kernel's own guard (interrupts
/// disabled, preemption disabled) and lend it out by reference, so that borrows of it end
/// before the guard does; on bare metal `with_interrupts_disabled`
/// does exactly that.
pub struct CpuPinned {
    /// `*mut ()` makes the token neither `Send` nor `Sync`.
    _not_send_or_sync: PhantomData<*mut ()>,
}

impl CpuPinned {
    /// Creates the token.
    ///
    /// # Safety
    ///
    /// For as long as the token exists, the current thread of execution must stay on the
    /// current CPU: no preemption or blocking that could resume it elsewhere, and no change
    /// of the GS base (no SWAPGS to a user base, no reload) while code that uses the token
    /// runs. Typically: interrupts disabled, or preemption disabled with a scheduler that
    /// never migrates a non-preemptible task. Drop the token before leaving that state.
    ///
    /// References from [`PerCpu::get`](crate::PerCpu::get) stay valid memory even if this
    /// is broken (areas live forever and the value is `Sync`); what breaks is the promise
    /// that they are the running CPU's, on which kernel code builds its own reasoning.
    ///
    /// # Example
    ///
    /// A kernel wraps this in its own guard, lending the token out by reference so that it
    /// cannot outlive the guard (the token is neither `Send`, `Sync` nor `Clone`):
    ///
    /// ```
    /// use topframe_percpu::CpuPinned;
    ///
    /// /// Runs `f` pinned to this CPU. (A kernel disables preemption or interrupts here.)
    /// fn with_cpu_pinned<R>(f: impl FnOnce(&CpuPinned) -> R) -> R {
    ///     // disable preemption ...
    ///     // SAFETY: nothing moves this thread to another CPU or changes its GS base until
    ///     // the token is dropped at the end of this function (host: a thread is a CPU).
    ///     let pinned = unsafe { CpuPinned::new_unchecked() };
    ///     let result = f(&pinned);
    ///     drop(pinned);
    ///     // ... enable preemption
    ///     result
    /// }
    ///
    /// topframe_percpu::per_cpu! {
    ///     static SCRATCH: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
    /// }
    /// topframe_percpu::install_on_current_thread(0).expect("arch_prctl");
    /// with_cpu_pinned(|pinned| SCRATCH.get(pinned).store(1, core::sync::atomic::Ordering::Relaxed));
    /// ```
    #[inline(always)]
    pub const unsafe fn new_unchecked() -> Self {
        Self {
            _not_send_or_sync: PhantomData,
        }
    }
}

/// Runs `f` with interrupts disabled (restoring the previous state afterwards) and a
/// [`CpuPinned`] for that stretch.
///
/// Only on bare metal (`target_os = "none"`), where the caller runs at CPL 0. The kernel
/// must not switch tasks away inside `f` (blocking with interrupts disabled is a bug).
///
/// ```ignore
/// // Not a host doctest: this function exists only for `target_os = "none"` and executes
/// // `cli`/`sti`, which need CPL 0.
/// topframe_percpu::with_interrupts_disabled(|pinned| {
///     RUN_QUEUE.get(pinned).lock().push(task);
/// });
/// ```
#[cfg(target_os = "none")]
pub fn with_interrupts_disabled<R>(f: impl FnOnce(&CpuPinned) -> R) -> R {
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: interrupts stay disabled until `f` returns and the token is dropped right
        // after, so nothing preempts or migrates this code meanwhile; `f` borrows the token
        // only for its own call.
        let pinned = unsafe { CpuPinned::new_unchecked() };
        f(&pinned)
    })
}
