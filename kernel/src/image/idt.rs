//! The IDT, shared by every CPU: each of the 256 vectors points at its entry stub in
//! `topframe-entry`, which builds a `PtRegs` and calls [`crate::traps::handle`].
//! #DF, NMI, #DB and #MC run on their own IST stacks (see [`crate::gdt`]).

use crate::gdt::{IST_DEBUG, IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};
use spin::Once;
use topframe_entry::interrupts::stub_address;
use x86_64::VirtAddr;
use x86_64::structures::idt::{EntryOptions, InterruptDescriptorTable};

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// The stub address of `vector` as the IDT wants it.
fn stub(vector: u8) -> VirtAddr {
    VirtAddr::new(stub_address(vector))
}

fn build() -> InterruptDescriptorTable {
    let mut idt = InterruptDescriptorTable::new();
    // SAFETY: for every set_handler_addr below, the address is the entry stub for exactly
    // that vector, which saves the full frame, handles the error-code convention of the
    // vector and returns with IRETQ.
    unsafe {
        idt.divide_error.set_handler_addr(stub(0));
        set_ist(idt.debug.set_handler_addr(stub(1)), IST_DEBUG);
        set_ist(
            idt.non_maskable_interrupt.set_handler_addr(stub(2)),
            IST_NMI,
        );
        // int3 and into may come from user mode, as on Linux.
        idt.breakpoint
            .set_handler_addr(stub(3))
            .set_privilege_level(x86_64::PrivilegeLevel::Ring3);
        idt.overflow
            .set_handler_addr(stub(4))
            .set_privilege_level(x86_64::PrivilegeLevel::Ring3);
        idt.bound_range_exceeded.set_handler_addr(stub(5));
        idt.invalid_opcode.set_handler_addr(stub(6));
        idt.device_not_available.set_handler_addr(stub(7));
        set_ist(idt.double_fault.set_handler_addr(stub(8)), IST_DOUBLE_FAULT);
        idt[9].set_handler_addr(stub(9));
        idt.invalid_tss.set_handler_addr(stub(10));
        idt.segment_not_present.set_handler_addr(stub(11));
        idt.stack_segment_fault.set_handler_addr(stub(12));
        idt.general_protection_fault.set_handler_addr(stub(13));
        idt.page_fault.set_handler_addr(stub(14));
        idt.x87_floating_point.set_handler_addr(stub(16));
        idt.alignment_check.set_handler_addr(stub(17));
        set_ist(
            idt.machine_check.set_handler_addr(stub(18)),
            IST_MACHINE_CHECK,
        );
        idt.simd_floating_point.set_handler_addr(stub(19));
        idt.virtualization.set_handler_addr(stub(20));
        idt.cp_protection_exception.set_handler_addr(stub(21));
        idt.hv_injection_exception.set_handler_addr(stub(28));
        idt.vmm_communication_exception.set_handler_addr(stub(29));
        idt.security_exception.set_handler_addr(stub(30));
        for vector in 32..=255u8 {
            idt[vector].set_handler_addr(stub(vector));
        }
        // int $0x80: Linux's i386 system calls, reachable from user mode.
        idt[crate::syscall::I386_VECTOR]
            .set_handler_addr(stub(crate::syscall::I386_VECTOR))
            .set_privilege_level(x86_64::PrivilegeLevel::Ring3);
    }
    idt
}

/// Put an entry on IST stack `index`.
fn set_ist(options: &mut EntryOptions, index: u16) {
    // SAFETY: every CPU's TSS has a valid, guarded stack in each of the IST slots used here.
    unsafe { options.set_stack_index(index) };
}

/// Load the IDT on this CPU (built by the first caller).
pub fn load() {
    IDT.call_once(build).load();
}
