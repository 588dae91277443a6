//! The other CPUs: which there are (the ACPI MADT, whose address PVH's start info holds)
//! and how they start (INIT, SIPI, SIPI through the `x2apic` crate, into the trampoline of
//! [`crate::boot`]).

use crate::boot::{self, MAPPED_PHYSICAL, TRAMPOLINE_ADDRESS, physical_to_virtual};
use crate::task::KernelStack;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

/// CPUs this kernel runs on at most (the user program prints two-digit CPU numbers).
pub const MAX_CPUS: usize = 16;

/// `hvm_start_info.rsdp_paddr`: the ACPI RSDP's physical address.
const START_INFO_RSDP: u64 = 32;
/// How long the boot CPU waits for another CPU to start, in TSC ticks.
const START_TIMEOUT_TICKS: u64 = 1_000_000_000;

/// CPUs that finished `cpu::init`, the boot CPU included.
static CPUS_ONLINE: AtomicUsize = AtomicUsize::new(1);

/// A value of type `T` at a physical address (firmware tables are packed: unaligned).
fn read<T: Copy>(physical: u64) -> T {
    let address = physical_to_virtual(physical);
    assert!(
        physical + size_of::<T>() as u64 <= MAPPED_PHYSICAL,
        "ACPI tables beyond 1 GiB"
    );
    // SAFETY: the whole value lies in the mapped first GiB (checked), in firmware tables,
    // which are plain memory nobody writes.
    unsafe { address.cast::<T>().read_unaligned() }
}

/// The APIC IDs of the enabled processors the MADT lists, the boot CPU's first (at most
/// [`MAX_CPUS`]).
pub fn apic_ids(start_info: u64, boot_apic_id: u32) -> Vec<u32> {
    let rsdp: u64 = read(start_info + START_INFO_RSDP);
    assert!(read::<[u8; 8]>(rsdp) == *b"RSD PTR ", "no ACPI RSDP");
    // ACPI 2+: the XSDT (64-bit entries); ACPI 1: the RSDT (32-bit entries).
    let xsdt: u64 = read(rsdp + 24);
    let (root, entry_size) = if read::<u8>(rsdp + 15) >= 2 && xsdt != 0 {
        (xsdt, 8)
    } else {
        (u64::from(read::<u32>(rsdp + 16)), 4)
    };
    // A table header is 36 bytes: signature at 0, length at 4; then the table's own fields.
    let root_length = u64::from(read::<u32>(root + 4));
    let madt = (36..root_length)
        .step_by(entry_size)
        .map(|offset| match entry_size {
            8 => read::<u64>(root + offset),
            _ => u64::from(read::<u32>(root + offset)),
        })
        .find(|&table| read::<[u8; 4]>(table) == *b"APIC")
        .expect("no ACPI MADT");
    let madt_length = u64::from(read::<u32>(madt + 4));
    let mut ids = Vec::from([boot_apic_id]);
    // After the header: the local APIC address and flags (8 bytes), then entries of
    // (type, length, ...).
    let mut offset = 44;
    while offset + 2 <= madt_length {
        let entry = madt + offset;
        let (apic_id, flags) = match read::<u8>(entry) {
            0 => (u32::from(read::<u8>(entry + 3)), read::<u32>(entry + 4)), // local APIC
            9 => (read::<u32>(entry + 4), read::<u32>(entry + 8)),           // local x2APIC
            _ => (0, 0),
        };
        let enabled = flags & 1 != 0;
        if enabled && !ids.contains(&apic_id) && ids.len() < MAX_CPUS {
            ids.push(apic_id);
        }
        let length = u64::from(read::<u8>(entry + 1));
        if length < 2 {
            break; // a malformed table: stop rather than loop
        }
        offset += length;
    }
    ids
}

/// Start CPUs `1..` (`apic_ids[cpu]` is CPU `cpu`'s APIC ID), one at a time: each runs
/// `cpu::init` and checks in before the next starts.
///
/// Real hardware wants 10 ms after INIT and 200 us between the SIPIs (Intel SDM,
/// "MP initialization"); QEMU does not, and this kernel has no calibrated clock, so the
/// IPIs go back to back. A second SIPI to a CPU that already runs is ignored.
pub fn start_other_cpus(apic_ids: &[u32]) {
    boot::install_trampoline();
    let sipi_vector = (TRAMPOLINE_ADDRESS >> 12) as u8;
    let mut apic = crate::cpu::local_apic();
    for (cpu, &apic_id) in apic_ids.iter().enumerate().skip(1) {
        // The stack of its first code and then of its idle context, never freed.
        let stack = Box::leak(KernelStack::new());
        boot::set_ap_launch(stack.top(), cpu, ap_main);
        // x2APIC writes to the ICR do not wait for earlier stores: order them first.
        fence(Ordering::SeqCst);
        // SAFETY: `apic_id` is a CPU in wait-for-SIPI state (the MADT's); the trampoline
        // is installed at the SIPI's page with this CPU's launch block.
        unsafe {
            apic.send_init_ipi(apic_id);
            apic.send_sipi(sipi_vector, apic_id);
            apic.send_sipi(sipi_vector, apic_id);
        }
        let started = crate::task::now();
        while CPUS_ONLINE.load(Ordering::Acquire) <= cpu {
            assert!(
                crate::task::now() - started < START_TIMEOUT_TICKS,
                "CPU {cpu} (APIC ID {apic_id}) did not start"
            );
            core::hint::spin_loop();
        }
    }
}

/// Another CPU's Rust entry, called by the trampoline on its launch stack.
extern "C" fn ap_main(cpu: usize) -> ! {
    crate::cpu::init(cpu);
    CPUS_ONLINE.fetch_add(1, Ordering::Release);
    crate::task::run_cpu(cpu)
}
