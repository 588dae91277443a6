//! Sets of CPUs: the online mask, affinity masks, the CPUs a TLB shootdown must reach.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// Largest CPU number + 1 a set can hold.
pub const MAX_CPUS: usize = 256;

const WORDS: usize = MAX_CPUS / 64;

/// A set of CPU numbers below [`MAX_CPUS`] (Linux's `cpumask_t`, and the layout of the
/// `sched_setaffinity` mask: bit `n % 64` of word `n / 64`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CpuSet {
    words: [u64; WORDS],
}

impl CpuSet {
    /// No CPU.
    pub const fn new() -> CpuSet {
        CpuSet { words: [0; WORDS] }
    }

    /// Every CPU below [`MAX_CPUS`] (the affinity of a task nobody restricted).
    pub const fn all() -> CpuSet {
        CpuSet {
            words: [u64::MAX; WORDS],
        }
    }

    /// CPUs `0..count`.
    pub fn first(count: usize) -> CpuSet {
        let mut set = CpuSet::new();
        for cpu in 0..count.min(MAX_CPUS) {
            set.insert(cpu);
        }
        set
    }

    /// Add `cpu`; returns false (and changes nothing) when `cpu >= MAX_CPUS`.
    pub fn insert(&mut self, cpu: usize) -> bool {
        if cpu >= MAX_CPUS {
            return false;
        }
        self.words[cpu / 64] |= 1 << (cpu % 64);
        true
    }

    /// Remove `cpu`.
    pub fn remove(&mut self, cpu: usize) {
        if cpu < MAX_CPUS {
            self.words[cpu / 64] &= !(1 << (cpu % 64));
        }
    }

    /// True when `cpu` is in the set.
    pub fn contains(&self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.words[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    /// Number of CPUs in the set.
    pub fn len(&self) -> usize {
        self.words
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&word| word == 0)
    }

    /// CPUs in both sets.
    pub fn intersection(&self, other: &CpuSet) -> CpuSet {
        CpuSet {
            words: core::array::from_fn(|index| self.words[index] & other.words[index]),
        }
    }

    /// The CPUs in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..WORDS).flat_map(move |index| {
            let mut word = self.words[index];
            core::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                Some(index * 64 + bit)
            })
        })
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A [`CpuSet`] that CPUs update concurrently (each bit independently atomic).
#[derive(Default)]
pub struct AtomicCpuSet {
    words: [AtomicU64; WORDS],
}

impl AtomicCpuSet {
    /// No CPU.
    pub const fn new() -> AtomicCpuSet {
        AtomicCpuSet {
            words: [const { AtomicU64::new(0) }; WORDS],
        }
    }

    /// Add `cpu`; returns whether it was already present. Ignores `cpu >= MAX_CPUS`.
    pub fn insert(&self, cpu: usize) -> bool {
        if cpu >= MAX_CPUS {
            return false;
        }
        let bit = 1 << (cpu % 64);
        self.words[cpu / 64].fetch_or(bit, Ordering::AcqRel) & bit != 0
    }

    /// Remove `cpu`; returns whether it was present.
    pub fn remove(&self, cpu: usize) -> bool {
        if cpu >= MAX_CPUS {
            return false;
        }
        let bit = 1 << (cpu % 64);
        self.words[cpu / 64].fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    /// True when `cpu` is in the set now.
    pub fn contains(&self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.words[cpu / 64].load(Ordering::Acquire) & (1 << (cpu % 64)) != 0
    }

    /// The set as it is now (each word read atomically).
    pub fn snapshot(&self) -> CpuSet {
        CpuSet {
            words: core::array::from_fn(|index| self.words[index].load(Ordering::Acquire)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn insert_remove_contains() {
        let mut set = CpuSet::new();
        assert!(set.is_empty());
        assert!(set.insert(0) && set.insert(63) && set.insert(64) && set.insert(255));
        assert!(!set.insert(MAX_CPUS));
        assert_eq!(set.len(), 4);
        assert!(set.contains(63) && set.contains(64) && !set.contains(65));
        assert!(!set.contains(MAX_CPUS));
        set.remove(63);
        set.remove(1000);
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 64, 255]);
        assert_eq!(std::format!("{set:?}"), "{0, 64, 255}");
    }

    #[test]
    fn first_and_intersection() {
        let four = CpuSet::first(4);
        assert_eq!(four.iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(CpuSet::first(1000).len(), MAX_CPUS);
        assert_eq!(CpuSet::all(), CpuSet::first(MAX_CPUS));
        let mut odd = CpuSet::new();
        for cpu in (1..10).step_by(2) {
            odd.insert(cpu);
        }
        assert_eq!(four.intersection(&odd).iter().collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn atomic_set_from_many_threads() {
        let set = AtomicCpuSet::new();
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let set = &set;
                scope.spawn(move || {
                    for cpu in (thread..MAX_CPUS).step_by(8) {
                        assert!(!set.insert(cpu));
                    }
                });
            }
        });
        assert_eq!(set.snapshot().len(), MAX_CPUS);
        assert!(set.remove(17));
        assert!(!set.remove(17));
        assert!(!set.contains(17) && set.contains(18));
        assert_eq!(set.snapshot().len(), MAX_CPUS - 1);
    }
}
