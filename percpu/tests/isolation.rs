//! Every thread (CPU) sees only its own copies, however many threads write at once.

mod common;

use std::sync::Barrier;
use std::thread;

use topframe_percpu::{cpu_id, per_cpu};

per_cpu! {
    static COUNTER: u64 = 0;
    static LAST_WRITTEN: u32 = 0;
    static TAG: u8 = 0;
    static OWNER: *const u8 = core::ptr::null();
}

const THREADS: usize = 12;
const ROUNDS: u64 = 100_000;

#[test]
fn threads_never_see_each_others_values() {
    let start = Barrier::new(THREADS);
    thread::scope(|scope| {
        for index in 0..THREADS {
            let start = &start;
            scope.spawn(move || {
                let cpu = common::become_new_cpu();
                assert_eq!(cpu_id(), cpu);
                let tag = index as u8 + 1;
                let owner: *const u8 = &tag;
                TAG.write(tag);
                OWNER.write(owner);
                // All threads hammer their copies at the same time.
                start.wait();
                for round in 0..ROUNDS {
                    COUNTER.inc();
                    let value = (index as u32) << 24 | round as u32;
                    LAST_WRITTEN.write(value);
                    assert_eq!(LAST_WRITTEN.read(), value);
                    assert_eq!(TAG.read(), tag);
                }
                assert_eq!(COUNTER.read(), ROUNDS);
                assert_eq!(OWNER.read(), owner);
                assert_eq!(cpu_id(), cpu);
            });
        }
    });
}

#[test]
fn a_new_area_starts_from_the_template() {
    thread::scope(|scope| {
        scope.spawn(|| {
            common::become_new_cpu();
            COUNTER.add(41);
            COUNTER.inc();
            assert_eq!(COUNTER.read(), 42);
        });
    });
    thread::scope(|scope| {
        scope.spawn(|| {
            common::become_new_cpu();
            assert_eq!(COUNTER.read(), 0);
            assert!(OWNER.read().is_null());
        });
    });
}
