//! In-kernel self tests, compiled with the `selftest` feature and run by the command
//! line: `selftest` runs every test, `selftest=NAME` runs one (the deliberate crashes
//! run only when named). Each test is a plain function registered with [`selftest!`];
//! the registry is the `selftests` link section, so no nightly test framework is needed.
//!
//! Output, read by `cargo xtask test`: `[selftest] NAME ... ok` or
//! `[selftest] NAME ... FAILED: REASON`, then `[selftest] P passed, F failed`.

use alloc::string::String;

/// One registered test.
pub struct SelfTest {
    pub name: &'static str,
    /// Run only when named on the command line (it ends the kernel on purpose).
    pub crash: bool,
    pub run: fn() -> Result<(), String>,
}

/// Register a self test: `selftest!(name, || { ...; Ok(()) })`, or
/// `selftest!(crash name, || ...)` for one that must bring the kernel down.
#[macro_export]
macro_rules! selftest {
    (@register $name:ident, $crash:expr, $body:expr) => {
        const _: () = {
            #[used]
            #[unsafe(link_section = "selftests")]
            static TEST: $crate::selftest::SelfTest = $crate::selftest::SelfTest {
                name: stringify!($name),
                crash: $crash,
                run: $body,
            };
        };
    };
    (crash $name:ident, $body:expr) => { $crate::selftest!(@register $name, true, $body); };
    ($name:ident, $body:expr) => { $crate::selftest!(@register $name, false, $body); };
}

unsafe extern "C" {
    // Bounds of the `selftests` section (linker script); only their addresses are used.
    static __start_selftests: u8;
    static __stop_selftests: u8;
}

/// Every registered test.
fn registry() -> &'static [SelfTest] {
    let start = (&raw const __start_selftests).cast::<SelfTest>();
    let stop = (&raw const __stop_selftests).cast::<SelfTest>();
    // SAFETY: the linker script brackets the `selftests` section, which holds only
    // `SelfTest` statics (the macro is the only writer), contiguously and aligned.
    unsafe { core::slice::from_raw_parts(start, stop.offset_from(start) as usize) }
}

/// Run the tests `selection` asks for: `None` = all but the crashes, `Some(name)` = that
/// one. Returns (passed, failed).
pub fn run(selection: Option<&str>) -> (usize, usize) {
    let mut passed = 0;
    let mut failed = 0;
    let chosen = registry().iter().filter(|test| match selection {
        None => !test.crash,
        Some(name) => test.name == name,
    });
    for test in chosen {
        defmt::info!("self test {=str}", test.name);
        match (test.run)() {
            Ok(()) => {
                crate::println!("[selftest] {} ... ok", test.name);
                passed += 1;
            }
            Err(reason) => {
                crate::println!("[selftest] {} ... FAILED: {reason}", test.name);
                failed += 1;
            }
        }
    }
    if passed + failed == 0 {
        crate::println!("[selftest] no test named {:?}", selection.unwrap_or(""));
        failed += 1;
    }
    crate::println!("[selftest] {passed} passed, {failed} failed");
    (passed, failed)
}

/// `Err(message)` unless `condition` holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            return Err(alloc::format!($($message)*));
        }
    };
}
