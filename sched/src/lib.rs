//! A kernel-agnostic multi-core scheduler for x86_64 kernels.
//!
//! This first part holds the CPU sets every other piece works with: the online mask,
//! affinity masks (the `sched_setaffinity` bit layout), and the targets of cross-CPU
//! work. The crate is `no_std`, knows nothing of any kernel, and is tested on the host.
#![no_std]

mod cpu_set;

pub use cpu_set::{AtomicCpuSet, CpuSet, MAX_CPUS};
