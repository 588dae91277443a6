//! What the kernel does with an interrupt or exception: the handler every entry stub
//! calls with the saved registers.

use crate::signal::{
    self, BUS_ADRALN, FPE_INTDIV, ILL_ILLOPN, Info, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGBUS,
    SIGFPE, SIGILL, SIGSEGV, SIGTRAP, TRAP_BRKPT, TRAP_TRACE, TrapInfo,
};
use crate::syscall::ExitFrom;
use crate::task;
use crate::{apic, syscall};
use topframe_entry::{PtRegs, USER_CS};
use x86_64::registers::control::Cr2;
use x86_64::registers::debug::{Dr6, Dr6Flags};

/// Vectors handled by name.
const DEBUG: u8 = 1;
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
    // from them, except #DB from user mode, which the entry moved to the thread's stack.
    // Like Linux's exit_to_user_mode_prepare, the work loop runs only when there is work.
    if from_user
        && topframe_entry::interrupts::runs_on_thread_stack_from_user(vector)
        && syscall::exit_work_pending()
    {
        syscall::run_exit_work(regs, ExitFrom::Interrupt);
    }
}

/// The signal and siginfo Linux gives an exception in user mode (`arch/x86/kernel/traps.c`
/// and `mm/fault.c`).
fn fault_signal(regs: &PtRegs, vector: u8, cr2: u64) -> (u8, Info) {
    let info = |code, address| Info {
        code,
        address,
        ..Info::default()
    };
    match vector {
        0 => (SIGFPE, info(FPE_INTDIV, regs.rip)),
        DEBUG => {
            let stepped = Dr6::read().contains(Dr6Flags::STEP);
            let code = if stepped { TRAP_TRACE } else { TRAP_BRKPT };
            (SIGTRAP, info(code, regs.rip))
        }
        3 => (SIGTRAP, info(SI_KERNEL, 0)),
        6 => (SIGILL, info(ILL_ILLOPN, regs.rip)),
        16 | 19 => (SIGFPE, info(FPE_FLTINV, regs.rip)),
        11 | 12 => (SIGBUS, info(SI_KERNEL, 0)),
        17 => (SIGBUS, info(BUS_ADRALN, 0)),
        PAGE_FAULT => {
            let mapped_area = cr2 < topframe_kernel::layout::USER_SPACE_END
                && task::current()
                    .mm
                    .as_deref()
                    .is_some_and(|mm| mm.memory.lock().areas.find(cr2).is_some());
            let code = if mapped_area {
                SEGV_ACCERR
            } else {
                SEGV_MAPERR
            };
            (SIGSEGV, info(code, cr2))
        }
        _ => (SIGSEGV, info(SI_KERNEL, 0)), // #GP, #OF, #BR, and the rest
    }
}

/// DR6's value with no condition recorded (its status bits are sticky: the next #DB
/// must not see this one's).
const DR6_CLEAR: u64 = 0xffff_0ff0;

fn clear_debug_status() {
    // SAFETY: writing DR6 only resets the debug status; ring 0 may.
    unsafe {
        core::arch::asm!(
            "mov dr6, {value}",                 // DR6 = no condition
            value = in(reg) DR6_CLEAR,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// FPE_FLTINV: an invalid x87/SSE operation (the #MF and #XM cause reported here).
const FPE_FLTINV: i32 = 7;
/// X86_PF_PROT, set in the reported error code of a fault on a kernel address.
const PF_PROTECTION: u64 = 1;

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
/// thread gets Linux's signal with Linux's siginfo, delivered on the way out. Where no
/// handler would take it (and no tracer watches), the process dies of it at once, with
/// the report.
fn user_exception(regs: &PtRegs, vector: u8) {
    if vector == PAGE_FAULT && resolve_page_fault(regs.orig_rax) {
        return;
    }
    let cr2 = if vector == PAGE_FAULT {
        Cr2::read_raw()
    } else {
        0
    };
    let (signal, info) = fault_signal(regs, vector, cr2);
    let mut error_code = if topframe_entry::interrupts::has_error_code(vector) {
        regs.orig_rax
    } else {
        0
    };
    if vector == PAGE_FAULT && cr2 >= topframe_kernel::layout::USER_SPACE_END {
        error_code |= PF_PROTECTION; // Linux hides whether a kernel page is mapped
    }
    if vector == DEBUG {
        clear_debug_status();
    }
    if !signal::fault_is_caught(signal) {
        kill_current(regs, vector, signal)
    }
    let trap = TrapInfo {
        trapno: u64::from(vector),
        error_code,
        cr2,
    };
    signal::force_fault(signal, info, trap);
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
        return iretq_fault_to_user(regs, vector);
    }
    if vector == 1 {
        // A single-step trap that reached the kernel (TF set across SYSCALL): drop it.
        regs.eflags &= !TRAP_FLAG;
        return;
    }
    kernel_fault(regs, vector)
}

/// The IRETQ to user mode faulted (a non-canonical RIP, a bad selector from sigreturn
/// or a tracer): the thread gets SIGSEGV as if the fault were its own, with the frame it
/// asked for as the interrupted context. The general registers are the user's (IRETQ
/// faulted after they were restored, and this entry saved them); RIP, CS, RFLAGS, RSP
/// and SS come from the IRETQ frame at the faulting RSP. This frame becomes that user
/// frame, so the return after the exit work goes to user mode: into the SIGSEGV
/// handler, or nowhere when the process dies.
fn iretq_fault_to_user(regs: &mut PtRegs, vector: u8) {
    // SAFETY: the IRETQ frame (RIP, CS, RFLAGS, RSP, SS) lies at the faulting RSP, on
    // this thread's kernel stack.
    let [rip, cs, eflags, rsp, ss] = unsafe { *(regs.rsp as *const [u64; 5]) };
    let error_code = regs.orig_rax;
    *regs = PtRegs {
        orig_rax: u64::MAX,
        rip,
        cs,
        eflags,
        rsp,
        ss,
        ..*regs
    };
    if !signal::fault_is_caught(SIGSEGV) {
        kill_current(regs, vector, SIGSEGV);
    }
    let info = Info {
        code: SI_KERNEL,
        ..Info::default()
    };
    let trap = TrapInfo {
        trapno: u64::from(vector),
        error_code,
        cr2: 0,
    };
    signal::force_fault(SIGSEGV, info, trap);
    // The handler's frame must be a 64-bit one whatever selectors were asked for.
    regs.cs = USER_CS;
    regs.ss = topframe_entry::USER_DS;
    syscall::run_exit_work(regs, ExitFrom::Interrupt);
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
