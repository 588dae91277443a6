//! The traits that [`per_cpu!`](macro@crate::per_cpu) implements for each variable's marker type.
//! Not part of the public API: reached through `topframe_percpu::__private` by the macro.

pub use crate::scalar::Width;

/// Single-instruction accessors of one scalar per-CPU variable, implemented by
/// [`per_cpu!`](macro@crate::per_cpu) for the variable's marker type.
///
/// An `asm!` `sym` operand must name the static itself, so each variable carries its own
/// accessors; they are written once, in `__per_cpu_scalar_ops!`. Every method is one
/// GS-relative instruction on this CPU's copy, at the width of [`Self::Value`]; values travel
/// as bits (see [`Scalar`](crate::Scalar)), zero-extended to `u64`.
///
/// # Safety
///
/// The implementing type must be the marker of a static of the same name, of type
/// `PerCpu<Self::Value, Self>`, in the linker section `topframe_percpu`; each method must do
/// exactly what its name says to this CPU's copy of that static, at the width of
/// [`Self::Value`]; and the type must not implement [`SharedSymbol`].
pub unsafe trait ScalarSymbol {
    /// The variable's type.
    type Value: crate::Scalar;

    /// `mov reg, gs:[rip + VAR]`: this CPU's value.
    fn read() -> u64;
    /// `mov gs:[rip + VAR], reg`.
    fn write(bits: u64);
    /// `add gs:[rip + VAR], reg`.
    fn add(bits: u64);
    /// `sub gs:[rip + VAR], reg`.
    fn sub(bits: u64);
    /// `inc gs:[rip + VAR]`.
    fn inc();
    /// `dec gs:[rip + VAR]`.
    fn dec();
    /// `and gs:[rip + VAR], reg`.
    fn and(bits: u64);
    /// `or gs:[rip + VAR], reg`.
    fn or(bits: u64);
    /// `xadd gs:[rip + VAR], reg`: returns the previous value.
    fn fetch_add(bits: u64) -> u64;
    /// `xchg gs:[rip + VAR], reg`: returns the previous value.
    fn replace(bits: u64) -> u64;
    /// `cmpxchg gs:[rip + VAR], reg` with `current` in the accumulator: returns the previous
    /// value (equal to `current` exactly when `new` was stored).
    fn compare_exchange(current: u64, new: u64) -> u64;
}

/// Marks a per-CPU variable that is reached by reference
/// ([`PerCpu::get`](crate::PerCpu::get), [`PerCpu::remote`](crate::PerCpu::remote)),
/// implemented by [`per_cpu!`](macro@crate::per_cpu) for the variable's marker type.
///
/// # Safety
///
/// The implementing type must be the marker of a static of type `PerCpu<T, Self>` in the
/// linker section `topframe_percpu`, and must not implement [`ScalarSymbol`] (whose
/// accessors would change the value under shared references).
pub unsafe trait SharedSymbol {}
