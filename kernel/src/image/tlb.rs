//! TLB shootdown: after a mapping changes, every CPU that may cache it must drop it
//! before the memory is reused. The CPUs running an address space are in its active
//! set; each gets a cross-CPU call and the caller waits for all acknowledgements.

use crate::ipi;
use topframe_kernel::layout::PAGE_SIZE;
use topframe_sched::CpuSet;
use x86_64::VirtAddr;
use x86_64::instructions::tlb;

/// Above this many pages a full flush is cheaper than page by page.
const FULL_FLUSH_PAGES: u64 = 32;

/// Drop `[start, end)` from this CPU's TLB.
fn flush_local(start: u64, end: u64) {
    if (end - start) / PAGE_SIZE > FULL_FLUSH_PAGES {
        tlb::flush_all();
    } else {
        let mut page = start;
        while page < end {
            tlb::flush(VirtAddr::new(page));
            page += PAGE_SIZE;
        }
    }
}

/// The remote side: `range` points at the caller's `(start, end)`.
fn flush_posted_range(range: u64) {
    // SAFETY: `shootdown` passes a pointer to its own (start, end), which stays alive
    // until every call it makes has been acknowledged.
    let (start, end) = unsafe { *(range as *const (u64, u64)) };
    flush_local(start, end);
}

/// Flush `[start, end)` on every CPU in `cpus` (this one included, if present).
pub fn shootdown(cpus: CpuSet, start: u64, end: u64) {
    let here = topframe_percpu::cpu_id();
    if cpus.contains(here) {
        flush_local(start, end);
    }
    if cpus.iter().all(|cpu| cpu == here) {
        return;
    }
    let range = (start, end);
    for cpu in cpus.iter().filter(|&cpu| cpu != here) {
        ipi::call_on(cpu, flush_posted_range, &raw const range as u64);
    }
}
