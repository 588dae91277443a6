//! The value types that single-instruction accessors can move: [`Scalar`] and [`Integer`].
//!
//! A scalar travels between Rust and the accessor's `asm!` as raw bits in a `u64`; the
//! accessor uses only the low [`Width`] of them. Both traits are sealed: the list below is
//! exactly the set of types whose every bit pattern written by these accessors is a valid
//! value and whose size is 1, 2, 4 or 8 bytes.

use core::ptr;

/// Operand width of a scalar, i.e. which `byte`/`word`/`dword`/`qword ptr` form and
/// which register size its accessors use.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 1 byte: `byte ptr`, 8-bit registers (`al`, `sil`, ...).
    Byte,
    /// 2 bytes: `word ptr`, 16-bit registers (`ax`, `si`, ...).
    Word,
    /// 4 bytes: `dword ptr`, 32-bit registers (`eax`, `esi`, ...).
    Dword,
    /// 8 bytes: `qword ptr`, 64-bit registers (`rax`, `rsi`, ...).
    Qword,
}

mod sealed {
    pub trait Sealed {}
}

/// A type that per-CPU single-instruction accessors can read and write:
/// `u8`, `u16`, `u32`, `u64`, `usize`, `i8`, `i16`, `i32`, `i64`, `isize`, `bool`,
/// `*const T` and `*mut T` (thin pointers).
///
/// Sealed: the accessors rely on the size and the bit representation of exactly these types.
/// Its methods are hidden: the trait only bounds [`PerCpu`](crate::PerCpu)'s accessors.
pub trait Scalar: Copy + sealed::Sealed {
    /// Operand width of this type.
    #[doc(hidden)]
    const WIDTH: Width;

    /// This value's bits, zero-extended to 64 bits.
    #[doc(hidden)]
    fn to_bits(self) -> u64;

    /// The value whose bits are the low [`Self::WIDTH`] of `bits`.
    ///
    /// # Safety
    ///
    /// Those low bits must be a valid `Self`: they come from [`Scalar::to_bits`] of a `Self`,
    /// or from memory that holds a `Self`.
    #[doc(hidden)]
    unsafe fn from_bits(bits: u64) -> Self;
}

/// A [`Scalar`] integer type: the one that arithmetic and bitwise accessors (`add`, `sub`,
/// `inc`, `dec`, `fetch_add`, `and`, `or`) accept. Arithmetic wraps, like the instructions.
/// The integer types of [`Scalar`], i.e. all but `bool` and pointers; sealed too.
///
/// ```compile_fail
/// topframe_percpu::per_cpu! {
///     static FLAG: bool = false;
/// }
/// FLAG.inc(); // error: `bool` is a `Scalar` but not an `Integer`
/// ```
pub trait Integer: Scalar {}

/// Implements [`Scalar`] and [`Integer`] for an integer type `$int` whose unsigned
/// counterpart of the same width is `$unsigned`.
macro_rules! integer {
    ($($int:ty => $unsigned:ty, $width:ident;)*) => {$(
        impl sealed::Sealed for $int {}

        impl Scalar for $int {
            const WIDTH: Width = Width::$width;

            #[inline(always)]
            fn to_bits(self) -> u64 {
                // Reinterpret as unsigned first, so the widening below zero-extends.
                self as $unsigned as u64
            }

            #[inline(always)]
            unsafe fn from_bits(bits: u64) -> Self {
                // Truncation to the type's width is the point: only the low bits are the value.
                bits as $unsigned as $int
            }
        }

        impl Integer for $int {}
    )*};
}

integer! {
    u8 => u8, Byte;
    u16 => u16, Word;
    u32 => u32, Dword;
    u64 => u64, Qword;
    usize => u64, Qword;
    i8 => u8, Byte;
    i16 => u16, Word;
    i32 => u32, Dword;
    i64 => u64, Qword;
    isize => u64, Qword;
}

impl sealed::Sealed for bool {}

impl Scalar for bool {
    const WIDTH: Width = Width::Byte;

    #[inline(always)]
    fn to_bits(self) -> u64 {
        u64::from(self)
    }

    #[inline(always)]
    #[allow(
        clippy::transmute_int_to_bool,
        reason = "`!= 0` would add a test and a setne to every read"
    )]
    unsafe fn from_bits(bits: u64) -> Self {
        // SAFETY: the caller guarantees the low byte is a valid `bool` (0 or 1). A transmute
        // instead of `!= 0` keeps a read of a per-CPU `bool` to the load alone.
        unsafe { core::mem::transmute::<u8, bool>(bits as u8) }
    }
}

impl<T> sealed::Sealed for *const T {}

impl<T> Scalar for *const T {
    const WIDTH: Width = Width::Qword;

    #[inline(always)]
    fn to_bits(self) -> u64 {
        // Exposed, so that `from_bits` on the way back out of the asm can pick it up again.
        self.expose_provenance() as u64
    }

    #[inline(always)]
    unsafe fn from_bits(bits: u64) -> Self {
        ptr::with_exposed_provenance(bits as usize)
    }
}

impl<T> sealed::Sealed for *mut T {}

impl<T> Scalar for *mut T {
    const WIDTH: Width = Width::Qword;

    #[inline(always)]
    fn to_bits(self) -> u64 {
        // Exposed, so that `from_bits` on the way back out of the asm can pick it up again.
        self.expose_provenance() as u64
    }

    #[inline(always)]
    unsafe fn from_bits(bits: u64) -> Self {
        ptr::with_exposed_provenance_mut(bits as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::{Scalar, Width};
    use core::mem::size_of;

    /// `WIDTH` is the type's size, which is what the accessors' operand sizes rely on.
    fn width_matches_size<T: Scalar>() {
        let bytes = match T::WIDTH {
            Width::Byte => 1,
            Width::Word => 2,
            Width::Dword => 4,
            Width::Qword => 8,
        };
        assert_eq!(bytes, size_of::<T>());
    }

    #[test]
    fn widths_are_sizes() {
        width_matches_size::<u8>();
        width_matches_size::<u16>();
        width_matches_size::<u32>();
        width_matches_size::<u64>();
        width_matches_size::<usize>();
        width_matches_size::<i8>();
        width_matches_size::<i16>();
        width_matches_size::<i32>();
        width_matches_size::<i64>();
        width_matches_size::<isize>();
        width_matches_size::<bool>();
        width_matches_size::<*const u128>();
        width_matches_size::<*mut u8>();
    }

    #[test]
    fn bits_round_trip() {
        assert_eq!((-1i8).to_bits(), 0xff);
        assert_eq!((-2i32).to_bits(), 0xffff_fffe);
        // SAFETY: every bit pattern is a valid integer.
        let low_half = unsafe { i16::from_bits(0xdead_8001) };
        assert_eq!(low_half, i16::from_be_bytes([0x80, 0x01]));
        // SAFETY: 1 is a valid `bool`.
        assert!(unsafe { bool::from_bits(true.to_bits()) });
        let value = 7u32;
        let pointer: *const u32 = &value;
        // SAFETY: the bits come from `to_bits` of a `*const u32`.
        let back = unsafe { <*const u32>::from_bits(pointer.to_bits()) };
        assert_eq!(back, pointer);
    }
}
