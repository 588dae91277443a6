//! The IDT, whose entries point at topframe-entry's stubs (each builds a `PtRegs` and
//! calls [`handle_interrupt`]), and that one handler.
//!
//! Vectors without an entry are not present: delivering one raises #GP instead, which
//! has an entry. No vector uses an IST stack (the entry's paranoid vectors decide from
//! the GS base, which works on any stack).

use crate::cpu::local_apic;
use spin::Once;
use topframe_entry::PtRegs;
use topframe_entry::interrupts::{has_error_code, stub_address};
use x86_64::VirtAddr;
use x86_64::instructions::port::Port;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::InterruptDescriptorTable;

/// The local APIC timer's vector (the timer stays masked).
pub const TIMER_VECTOR: usize = 0x20;
/// The local APIC's error interrupt.
pub const ERROR_VECTOR: usize = 0x21;
/// The reschedule IPI: it only wakes an idle CPU from `hlt`.
pub const RESCHEDULE_VECTOR: u8 = 0xf0;
/// The local APIC's spurious interrupt (it needs no EOI).
pub const SPURIOUS_VECTOR: usize = 0xff;

/// Exit status of a task killed by an exception.
const KILLED_STATUS: i64 = 128;

topframe_entry::set_interrupt_handler!(handle_interrupt);

/// Mask every IRQ of the legacy 8259 PICs: the firmware left them on vectors 8 and up,
/// where the exceptions are, and this kernel takes interrupts through the local APIC only.
/// Masking also withdraws an IRQ a PIC raised before the kernel started (QEMU keeps it
/// pending at the boot CPU otherwise).
pub fn mask_legacy_pic() {
    // SAFETY: ports 0x21 and 0xa1 are the PICs' interrupt mask registers; all ones masks
    // all sixteen IRQs, and nothing else in this kernel uses the PICs.
    unsafe {
        Port::<u8>::new(0x21).write(0xff);
        Port::<u8>::new(0xa1).write(0xff);
    }
}

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// The IDT every CPU loads.
pub fn idt() -> &'static InterruptDescriptorTable {
    IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        let stub = |vector| VirtAddr::new(stub_address(vector));
        // SAFETY: each address is topframe-entry's stub for that very vector, which
        // handles its error code (or its absence) itself.
        unsafe {
            idt.divide_error.set_handler_addr(stub(0));
            idt.debug.set_handler_addr(stub(1));
            idt.non_maskable_interrupt.set_handler_addr(stub(2));
            idt.breakpoint.set_handler_addr(stub(3));
            idt.invalid_opcode.set_handler_addr(stub(6));
            idt.double_fault.set_handler_addr(stub(8));
            idt.stack_segment_fault.set_handler_addr(stub(12));
            idt.general_protection_fault.set_handler_addr(stub(13));
            idt.page_fault.set_handler_addr(stub(14));
            for vector in 32..=255 {
                idt[vector].set_handler_addr(stub(vector));
            }
        }
        idt
    })
}

/// Every interrupt and exception, with interrupts off, on the stack the CPU chose.
fn handle_interrupt(regs: &mut PtRegs, vector: u8) {
    if usize::from(vector) == SPURIOUS_VECTOR {
        return;
    }
    if vector >= 32 {
        // The reschedule IPI (or an APIC error): acknowledge it. A CPU it woke from `hlt`
        // goes back to its idle loop, which picks the next task itself.
        // SAFETY: this CPU's APIC, acknowledging the interrupt being handled.
        unsafe { local_apic().end_of_interrupt() };
        return;
    }
    let error_code = if has_error_code(vector) {
        regs.orig_rax
    } else {
        0
    };
    if regs.from_user_mode() {
        // Whatever the program did, it ends here; the kernel goes on.
        crate::println!(
            "task {}: exception {vector} at RIP {:#x} (error code {error_code:#x}): killed",
            crate::task::current_number(),
            regs.rip
        );
        // SAFETY: an exception from user mode runs on the task's kernel stack (TSS.RSP0).
        unsafe { crate::task::exit_current(KILLED_STATUS) };
    }
    panic!(
        "exception {vector} in the kernel at RIP {:#x}, RSP {:#x}, error code \
         {error_code:#x}, CR2 {:#x}",
        regs.rip,
        regs.rsp,
        Cr2::read_raw()
    );
}
