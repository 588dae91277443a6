//! `init_area` refuses what would break the layout.

use std::alloc::{alloc, dealloc};
use std::panic::catch_unwind;

use topframe_percpu::{AREA_ALIGN, MAX_CPUS, area_layout, init_area};

/// Runs `init_area(cpu, area + shift)` on a fresh allocation and frees it afterwards.
fn try_init(cpu: usize, shift: usize) -> std::thread::Result<u64> {
    let layout = area_layout()
        .extend(area_layout())
        .expect("two areas fit")
        .0;
    // SAFETY: the layout has a nonzero size.
    let block = unsafe { alloc(layout) };
    assert!(!block.is_null());
    let area = block.wrapping_add(shift);
    // SAFETY: `area` is inside a block big enough for an area even when shifted; the block is
    // freed below only when `init_area` refused it (panicked before publishing it).
    let result = catch_unwind(|| unsafe { init_area(cpu, area) });
    if result.is_err() {
        // SAFETY: allocated above with this layout and not published.
        unsafe { dealloc(block, layout) };
    }
    result
}

#[test]
fn rejects_cpu_numbers_beyond_max_cpus() {
    assert!(try_init(MAX_CPUS, 0).is_err());
}

#[test]
fn rejects_misaligned_areas() {
    assert!(try_init(0, 8).is_err());
    assert!(try_init(0, AREA_ALIGN / 2).is_err());
}

#[test]
fn rejects_null() {
    // SAFETY: `init_area` checks for null before touching the area.
    let result = catch_unwind(|| unsafe { init_area(0, std::ptr::null_mut()) });
    assert!(result.is_err());
}

#[test]
fn base_is_area_minus_template() {
    let area_one = try_init(1, 0).expect("aligned area accepted");
    let area_two = try_init(2, AREA_ALIGN).expect("aligned area accepted");
    // Two different areas, two different bases, both multiples of the alignment.
    assert_ne!(area_one, area_two);
    assert_eq!(area_one % AREA_ALIGN as u64, 0);
    assert_eq!(area_two % AREA_ALIGN as u64, 0);
}
