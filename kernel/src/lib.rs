//! The host-testable part of the topframe reference kernel: address layout, physical
//! frame allocation, boot-information parsing, the command line and user memory areas. The bootable image
//! (`src/image/`) is built by `cargo xtask` for `x86_64-unknown-none` and uses these.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cmdline;
pub mod frames;
pub mod layout;
pub mod pvh;
pub mod vma;

/// The most CPUs the kernel brings online (`cargo xtask qemu --smp` accepts 1..=MAX_CPUS).
pub const MAX_CPUS: usize = 64;
