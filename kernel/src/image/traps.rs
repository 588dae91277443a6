//! What the kernel does with an interrupt or exception: the handler every entry stub
//! calls with the saved registers.

use crate::task;
use crate::{apic, syscall};
use topframe_entry::PtRegs;
use x86_64::registers::control::Cr2;

/// Signal numbers (x86_64 Linux).
pub const SIGILL: u8 = 4;
pub const SIGTRAP: u8 = 5;
pub const SIGBUS: u8 = 7;
pub const SIGFPE: u8 = 8;
pub const SIGSEGV: u8 = 11;

/// Vectors handled by name.
const NMI: u8 = 2;
const SEGMENT_NOT_PRESENT: u8 = 11;
const STACK_SEGMENT_FAULT: u8 = 12;
const GENERAL_PROTECTION: u8 = 13;
const PAGE_FAULT: u8 = 14;

/// RFLAGS.TF.
const TRAP_FLAG: u64 = 1 << 8;

topframe_entry::set_interrupt_handler!(handle);

/// Linux's names of the exception vectors.
fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "divide error (#DE)",
        1 => "debug (#DB)",
        2 => "non-maskable interrupt (NMI)",
        3 => "breakpoint (#BP)",
        4 => "overflow (#OF)",
        5 => "bound range exceeded (#BR)",
        6 => "invalid opcode (#UD)",
        7 => "device not available (#NM)",
        8 => "double fault (#DF)",
        9 => "coprocessor segment overrun",
        10 => "invalid TSS (#TS)",
        11 => "segment not present (#NP)",
        12 => "stack-segment fault (#SS)",
        13 => "general protection fault (#GP)",
        14 => "page fault (#PF)",
        16 => "x87 floating-point exception (#MF)",
        17 => "alignment check (#AC)",
        18 => "machine check (#MC)",
        19 => "SIMD floating-point exception (#XM)",
        20 => "virtualization exception (#VE)",
        21 => "control protection exception (#CP)",
        28 => "hypervisor injection exception (#HV)",
        29 => "VMM communication exception (#VC)",
        30 => "security exception (#SX)",
        _ => "reserved exception",
    }
}

/// Every interrupt and exception arrives here, interrupts off.
fn handle(regs: &mut PtRegs, vector: u8) {
    let from_user = regs.from_user_mode();
    match vector {
        NMI => {
            // Only the watchdog sends NMIs on purpose: report where this CPU was.
            crate::println!(
                "NMI on CPU {} at RIP {:#x} (RSP {:#x}, RFLAGS {:#x})",
                topframe_percpu::cpu_id(),
                regs.rip,
                regs.rsp,
                regs.eflags
            );
            return;
        }
        syscall::I386_VECTOR if from_user => syscall::int80(regs),
        0..=31 if from_user => user_exception(regs, vector),
        0..=31 => kernel_exception(regs, vector),
        apic::SPURIOUS_VECTOR => {}
        crate::ipi::CALL_FUNCTION_VECTOR => {
            crate::ipi::serve_mailbox(topframe_percpu::cpu_id());
            apic::end_of_interrupt();
        }
        apic::TIMER_VECTOR => {
            crate::timer::interrupt();
            apic::end_of_interrupt();
        }
        crate::scheduler::RESCHEDULE_VECTOR => {
            apic::end_of_interrupt();
            crate::scheduler::reschedule_interrupt();
        }
        crate::watchdog::HEARTBEAT_VECTOR => {
            apic::end_of_interrupt();
            crate::watchdog::heartbeat();
        }
        crate::scheduler::BALANCE_VECTOR => {
            apic::end_of_interrupt();
            crate::scheduler::balance_interrupt();
        }
        _ => apic::end_of_interrupt(),
    }
    // The IST vectors may have interrupted anything (even the entry code): no exit work
    // from them; it runs on the next ordinary return to user mode.
    if from_user && !topframe_entry::interrupts::is_paranoid(vector) {
        syscall::run_exit_work(regs);
    }
}

/// The signal Linux sends for an exception in user mode.
fn signal_for(vector: u8) -> u8 {
    match vector {
        0 | 16 | 19 => SIGFPE,  // #DE, #MF, #XM
        1 | 3 => SIGTRAP,       // #DB, #BP
        6 => SIGILL,            // #UD
        11 | 12 | 17 => SIGBUS, // #NP, #SS, #AC
        _ => SIGSEGV,           // #GP, #PF, #OF, #BR, and the rest
    }
}

/// A page fault the process's memory areas can resolve (demand paging).
fn resolve_page_fault(error_code: u64) -> bool {
    let address = Cr2::read_raw();
    let Some(mm) = task::try_current().and_then(|task| task.mm.as_deref()) else {
        return false;
    };
    address < topframe_kernel::layout::USER_SPACE_END
        && mm
            .memory
            .lock()
            .handle_fault(&mm.space, address, error_code)
}

/// An exception in user mode: a page fault inside an area is resolved; otherwise the
/// process gets Linux's signal, and (without signal handling yet) that signal's default
/// action, which for these is to die.
fn user_exception(regs: &PtRegs, vector: u8) {
    if vector == PAGE_FAULT && resolve_page_fault(regs.orig_rax) {
        return;
    }
    kill_current(regs, vector, signal_for(vector))
}

/// Report and end the running process, killed by `signal` after `vector` at `regs`.
fn kill_current(regs: &PtRegs, vector: u8, signal: u8) -> ! {
    let task = task::current();
    crate::println!(
        "{}[{}]: killed by signal {signal} ({} at RIP {:#x}, RSP {:#x}, error code {:#x}, CR2 {:#x})",
        task.process.name,
        task.tid,
        exception_name(vector),
        regs.rip,
        regs.rsp,
        regs.orig_rax,
        Cr2::read_raw()
    );
    task::kill_current(signal)
}

/// An exception in kernel mode: a user copy's fault is fixed up, a fault on the IRETQ to
/// user mode belongs to the process, a stray single-step is ignored; anything else is a
/// kernel bug.
fn kernel_exception(regs: &mut PtRegs, vector: u8) {
    if vector == PAGE_FAULT
        && crate::user::copy::fixup_for(regs.rip).is_some()
        && resolve_page_fault(regs.orig_rax)
    {
        return; // a user copy touched a page not yet populated: retry it
    }
    if let Some(fixup) = crate::user::copy::fixup_for(regs.rip) {
        regs.rip = fixup;
        return;
    }
    let iretq_fault = matches!(
        vector,
        SEGMENT_NOT_PRESENT | STACK_SEGMENT_FAULT | GENERAL_PROTECTION
    );
    if iretq_fault && regs.rip == topframe_entry::iretq_to_user_address() {
        // The user frame IRETQ was restoring sits at the faulting frame's RSP: report the
        // RIP the process asked for (non-canonical, or bad selectors) and kill it.
        // SAFETY: the IRETQ frame (RIP, CS, RFLAGS, RSP, SS) is on this kernel stack.
        let user_rip = unsafe { *(regs.rsp as *const u64) };
        let report = PtRegs {
            rip: user_rip,
            ..*regs
        };
        kill_current(&report, vector, SIGSEGV);
    }
    if vector == 1 {
        // A single-step trap that reached the kernel (TF set across SYSCALL): drop it.
        regs.eflags &= !TRAP_FLAG;
        return;
    }
    kernel_fault(regs, vector)
}

/// A kernel bug: panic with everything known.
fn kernel_fault(regs: &PtRegs, vector: u8) -> ! {
    let error_code = if topframe_entry::interrupts::has_error_code(vector) {
        regs.orig_rax
    } else {
        0
    };
    let cr2 = Cr2::read_raw();
    panic!(
        "{} (vector {vector}) in kernel mode, error code {error_code:#x}, CR2={cr2:#x}\n{}",
        exception_name(vector),
        RegisterDump(regs)
    );
}

/// All registers of a frame, four to a line.
struct RegisterDump<'a>(&'a PtRegs);

impl core::fmt::Display for RegisterDump<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = self.0;
        writeln!(
            f,
            "RIP={:#018x} CS={:#06x} RFLAGS={:#010x}",
            r.rip, r.cs, r.eflags
        )?;
        writeln!(
            f,
            "RSP={:#018x} SS={:#06x} ORIG_RAX={:#x}",
            r.rsp, r.ss, r.orig_rax
        )?;
        writeln!(
            f,
            "RAX={:#018x} RBX={:#018x} RCX={:#018x} RDX={:#018x}",
            r.rax, r.rbx, r.rcx, r.rdx
        )?;
        writeln!(
            f,
            "RSI={:#018x} RDI={:#018x} RBP={:#018x} R8 ={:#018x}",
            r.rsi, r.rdi, r.rbp, r.r8
        )?;
        writeln!(
            f,
            "R9 ={:#018x} R10={:#018x} R11={:#018x} R12={:#018x}",
            r.r9, r.r10, r.r11, r.r12
        )?;
        write!(
            f,
            "R13={:#018x} R14={:#018x} R15={:#018x}",
            r.r13, r.r14, r.r15
        )
    }
}
