//! Every single-instruction accessor at every width, wrapping included.

mod common;

use std::thread;

use topframe_percpu::per_cpu;

per_cpu! {
    static U8: u8 = 0;
    static U16: u16 = 0;
    static U32: u32 = 0;
    static U64: u64 = 0;
    static USIZE: usize = 0;
    static I8: i8 = 0;
    static I16: i16 = 0;
    static I32: i32 = 0;
    static I64: i64 = 0;
    static ISIZE: isize = 0;
    static FLAG: bool = false;
    static CONST_POINTER: *const u64 = core::ptr::null();
    static MUT_POINTER: *mut u16 = core::ptr::null_mut();
    /// Initialized to something other than zero.
    static PRESET: u32 = 0xdead_beef;
}

/// Runs `test` on a fresh thread that is a fresh CPU.
fn on_own_cpu(test: impl FnOnce() + Send) {
    thread::scope(|scope| {
        scope
            .spawn(|| {
                common::become_new_cpu();
                test();
            })
            .join()
            .expect("test thread panicked");
    });
}

/// Exercises every integer accessor of `$var: $ty`.
macro_rules! integer_accessors {
    ($($test:ident: $var:ident: $ty:ty;)*) => {$(
        #[test]
        fn $test() {
            on_own_cpu(|| {
                assert_eq!($var.read(), 0);
                $var.write(<$ty>::MAX);
                assert_eq!($var.read(), <$ty>::MAX);
                // Wrapping at the top and at the bottom.
                $var.inc();
                assert_eq!($var.read(), <$ty>::MIN);
                $var.dec();
                assert_eq!($var.read(), <$ty>::MAX);
                $var.add(3);
                assert_eq!($var.read(), <$ty>::MAX.wrapping_add(3));
                $var.sub(5);
                assert_eq!($var.read(), <$ty>::MAX.wrapping_sub(2));
                $var.write(<$ty>::MIN);
                $var.sub(1);
                assert_eq!($var.read(), <$ty>::MAX);
                // Bitwise.
                $var.write(0b1100);
                $var.and(0b1010);
                assert_eq!($var.read(), 0b1000);
                $var.or(0b0011);
                assert_eq!($var.read(), 0b1011);
                // fetch_add returns the previous value and wraps.
                $var.write(10);
                assert_eq!($var.fetch_add(5), 10);
                assert_eq!($var.read(), 15);
                $var.write(<$ty>::MAX);
                assert_eq!($var.fetch_add(2), <$ty>::MAX);
                assert_eq!($var.read(), <$ty>::MAX.wrapping_add(2));
                // replace returns the previous value.
                assert_eq!($var.replace(7), <$ty>::MAX.wrapping_add(2));
                assert_eq!($var.read(), 7);
                // compare_exchange: success, then failure.
                assert_eq!($var.compare_exchange(7, 9), Ok(7));
                assert_eq!($var.read(), 9);
                assert_eq!($var.compare_exchange(7, 11), Err(9));
                assert_eq!($var.read(), 9);
                // Every bit of the width takes part.
                $var.write(<$ty>::MIN);
                assert_eq!($var.compare_exchange(<$ty>::MIN, <$ty>::MAX), Ok(<$ty>::MIN));
                assert_eq!($var.read(), <$ty>::MAX);
                assert_eq!($var.compare_exchange(<$ty>::MAX - 1, 0), Err(<$ty>::MAX));
                // Negative numbers (a no-op check for unsigned types: 0 - 1 wraps to MAX).
                $var.write(0);
                $var.sub(1);
                assert_eq!($var.read(), (0 as $ty).wrapping_sub(1));
            });
        }
    )*};
}

integer_accessors! {
    accessors_u8: U8: u8;
    accessors_u16: U16: u16;
    accessors_u32: U32: u32;
    accessors_u64: U64: u64;
    accessors_usize: USIZE: usize;
    accessors_i8: I8: i8;
    accessors_i16: I16: i16;
    accessors_i32: I32: i32;
    accessors_i64: I64: i64;
    accessors_isize: ISIZE: isize;
}

#[test]
fn narrow_writes_stay_in_their_width() {
    on_own_cpu(|| {
        // Neighbouring variables are untouched by a narrow accessor.
        U32.write(0);
        U16.write(0);
        U8.write(0xff);
        U8.inc();
        assert_eq!(U8.read(), 0);
        U16.write(0xffff);
        U16.add(1);
        assert_eq!(U16.read(), 0);
        assert_eq!(U32.read(), 0);
        assert_eq!(U64.read(), 0);
    });
}

#[test]
fn bool_accessors() {
    on_own_cpu(|| {
        assert!(!FLAG.read());
        FLAG.write(true);
        assert!(FLAG.read());
        assert!(FLAG.replace(false));
        assert!(!FLAG.read());
        assert_eq!(FLAG.compare_exchange(false, true), Ok(false));
        assert!(FLAG.read());
        assert_eq!(FLAG.compare_exchange(false, true), Err(true));
        assert_eq!(FLAG.compare_exchange(true, false), Ok(true));
        assert!(!FLAG.read());
    });
}

#[test]
fn pointer_accessors() {
    on_own_cpu(|| {
        let first = 1u64;
        let second = 2u64;
        assert!(CONST_POINTER.read().is_null());
        CONST_POINTER.write(&first);
        // SAFETY: the pointer was just stored and `first` is alive.
        assert_eq!(unsafe { *CONST_POINTER.read() }, 1);
        assert_eq!(CONST_POINTER.replace(&second), &first as *const u64);
        assert_eq!(
            CONST_POINTER.compare_exchange(&second, core::ptr::null()),
            Ok(&second as *const u64)
        );
        assert_eq!(
            CONST_POINTER.compare_exchange(&first, &second),
            Err(core::ptr::null())
        );

        let mut target = 5u16;
        MUT_POINTER.write(&mut target);
        // SAFETY: the pointer came from `&mut target`, which is not used otherwise meanwhile.
        unsafe { *MUT_POINTER.read() += 1 };
        assert_eq!(target, 6);
    });
}

#[test]
fn initial_values_come_from_the_template() {
    on_own_cpu(|| {
        assert_eq!(PRESET.read(), 0xdead_beef);
        PRESET.write(1);
    });
    on_own_cpu(|| assert_eq!(PRESET.read(), 0xdead_beef));
}
