//! CPU affinity (`sched_setaffinity`, `sched_getaffinity`), `getcpu` and `sched_yield`.
//!
//! pid 0 in the affinity calls means the calling thread (affinity is per thread; a new
//! thread or process starts with its creator's).

use crate::nr;
use crate::runtime::fail_in_library;
use crate::syscall::{syscall0, syscall3};

/// The CPUs a [`CpuSet`] can name: as glibc's `cpu_set_t`.
pub const MAX_CPUS: usize = 1024;

/// A CPU mask as the affinity calls take it: bit `n` of the array (little-endian words)
/// is CPU `n`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CpuSet {
    words: [u64; MAX_CPUS / 64],
}

impl CpuSet {
    /// No CPU.
    pub const EMPTY: Self = Self {
        words: [0; MAX_CPUS / 64],
    };

    /// Only `cpu`.
    pub fn single(cpu: usize) -> Self {
        let mut set = Self::EMPTY;
        set.insert(cpu);
        set
    }

    /// Adds `cpu` (below [`MAX_CPUS`]).
    pub fn insert(&mut self, cpu: usize) {
        self.words[cpu / 64] |= 1 << (cpu % 64);
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.words[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    /// How many CPUs the set holds.
    pub fn count(&self) -> usize {
        self.words
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum()
    }

    /// The CPUs in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_CPUS).filter(|&cpu| self.contains(cpu))
    }

    /// The `index`th CPU of the set (ascending, from 0), if it has that many.
    pub fn nth(&self, index: usize) -> Option<usize> {
        self.iter().nth(index)
    }

    /// The size in bytes the affinity calls get for a whole set.
    pub const fn size() -> u64 {
        core::mem::size_of::<Self>() as u64
    }
}

impl core::fmt::Debug for CpuSet {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        formatter.debug_set().entries(self.iter()).finish()
    }
}

/// `sched_getaffinity(pid, length, set)`: on success the number of bytes the kernel wrote
/// (its cpumask size, a multiple of 8, at most `length`); else `-errno`. `length` is at
/// most [`CpuSet::size`]. The bytes past what the kernel wrote stay as they were.
pub fn getaffinity_raw(pid: i64, length: u64, set: &mut CpuSet) -> i64 {
    assert!(
        length <= CpuSet::size(),
        "sched_getaffinity length {length}"
    );
    // SAFETY: the kernel writes at most `length` bytes into `set`, which is at least that
    // large.
    unsafe {
        syscall3(
            nr::SCHED_GETAFFINITY,
            pid as u64,
            length,
            set as *mut CpuSet as u64,
        )
    }
}

/// `sched_setaffinity(pid, size of CpuSet, set)`: 0 or `-errno`.
pub fn setaffinity(pid: i64, set: &CpuSet) -> i64 {
    // SAFETY: the kernel only reads the set.
    unsafe {
        syscall3(
            nr::SCHED_SETAFFINITY,
            pid as u64,
            CpuSet::size(),
            set as *const CpuSet as u64,
        )
    }
}

/// The calling thread's affinity (`sched_getaffinity(0, ...)`); fails the program if the
/// call fails or returns an empty set.
pub fn allowed_cpus() -> CpuSet {
    let mut set = CpuSet::EMPTY;
    let result = getaffinity_raw(0, CpuSet::size(), &mut set);
    if result <= 0 || set.count() == 0 {
        fail_in_library(format_args!(
            "sched_getaffinity(0) returned {result}, set {set:?}"
        ));
    }
    set
}

/// Restricts the calling thread to `cpu` (`sched_setaffinity(0, {cpu})`); fails the
/// program if the call fails. On return the thread runs on `cpu` (Linux migrates it
/// before the call returns).
pub fn pin_to(cpu: usize) {
    let result = setaffinity(0, &CpuSet::single(cpu));
    if result != 0 {
        fail_in_library(format_args!(
            "sched_setaffinity(0, {{{cpu}}}) returned {result}"
        ));
    }
}

/// `getcpu(&cpu, &node, NULL)`: the CPU the calling thread runs on; fails the program if
/// the call fails.
pub fn getcpu() -> u32 {
    let mut cpu = u32::MAX;
    let mut node = u32::MAX;
    // SAFETY: getcpu writes the two u32s, locals.
    let result = unsafe { syscall3(nr::GETCPU, &raw mut cpu as u64, &raw mut node as u64, 0) };
    if result != 0 {
        fail_in_library(format_args!("getcpu returned {result}"));
    }
    cpu
}

/// `sched_yield`; fails the program if it does not return 0.
pub fn yield_now() {
    // SAFETY: sched_yield touches no memory.
    let result = unsafe { syscall0(nr::SCHED_YIELD) };
    if result != 0 {
        fail_in_library(format_args!("sched_yield returned {result}"));
    }
}
