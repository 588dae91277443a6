//! Links the test programs (the package's bins only; the host-side integration test
//! `tests/native.rs` is an ordinary std executable) as static non-PIE ELF executables with
//! no C start files and no libc: `_start` comes from `abi_test_main!`, and `memcpy` and
//! friends from `src/mem.rs`.
//!
//! rustc drives the linker through `cc` and, for the default `x86_64-unknown-linux-gnu`
//! target, asks for a dynamic PIE (`-pie`); these arguments come after its own, and the
//! last of `-pie` / `-no-pie` wins. The result (checked by `file` / `readelf -lh`): `ELF
//! 64-bit LSB executable` (ET_EXEC), statically linked, no PT_INTERP, loaded at 0x200000
//! (rust-lld's default base), so its static data lies below 4 GiB (the `int80` program
//! needs that). The code is still compiled position-independent, which a fixed-address
//! executable runs just as well.

/// The linker arguments, each with its reason.
const LINK_ARGS: [&str; 4] = [
    // No crt1.o / crti.o / crtbegin.o: the program's own `_start` is the entry point.
    "-nostartfiles",
    // No libc, libgcc or other default library either.
    "-nostdlib",
    // No dynamic linker, no shared libraries: nothing but the executable is loaded.
    "-static",
    // A fixed-address executable (ET_EXEC), not a (static) PIE.
    "-no-pie",
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for arg in LINK_ARGS {
        println!("cargo::rustc-link-arg-bins={arg}");
    }
}
