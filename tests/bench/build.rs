//! Links the benchmark program exactly as `topframe-abi-tests` links its programs (see its
//! build.rs for each argument's reason): a static non-PIE ELF executable (ET_EXEC, loaded
//! at 0x200000, so its static data lies below 4 GiB, where i386 `write` through
//! `int $0x80` can reach it), no C start files, no libc.

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
