//! [`PerCpu`], the type of every per-CPU static, and its accessors.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use crate::__private::{ScalarSymbol, SharedSymbol};
use crate::area;
use crate::pinned::CpuPinned;
use crate::scalar::{Integer, Scalar, Width};

/// A per-CPU variable: the type of every static that [`per_cpu!`](macro@crate::per_cpu) declares.
///
/// The static itself is the *template* in the `topframe_percpu` linker section; each CPU
/// works on its own copy of it in that CPU's area (see the [crate docs](crate)). `M` is the
/// variable's marker type, which the macro names like the static and which carries the
/// variable's `asm!` (its `sym` operand must name the static at the declaration).
///
/// Two kinds, chosen by how the type is written in [`per_cpu!`](macro@crate::per_cpu):
/// - a **scalar** (`u8` ... `u64`, `usize`, `i8` ... `i64`, `isize`, `bool`, `*const T`,
///   `*mut T`, written as such) gets single-instruction accessors on this CPU's copy
///   ([`read`](Self::read), [`write`](Self::write), [`add`](Self::add), ...) and
///   [`remote_read`](Self::remote_read) of another CPU's copy;
/// - **any other type** gets references: [`get`](Self::get) (this CPU's copy, with the CPU
///   pinned) and [`remote`](Self::remote) (another CPU's copy), both for `T: Sync`.
///
/// The kinds exclude each other on purpose: a `&u64` promises that the `u64` does not change
/// while the reference lives, which a concurrent `add` from an interrupt handler would break.
///
/// Not constructible outside [`per_cpu!`](macro@crate::per_cpu) (its constructor is hidden
/// and `unsafe`), and `Sync` whatever `T` is: see each accessor for what it requires.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use topframe_percpu::{CpuPinned, per_cpu};
///
/// per_cpu! {
///     static TICKS: u64 = 0;                       // a scalar
///     static IRQS: AtomicU32 = AtomicU32::new(0);  // by reference
/// }
///
/// topframe_percpu::install_on_current_thread(0).expect("arch_prctl");
/// TICKS.inc();
/// assert_eq!(TICKS.read(), 1);
///
/// // SAFETY: this thread plays CPU 0 for its whole life and never changes its GS base.
/// let pinned = unsafe { CpuPinned::new_unchecked() };
/// IRQS.get(&pinned).fetch_add(1, Ordering::Relaxed);
/// assert_eq!(IRQS.remote(0).unwrap().load(Ordering::Relaxed), 1);
/// ```
#[repr(transparent)]
pub struct PerCpu<T, M> {
    /// The template value: only ever copied into areas (see [`crate::init_area`]).
    template: UnsafeCell<T>,
    /// The marker type; `fn() -> M` keeps `Send`/`Sync` independent of `M`.
    marker: PhantomData<fn() -> M>,
}

// SAFETY: sharing a `PerCpu` between threads gives access to the copies only through
// (a) the scalar accessors, which move plain bits of the sealed `Scalar` types with single
// instructions (never a reference), and (b) `get`/`remote`, which require `T: Sync` for the
// shared `&T` they hand out. Types that are neither `Scalar` nor `Sync` are not accessible at
// all, except by hand-written assembly, whose author answers for it.
unsafe impl<T, M> Sync for PerCpu<T, M> {}

impl<T, M> PerCpu<T, M> {
    /// Wraps the template value. Used by [`per_cpu!`](macro@crate::per_cpu) only.
    ///
    /// # Safety
    ///
    /// The result must be the initializer of a static named like `M`, placed in the linker
    /// section `topframe_percpu`, and `M` must implement at most one of the traits in
    /// [`crate::__private`], for that static.
    #[doc(hidden)]
    #[inline(always)]
    pub const unsafe fn __new(value: T) -> Self {
        const {
            assert!(
                align_of::<T>() <= area::AREA_ALIGN,
                "a per-CPU variable's alignment must not exceed AREA_ALIGN (128)"
            );
        }
        Self {
            template: UnsafeCell::new(value),
            marker: PhantomData,
        }
    }

    /// Where this variable's copy lies in `cpu`'s area, or `None` if `cpu` has no area.
    fn remote_copy(&'static self, cpu: usize) -> Option<*mut T> {
        area::remote_copy(self.template.get().cast::<u8>(), cpu).map(<*mut u8>::cast::<T>)
    }
}

impl<T: Scalar, M: ScalarSymbol<Value = T>> PerCpu<T, M> {
    /// This CPU's value: `mov reg, gs:[rip + VAR]`.
    ///
    /// On a CPU (thread) whose GS base was never loaded, the template's value.
    ///
    /// ```
    /// topframe_percpu::per_cpu! {
    ///     static NESTING: u8 = 0;
    /// }
    /// topframe_percpu::install_on_current_thread(0).expect("arch_prctl");
    /// NESTING.write(3);
    /// assert_eq!(NESTING.read(), 3);
    /// assert_eq!(NESTING.replace(0), 3);
    /// assert_eq!(NESTING.read(), 0);
    /// ```
    #[inline(always)]
    pub fn read(&self) -> T {
        // SAFETY: the bits are loaded from this CPU's copy of a `T`.
        unsafe { T::from_bits(M::read()) }
    }

    /// Sets this CPU's value: `mov gs:[rip + VAR], reg`.
    #[inline(always)]
    pub fn write(&self, value: T) {
        M::write(value.to_bits());
    }

    /// Sets this CPU's value and returns the previous one: `xchg gs:[rip + VAR], reg`
    /// (implicitly locked by the processor, as every `xchg` with memory is).
    #[inline(always)]
    pub fn replace(&self, value: T) -> T {
        // SAFETY: the bits are the previous content of this CPU's copy of a `T`.
        unsafe { T::from_bits(M::replace(value.to_bits())) }
    }

    /// Sets this CPU's value to `new` if it is `current`: `cmpxchg gs:[rip + VAR], reg`
    /// (not locked: it is atomic against interrupts on this CPU, which is what per-CPU data
    /// needs). Returns `Ok(previous)` if it was `current` (and is now `new`), `Err(previous)`
    /// otherwise, like [`AtomicU64::compare_exchange`].
    ///
    /// Success is decided by comparing the returned previous value with `current`, which is
    /// exactly the instruction's own test; a caller that only needs the previous value pays
    /// nothing for it.
    ///
    /// ```
    /// topframe_percpu::per_cpu! {
    ///     static OWNER: usize = 0;
    /// }
    /// topframe_percpu::install_on_current_thread(0).expect("arch_prctl");
    /// assert_eq!(OWNER.compare_exchange(0, 42), Ok(0));
    /// assert_eq!(OWNER.compare_exchange(0, 7), Err(42));
    /// assert_eq!(OWNER.read(), 42);
    /// ```
    #[inline(always)]
    pub fn compare_exchange(&self, current: T, new: T) -> Result<T, T> {
        let current_bits = current.to_bits();
        let previous_bits = M::compare_exchange(current_bits, new.to_bits());
        // SAFETY: the bits are the previous content of this CPU's copy of a `T`.
        let previous = unsafe { T::from_bits(previous_bits) };
        if previous_bits == current_bits {
            Ok(previous)
        } else {
            Err(previous)
        }
    }

    /// `cpu`'s value, read through the per-CPU offset table (not through GS), or `None` if
    /// `cpu` has no area (or is not below [`MAX_CPUS`](crate::MAX_CPUS)). A plain aligned
    /// load, so never torn, but `cpu` may change it at any moment. There is no remote
    /// write: a scalar is written by its own CPU only.
    ///
    /// ```
    /// topframe_percpu::per_cpu! {
    ///     static SYSCALLS: u64 = 0;
    /// }
    /// let cpu_1 = std::thread::spawn(|| {
    ///     topframe_percpu::install_on_current_thread(1).expect("arch_prctl");
    ///     SYSCALLS.add(5);
    /// });
    /// cpu_1.join().unwrap();
    /// assert_eq!(SYSCALLS.remote_read(1), Some(5));
    /// assert_eq!(SYSCALLS.remote_read(200), None); // no area for CPU 200
    /// ```
    pub fn remote_read(&'static self, cpu: usize) -> Option<T> {
        let copy = self.remote_copy(cpu)?;
        // Each `from_ptr` is sound because `copy` is `cpu`'s copy of a `T` of this width,
        // aligned like `T`, inside an area that lives forever (`init_area`'s contract), and
        // every other access to it is a single aligned instruction (this crate's accessors),
        // which is atomic at this width: the location may be treated as an atomic.
        let bits = match T::WIDTH {
            Width::Byte => {
                // SAFETY: see above.
                let atomic = unsafe { AtomicU8::from_ptr(copy.cast()) };
                u64::from(atomic.load(Ordering::Relaxed))
            }
            Width::Word => {
                // SAFETY: see above.
                let atomic = unsafe { AtomicU16::from_ptr(copy.cast()) };
                u64::from(atomic.load(Ordering::Relaxed))
            }
            Width::Dword => {
                // SAFETY: see above.
                let atomic = unsafe { AtomicU32::from_ptr(copy.cast()) };
                u64::from(atomic.load(Ordering::Relaxed))
            }
            Width::Qword => {
                // SAFETY: see above.
                let atomic = unsafe { AtomicU64::from_ptr(copy.cast()) };
                atomic.load(Ordering::Relaxed)
            }
        };
        // SAFETY: the bits were loaded from a copy of a `T`.
        Some(unsafe { T::from_bits(bits) })
    }
}

impl<T: Integer, M: ScalarSymbol<Value = T>> PerCpu<T, M> {
    /// Adds to this CPU's value, wrapping: `add gs:[rip + VAR], reg`.
    #[inline(always)]
    pub fn add(&self, value: T) {
        M::add(value.to_bits());
    }

    /// Subtracts from this CPU's value, wrapping: `sub gs:[rip + VAR], reg`.
    #[inline(always)]
    pub fn sub(&self, value: T) {
        M::sub(value.to_bits());
    }

    /// Adds one to this CPU's value, wrapping: `inc gs:[rip + VAR]`.
    #[inline(always)]
    pub fn inc(&self) {
        M::inc();
    }

    /// Subtracts one from this CPU's value, wrapping: `dec gs:[rip + VAR]`.
    #[inline(always)]
    pub fn dec(&self) {
        M::dec();
    }

    /// Adds to this CPU's value, wrapping, and returns the previous value:
    /// `xadd gs:[rip + VAR], reg` (not locked).
    ///
    /// ```
    /// topframe_percpu::per_cpu! {
    ///     static NEXT_ID: u32 = u32::MAX;
    /// }
    /// topframe_percpu::install_on_current_thread(0).expect("arch_prctl");
    /// assert_eq!(NEXT_ID.fetch_add(2), u32::MAX);
    /// assert_eq!(NEXT_ID.read(), 1); // wrapped
    /// ```
    #[inline(always)]
    pub fn fetch_add(&self, value: T) -> T {
        // SAFETY: the bits are the previous content of this CPU's copy of a `T`.
        unsafe { T::from_bits(M::fetch_add(value.to_bits())) }
    }

    /// Bitwise-ands this CPU's value with `value`: `and gs:[rip + VAR], reg`.
    #[inline(always)]
    pub fn and(&self, value: T) {
        M::and(value.to_bits());
    }

    /// Bitwise-ors this CPU's value with `value`: `or gs:[rip + VAR], reg`.
    #[inline(always)]
    pub fn or(&self, value: T) {
        M::or(value.to_bits());
    }
}

impl<T: Sync, M: SharedSymbol> PerCpu<T, M> {
    /// This CPU's copy, for as long as the CPU stays pinned.
    ///
    /// One GS-relative load of this CPU's offset (kept in the area, like Linux's
    /// `this_cpu_off`), a test and an add to the template's address. `pinned` proves that
    /// the caller stays on this CPU while the reference lives, so it is *this* CPU's copy
    /// for all of that time. `T: Sync` because interrupt handlers on this CPU and other CPUs
    /// (through [`remote`](Self::remote)) may use the same copy meanwhile.
    ///
    /// # Panics
    ///
    /// If this CPU (thread) has no area yet, i.e. its GS base is still 0: the template
    /// itself is never handed out, since every later area starts as a copy of it.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU64, Ordering};
    /// use topframe_percpu::CpuPinned;
    ///
    /// pub struct Stats {
    ///     pub page_faults: AtomicU64,
    /// }
    /// topframe_percpu::per_cpu! {
    ///     static STATS: Stats = Stats { page_faults: AtomicU64::new(0) };
    /// }
    ///
    /// topframe_percpu::install_on_current_thread(0).expect("arch_prctl");
    /// // A kernel makes the token inside its own guard (interrupts or preemption off).
    /// // SAFETY: this thread plays CPU 0 for its whole life and never changes its GS base.
    /// let pinned = unsafe { CpuPinned::new_unchecked() };
    /// let stats: &Stats = STATS.get(&pinned);
    /// stats.page_faults.fetch_add(1, Ordering::Relaxed);
    /// ```
    #[inline(always)]
    pub fn get<'a>(&'static self, pinned: &'a CpuPinned) -> &'a T {
        let _ = pinned;
        let offset = area::this_cpu_offset();
        assert!(
            offset != 0,
            "per-CPU data used before this CPU's GS base was loaded"
        );
        let copy = self.template.get().addr().wrapping_add(offset);
        // SAFETY: a nonzero offset comes from `init_area` (the GS-base loaders' contract), so
        // `copy` is this variable's place in this CPU's area (provenance exposed there),
        // holding a valid `T` for ever, only ever shared (`T: Sync`).
        unsafe { &*ptr::with_exposed_provenance::<T>(copy) }
    }

    /// `cpu`'s copy, reached through the per-CPU offset table (not through GS), or `None`
    /// if `cpu` is not below [`MAX_CPUS`](crate::MAX_CPUS) or has no area yet.
    ///
    /// Needs no pinning: the reference names `cpu`'s copy whichever CPU uses it, and lives
    /// for ever (areas are never freed). `cpu` itself and its interrupt handlers may use the
    /// same copy meanwhile, which is why `T: Sync`.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicBool, Ordering};
    ///
    /// topframe_percpu::per_cpu! {
    ///     /// Set by other CPUs, tested by this one.
    ///     static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
    /// }
    ///
    /// let cpu_3 = std::thread::spawn(|| {
    ///     topframe_percpu::install_on_current_thread(3).expect("arch_prctl");
    ///     // SAFETY: this thread plays CPU 3 for its whole life.
    ///     let pinned = unsafe { topframe_percpu::CpuPinned::new_unchecked() };
    ///     while !STOP_REQUESTED.get(&pinned).load(Ordering::Acquire) {
    ///         std::thread::yield_now();
    ///     }
    /// });
    /// while STOP_REQUESTED.remote(3).is_none() {
    ///     std::thread::yield_now(); // until CPU 3 has its area
    /// }
    /// STOP_REQUESTED.remote(3).unwrap().store(true, Ordering::Release);
    /// cpu_3.join().unwrap();
    /// ```
    pub fn remote(&'static self, cpu: usize) -> Option<&'static T> {
        let copy = self.remote_copy(cpu)?;
        // SAFETY: `copy` is this variable's place in `cpu`'s area, which holds a valid `T`
        // and lives forever (`init_area`'s contract); the copy is only ever shared, and
        // `T: Sync` allows sharing it with `cpu` and everybody else.
        Some(unsafe { &*copy })
    }
}
