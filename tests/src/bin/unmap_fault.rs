//! `munmap` reaches every CPU (TLB shootdown): thread A, pinned to one CPU, keeps reading a
//! mapped page (keeping its TLB entry warm) while it polls a flag; main, pinned to another
//! CPU (the same one if only one is allowed), unmaps the page once A is reading it, then
//! sets the flag (with one CPU for both, A yields now and then, so that the test does not
//! need preemption). A, on seeing the flag, reads the page once more: that read must fault,
//! and the SIGSEGV kills the whole process. Expected: killed by signal 11, see
//! `expected.toml`. If the read succeeds (a stale TLB entry), A prints FAIL and ends the
//! process with exit_group(1).
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use topframe_abi_tests::mman::{self, PAGE_SIZE, PROT_READ, PROT_WRITE};
use topframe_abi_tests::thread::{self, Stack};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail, sched, time};

abi_test_main!(main);

/// What the page holds (its first 8 bytes).
const CONTENTS: u64 = 0x5afe_f00d_dead_beef;
/// Reads A makes before main unmaps the page.
const WARM_READS: u64 = 10_000;
/// With one CPU for both threads, A yields every this many reads.
const YIELD_EVERY: u64 = 1000;

static PAGE: AtomicU64 = AtomicU64::new(0);
static CPU_A: AtomicU64 = AtomicU64::new(0);
/// A's reads so far.
static READS: AtomicU64 = AtomicU64::new(0);
/// Whether A and main share their CPU (only one is allowed).
static SHARED_CPU: AtomicBool = AtomicBool::new(false);
/// Set by main once the page is unmapped.
static UNMAPPED: AtomicBool = AtomicBool::new(false);

/// Reads the page's first 8 bytes (a real load every time).
fn read_page(page: u64) -> u64 {
    let value;
    // SAFETY: a plain load. While the page is mapped it reads it; after munmap it faults,
    // and the SIGSEGV (no handler) ends the process: the load never returns then.
    unsafe {
        asm!(
            "mov {value}, qword ptr [{page}]", // value = *page
            page = in(reg) page,
            value = lateout(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

fn reader(_: u64) {
    let cpu = CPU_A.load(Ordering::Relaxed) as usize;
    sched::pin_to(cpu);
    check_eq!(sched::getcpu() as usize, cpu, "A: getcpu after pinning");
    let page = PAGE.load(Ordering::Relaxed);
    loop {
        // The flag first: a read of the page that follows it comes after the munmap.
        let unmapped = UNMAPPED.load(Ordering::Acquire);
        let value = read_page(page);
        if unmapped {
            fail!("A read {value:#x} from the page after munmap returned: the TLB kept it");
        }
        check_eq!(value, CONTENTS, "A: the page's contents");
        let reads = READS.fetch_add(1, Ordering::Release) + 1;
        if SHARED_CPU.load(Ordering::Relaxed) && reads.is_multiple_of(YIELD_EVERY) {
            // One CPU for both: let main run without waiting for preemption.
            sched::yield_now();
        }
    }
}

fn main(_stack: &InitialStack) {
    let allowed = sched::allowed_cpus();
    let cpu_a = allowed.nth(0).expect("allowed_cpus is not empty");
    let cpu_main = allowed.nth(1).unwrap_or(cpu_a);
    CPU_A.store(cpu_a as u64, Ordering::Relaxed);
    SHARED_CPU.store(cpu_a == cpu_main, Ordering::Relaxed);
    sched::pin_to(cpu_main);

    let page = mman::map_anonymous(PAGE_SIZE, PROT_READ | PROT_WRITE);
    check!(page > 0, "mmap of a page: {page}");
    let page = page as u64;
    // SAFETY: the first 8 bytes of the fresh page, which nothing else uses yet.
    unsafe { (page as *mut u64).write_volatile(CONTENTS) };
    PAGE.store(page, Ordering::Relaxed);

    let reader = thread::spawn(Stack::new(), reader, 0);
    while READS.load(Ordering::Acquire) < WARM_READS {
        if cpu_main == cpu_a {
            // One CPU: let A run.
            sched::yield_now();
        }
    }
    // SAFETY: the page is this program's; A reads it with asm loads that fault after
    // this, which ends the process (the point of the test). No Rust reference to it.
    let result = unsafe { mman::unmap(page, PAGE_SIZE) };
    check_eq!(result, 0, "munmap of the page");
    UNMAPPED.store(true, Ordering::Release);
    // A faults on its next read and the process dies; give it 10 s.
    let start = time::monotonic_nanos();
    while !reader.has_exited() && time::monotonic_nanos() - start < 10_000_000_000 {
        sched::yield_now();
    }
    fail!(
        "A was still alive 10 s after munmap (exited: {}), {} reads",
        reader.has_exited(),
        READS.load(Ordering::Relaxed)
    );
}
