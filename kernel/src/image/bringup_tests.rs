//! Self tests of the bring-up: CPUs, per-CPU data, memory, FPU, entry stubs, and the two
//! deliberate crashes whose panic reports the suite checks.

use crate::memory::{frames, stacks};
use crate::smp::{REPORTS, online, sse_check};
use crate::{ensure, selftest};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use topframe_kernel::layout::{PAGE_SIZE, phys_to_direct};

selftest!(every_cpu_reports_its_own_gs_id, || {
    ensure!(online().contains(0), "the boot CPU is not online");
    for cpu in online().iter() {
        let report = &REPORTS[cpu];
        let seen = report.gs_cpu_id.load(Ordering::Relaxed);
        ensure!(
            seen == cpu + 1,
            "CPU {cpu} read CPU id {} through GS",
            seen as i64 - 1
        );
    }
    ensure!(topframe_percpu::cpu_id() == 0, "the boot CPU is not CPU 0");
    Ok(())
});

selftest!(apic_ids_are_distinct, || {
    let online = online();
    let mut ids: Vec<u64> = online
        .iter()
        .map(|cpu| REPORTS[cpu].apic_id.load(Ordering::Relaxed))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ensure!(
        ids.len() == online.len(),
        "{} distinct APIC IDs for {} CPUs",
        ids.len(),
        online.len()
    );
    Ok(())
});

selftest!(sse_works_on_every_cpu, || {
    let expected = 11 + 22 + 33 + 44;
    ensure!(
        sse_check() == expected,
        "SSE sum on the boot CPU is {}",
        sse_check()
    );
    for cpu in online().iter() {
        let sum = REPORTS[cpu].sse_sum.load(Ordering::Relaxed);
        ensure!(
            sum == expected + 1,
            "CPU {cpu}: SSE check gave {}",
            sum as i64 - 1
        );
    }
    Ok(())
});

selftest!(heap_allocates_and_frees, || {
    let mut blocks: Vec<Box<[u8]>> = Vec::new();
    for size in [1usize, 7, 64, 4096, 65536, 1 << 20] {
        let fill = (size % 251) as u8;
        blocks.push(alloc::vec![fill; size].into_boxed_slice());
    }
    for block in &blocks {
        let fill = (block.len() % 251) as u8;
        ensure!(
            block.iter().all(|&byte| byte == fill),
            "block of {} bytes corrupted",
            block.len()
        );
    }
    drop(blocks);
    // Everything freed can be allocated again many times over.
    for _ in 0..64 {
        let block = alloc::vec![0u64; 1 << 16];
        ensure!(block.len() == 1 << 16, "large block wrong size");
    }
    Ok(())
});

selftest!(frame_allocator_hands_out_distinct_frames, || {
    let (free_before, _) = frames::counts();
    let mut taken = Vec::new();
    for index in 0..256u64 {
        let frame = frames::allocate().ok_or("out of frames")?;
        ensure!(frame % PAGE_SIZE == 0, "unaligned frame {frame:#x}");
        // SAFETY: the frame was just allocated to this test; it is direct-mapped.
        unsafe { (phys_to_direct(frame) as *mut u64).write(index) };
        taken.push(frame);
    }
    for (index, &frame) in taken.iter().enumerate() {
        // SAFETY: still allocated to this test.
        let value = unsafe { (phys_to_direct(frame) as *const u64).read() };
        ensure!(
            value == index as u64,
            "frame {frame:#x} shared with another allocation"
        );
    }
    let last = taken[taken.len() - 1];
    for frame in taken {
        frames::free(frame).map_err(|error| alloc::format!("free {frame:#x}: {error:?}"))?;
    }
    ensure!(frames::counts().0 == free_before, "frames leaked");
    ensure!(frames::free(last).is_err(), "a double free was accepted");
    Ok(())
});

selftest!(stacks_have_unmapped_guards, || {
    use x86_64::VirtAddr;
    use x86_64::structures::paging::{OffsetPageTable, PageTable, Translate};
    let slot = stacks::allocate(stacks::IST_STACK_SIZE);
    let pml4 = crate::memory::paging::kernel_pml4();
    // SAFETY: read-only walk of the live kernel tables through the direct map.
    let tables = unsafe {
        OffsetPageTable::new(
            &mut *(phys_to_direct(pml4) as *mut PageTable),
            VirtAddr::new(topframe_kernel::layout::DIRECT_MAP_BASE),
        )
    };
    let mapped = |addr: u64| tables.translate_addr(VirtAddr::new(addr)).is_some();
    ensure!(
        mapped(slot.stack_bottom) && mapped(slot.stack_top - 1),
        "stack not mapped"
    );
    ensure!(
        !mapped(slot.stack_bottom - 1),
        "guard page below the stack is mapped"
    );
    ensure!(!mapped(slot.guard_start), "slot start is mapped");
    Ok(())
});

selftest!(entry_stubs_start_with_cld, || {
    for vector in 0..=255u8 {
        let address = topframe_entry::interrupts::stub_address(vector);
        // SAFETY: the stubs are mapped kernel text; reading a byte of code is harmless.
        let first = unsafe { (address as *const u8).read() };
        ensure!(
            first == 0xfc,
            "stub {vector} starts with {first:#04x}, not cld"
        );
    }
    Ok(())
});

selftest!(tsc_is_calibrated, || {
    let hz = crate::tsc::frequency_hz();
    ensure!(hz >= 100_000_000, "TSC frequency {hz} Hz is implausible");
    let before = crate::tsc::read();
    crate::tsc::delay_us(100);
    ensure!(
        crate::tsc::read() - before >= hz / 10_000,
        "delay_us(100) returned early"
    );
    Ok(())
});

selftest!(crash crash_page_fault, || {
    let address = 0x0dea_dbee_f000 as *mut u64;
    // SAFETY: deliberately not safe: this write faults, and the kernel must panic
    // with the vector and CR2 (the suite checks the report).
    unsafe { address.write_volatile(1) };
    Err("the write to an unmapped address did not fault".into())
});

/// Recurse with a large frame until the guard page stops it.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 128]);
    recurse(depth + 1) + frame[0]
}

selftest!(crash crash_stack_overflow, || {
    let depth = recurse(0);
    Err(alloc::format!("recursion ended at depth {depth} without hitting the guard page"))
});

selftest!(timer_interrupt_arrives_and_sleep_waits, || {
    use crate::{timer, tsc};
    let before = timer::interrupts_here();
    let start = tsc::read();
    timer::arm(start + tsc::frequency_hz() / 1000); // 1 ms
    // Wait with interrupts on until the interrupt has been taken (at most 100 ms).
    while timer::interrupts_here() == before && tsc::read() - start < tsc::frequency_hz() / 10 {
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
    }
    ensure!(
        timer::interrupts_here() > before,
        "no timer interrupt within 100 ms"
    );
    // The one-shot rate is calibrated against the TSC, which without icount follows the
    // host clock: an interrupt may come a little early, and sleeping must not.
    let deadline = tsc::read() + tsc::frequency_hz() / 500; // 2 ms
    timer::sleep_until(deadline);
    ensure!(
        tsc::read() >= deadline,
        "sleep_until returned before its deadline"
    );
    Ok(())
});

selftest!(functions_run_on_every_cpu_through_ipis, || {
    use core::sync::atomic::AtomicU64;
    static SEEN: [AtomicU64; topframe_kernel::MAX_CPUS] =
        [const { AtomicU64::new(0) }; topframe_kernel::MAX_CPUS];
    fn record(token: u64) {
        SEEN[topframe_percpu::cpu_id()].store(token, Ordering::Relaxed);
    }
    for cpu in online().iter() {
        crate::ipi::call_on(cpu, record, 1000 + cpu as u64);
    }
    for cpu in online().iter() {
        let seen = SEEN[cpu].load(Ordering::Relaxed);
        ensure!(
            seen == 1000 + cpu as u64,
            "CPU {cpu} ran {seen}, expected its own token"
        );
    }
    // A shootdown reaching every CPU returns (each one acknowledged).
    crate::tlb::shootdown(online(), 0x1000, 0x3000);
    Ok(())
});
