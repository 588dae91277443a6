//! References to this CPU's copy (with the CPU pinned), remote CPUs, CPU numbers, layout.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, mpsc};
use std::thread;

use topframe_percpu::{AREA_ALIGN, CpuPinned, MAX_CPUS, area_layout, cpu_id, online_cpus, per_cpu};

/// A struct type: reached by reference.
pub struct Statistics {
    pub interrupts: AtomicU64,
    pub switches: AtomicU64,
    pub queue: spin::Mutex<Vec<u32>>,
}

/// 128-aligned, like the most aligned per-CPU variable may be.
#[repr(align(128))]
pub struct Aligned {
    pub value: AtomicUsize,
}

per_cpu! {
    static STATISTICS: Statistics = Statistics {
        interrupts: AtomicU64::new(0),
        switches: AtomicU64::new(7),
        queue: spin::Mutex::new(Vec::new()),
    };
    static ALIGNED: Aligned = Aligned { value: AtomicUsize::new(0) };
    static LOAD: u32 = 0;
}

/// Pins "the CPU" for the rest of a test thread: a host thread is its own CPU forever.
fn pinned() -> CpuPinned {
    // SAFETY: the calling thread never changes its GS base after `become_new_cpu`, so it
    // stays on its "CPU" for as long as it lives.
    unsafe { CpuPinned::new_unchecked() }
}

#[test]
fn get_returns_this_cpus_copy_of_a_struct() {
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let cpu = common::become_new_cpu();
                let pinned = pinned();
                let statistics = STATISTICS.get(&pinned);
                assert_eq!(statistics.switches.load(Ordering::Relaxed), 7);
                statistics
                    .interrupts
                    .fetch_add(cpu as u64, Ordering::Relaxed);
                statistics.queue.lock().push(cpu as u32);
                // The same copy again, and not the template.
                assert!(core::ptr::eq(statistics, STATISTICS.get(&pinned)));
                assert!(!core::ptr::eq(
                    statistics as *const Statistics as *const u8,
                    &STATISTICS as *const _ as *const u8
                ));
                assert_eq!(
                    STATISTICS.get(&pinned).interrupts.load(Ordering::Relaxed),
                    cpu as u64
                );
                assert_eq!(*STATISTICS.get(&pinned).queue.lock(), [cpu as u32]);
                // `get` and `remote` agree on this CPU's copy.
                assert!(core::ptr::eq(statistics, STATISTICS.remote(cpu).unwrap()));
            });
        }
    });
}

#[test]
fn copies_keep_the_variables_alignment() {
    thread::scope(|scope| {
        scope.spawn(|| {
            let cpu = common::become_new_cpu();
            let pinned = pinned();
            let aligned = ALIGNED.get(&pinned);
            aligned.value.store(cpu, Ordering::Relaxed);
            // `black_box`: the optimizer knows the template's alignment and would otherwise
            // fold the check (and with it every use of `ALIGNED`) away.
            let address = std::hint::black_box(aligned as *const Aligned).addr();
            assert_eq!(address % 128, 0);
            assert_eq!(
                ALIGNED.remote(cpu).unwrap().value.load(Ordering::Relaxed),
                cpu
            );
            let statistics: *const Statistics = STATISTICS.get(&pinned);
            assert_eq!(
                std::hint::black_box(statistics).addr() % align_of::<Statistics>(),
                0
            );
        });
    });
}

#[test]
fn remote_cpus_are_reached_through_the_table() {
    const WRITERS: usize = 8;
    let (cpu_sender, cpu_receiver) = mpsc::channel();
    let written = Barrier::new(WRITERS + 1);
    let checked = Barrier::new(WRITERS + 1);
    thread::scope(|scope| {
        for index in 0..WRITERS {
            let cpu_sender = cpu_sender.clone();
            let (written, checked) = (&written, &checked);
            scope.spawn(move || {
                let cpu = common::become_new_cpu();
                let pinned = pinned();
                STATISTICS
                    .get(&pinned)
                    .interrupts
                    .store(1000 + index as u64, Ordering::Relaxed);
                LOAD.write(index as u32 * 3);
                cpu_sender.send((cpu, index)).unwrap();
                drop(cpu_sender);
                written.wait();
                // Stay alive (and keep the values) until the reader is done.
                checked.wait();
                // The reader wrote into this CPU's copy.
                assert_eq!(
                    STATISTICS.get(&pinned).switches.load(Ordering::Relaxed),
                    2000 + index as u64
                );
            });
        }
        drop(cpu_sender);
        // The reader is a CPU of its own, reading the others remotely.
        let reader = common::become_new_cpu();
        written.wait();
        let writers: Vec<(usize, usize)> = cpu_receiver.iter().take(WRITERS).collect();
        assert_eq!(writers.len(), WRITERS);
        for &(cpu, index) in &writers {
            assert_ne!(cpu, reader);
            let remote = STATISTICS.remote(cpu).expect("writer has an area");
            assert_eq!(
                remote.interrupts.load(Ordering::Relaxed),
                1000 + index as u64
            );
            remote
                .switches
                .store(2000 + index as u64, Ordering::Relaxed);
            assert_eq!(LOAD.remote_read(cpu), Some(index as u32 * 3));
            assert!(online_cpus().any(|online| online == cpu));
        }
        // The reader's own copy was not touched by anybody.
        let pinned = pinned();
        assert_eq!(
            STATISTICS.get(&pinned).interrupts.load(Ordering::Relaxed),
            0
        );
        checked.wait();
    });
}

#[test]
fn unknown_cpus_have_no_copy() {
    assert!(STATISTICS.remote(MAX_CPUS).is_none());
    assert!(STATISTICS.remote(usize::MAX).is_none());
    assert!(LOAD.remote_read(MAX_CPUS - 1).is_none());
    assert!(online_cpus().all(|cpu| cpu < MAX_CPUS - 1));
}

#[test]
fn cpu_id_is_per_thread() {
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let cpu = common::become_new_cpu();
                for _ in 0..1000 {
                    assert_eq!(cpu_id(), cpu);
                }
            });
        }
    });
}

#[test]
fn a_thread_without_an_area_has_no_cpu() {
    thread::scope(|scope| {
        scope.spawn(|| {
            assert_eq!(cpu_id(), topframe_percpu::NO_CPU);
            let result = std::panic::catch_unwind(|| {
                let pinned = pinned();
                STATISTICS.get(&pinned).interrupts.load(Ordering::Relaxed)
            });
            assert!(result.is_err(), "get must refuse the template");
        });
    });
}

#[test]
fn area_layout_covers_every_variable_and_is_aligned() {
    let layout = area_layout();
    assert_eq!(AREA_ALIGN, 128);
    assert_eq!(layout.align(), AREA_ALIGN);
    assert_eq!(layout.size() % AREA_ALIGN, 0);
    // This crate's block (128 bytes) plus at least the variables declared here.
    assert!(
        layout.size() >= 128 + size_of::<Statistics>() + size_of::<Aligned>() + size_of::<u32>()
    );
}
