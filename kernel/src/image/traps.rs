//! What the kernel does with an interrupt or exception: the handler every entry stub
//! calls with the saved registers.

use crate::apic;
use topframe_entry::PtRegs;
use x86_64::registers::control::Cr2;

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
    match vector {
        0..=31 => exception(regs, vector),
        apic::SPURIOUS_VECTOR => {}
        _ => apic::end_of_interrupt(),
    }
}

/// An exception. Nothing runs in user mode yet, so every exception is a kernel bug.
fn exception(regs: &PtRegs, vector: u8) -> ! {
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
