//! Each CPU exception a user instruction can raise reaches an installed `SA_SIGINFO`
//! handler with Linux's signal, `siginfo_t` and `sigcontext` fault fields, and the handler
//! recovers by setting the `ucontext` RIP to a label after the faulting instruction (the
//! other registers come back from the frame as they were at the fault). Per case the
//! handler must see exactly (signal, si_code, si_errno 0, si_addr, RIP, trapno, err, and for
//! #PF cr2 = the address):
//! - #PF reading an unmapped page: SIGSEGV, SEGV_MAPERR, the address, RIP = the load,
//!   trapno 14, err 4 (user, read, not present);
//! - #PF writing a read-only page already read (so present): SEGV_ACCERR, err 7 (user,
//!   write, present);
//! - #PF reading and writing a PROT_NONE page: SEGV_ACCERR, err 4 and 6 (never present);
//! - #PF reading and writing the kernel address 0xffff_ffff_8000_0000: SEGV_MAPERR, err 5
//!   and 7 (Linux reports a user access to a kernel address as a protection fault);
//! - #PF jumping into a mapped, written, non-executable page: SEGV_ACCERR, the page's
//!   address as si_addr and RIP, err 0x15 (user, instruction fetch, present);
//! - #GP from `hlt` and `cli` (privileged at CPL 3 / IOPL 0) and from a load at the
//!   non-canonical address 1 << 63: SIGSEGV, SI_KERNEL, si_addr 0, trapno 13, err 0;
//! - #GP from `int 0x0d` and `int 0x0e` (gates of DPL 0): SI_KERNEL, si_addr 0, trapno 13,
//!   err = vector * 8 + 2 (IDT, external 0);
//! - `int 0x04` (#OF's gate has DPL 3 on Linux): SIGSEGV, SI_KERNEL, si_addr 0, trapno 4,
//!   RIP after the instruction;
//! - #UD from `ud2`: SIGILL, ILL_ILLOPN, si_addr = RIP = the `ud2`, trapno 6, err 0;
//! - #DE from `div` by zero: SIGFPE, FPE_INTDIV, si_addr = RIP = the `div`, trapno 0;
//! - #BP from `int3` (0xcc) and from the two-byte `int 0x03` (0xcd 0x03): SIGTRAP,
//!   SI_KERNEL, si_addr 0, RIP after the instruction, trapno 3, err 0.
//!
//! Exactly one signal per case. The register frame's other fields (RFLAGS.RF, a stale cr2
//! outside #PF) are not compared.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::mman::{self, PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE};
use topframe_abi_tests::signal::{
    self, FPE_INTDIV, ILL_ILLOPN, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGBUS, SIGFPE, SIGILL,
    SIGSEGV, SIGTRAP, SigInfo, UContext,
};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq};

abi_test_main!(main);

/// `sigcontext.err` of a #PF: the page was present.
const PF_PRESENT: u64 = 1 << 0;
/// ... a write.
const PF_WRITE: u64 = 1 << 1;
/// ... from user mode.
const PF_USER: u64 = 1 << 2;
/// ... an instruction fetch.
const PF_INSTRUCTION: u64 = 1 << 4;

/// Exception vectors (`sigcontext.trapno`).
const TRAP_DE: u64 = 0;
const TRAP_BP: u64 = 3;
const TRAP_OF: u64 = 4;
const TRAP_UD: u64 = 6;
const TRAP_GP: u64 = 13;
const TRAP_PF: u64 = 14;

/// The error code of a #GP raised by `int n` through a gate of too high a privilege:
/// the vector's IDT selector (`n * 8`, with the IDT bit 2).
const fn idt_error_code(vector: u64) -> u64 {
    vector * 8 + 2
}

/// A kernel text address (the start of Linux's kernel image mapping).
const KERNEL_ADDRESS: u64 = 0xffff_ffff_8000_0000;
/// A non-canonical address: bit 63 alone (bits 63..47 must all be equal).
const NON_CANONICAL: u64 = 1 << 63;

/// Where the handler sends the interrupted code: written by each case's assembly (the
/// address of its recovery label) before the faulting instruction.
static RECOVERY: AtomicU64 = AtomicU64::new(0);

/// What the handler saw, one slot per [`Fault`] field, and how many signals came.
static SEEN: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static SIGNALS: AtomicU64 = AtomicU64::new(0);

/// A fault as a handler sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fault {
    signal: u64,
    code: u64,
    errno: u64,
    address: u64,
    rip: u64,
    trapno: u64,
    error: u64,
    /// `sigcontext.cr2`; compared only for #PF (elsewhere it keeps an older value).
    cr2: Option<u64>,
}

impl fmt::Debug for Fault {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "signal {}, si_code {:#x}, si_errno {}, si_addr {:#x}, RIP {:#x}, trapno {}, \
             err {:#x}, cr2 {:x?}",
            self.signal,
            self.code,
            self.errno,
            self.address,
            self.rip,
            self.trapno,
            self.error,
            self.cr2
        )
    }
}

/// Records the fault into [`SEEN`] and resumes at [`RECOVERY`].
extern "C" fn on_fault(signal: u32, info: &mut SigInfo, context: &mut UContext) {
    let registers = &mut context.mcontext;
    let values = [
        u64::from(signal),
        info.code as u32 as u64,
        info.errno as u32 as u64,
        info.addr(),
        registers.rip,
        registers.trapno,
        registers.err,
        registers.cr2,
    ];
    for (slot, value) in SEEN.iter().zip(values) {
        slot.store(value, Ordering::Relaxed);
    }
    SIGNALS.fetch_add(1, Ordering::Relaxed);
    registers.rip = RECOVERY.load(Ordering::Relaxed);
}

/// What [`on_fault`] recorded; `with_cr2` keeps `cr2`.
fn seen(with_cr2: bool) -> Fault {
    let value = |index: usize| SEEN[index].load(Ordering::Relaxed);
    Fault {
        signal: value(0),
        code: value(1),
        errno: value(2),
        address: value(3),
        rip: value(4),
        trapno: value(5),
        error: value(6),
        cr2: with_cr2.then(|| value(7)),
    }
}

/// Runs the assembly `$instruction` (with the operands after it) between two labels, with
/// [`RECOVERY`] set to the second; `(address of the instruction, address after it)`.
macro_rules! provoke {
    ($instruction:literal $(, $($operands:tt)*)?) => {{
        let instruction: u64;
        let after: u64;
        // SAFETY: the instruction faults or traps (each case's purpose); `on_fault`
        // resumes at label 3 with every register as it was at the fault. The operands
        // are inputs only, or declared clobbered.
        unsafe {
            asm!(
                "lea {after}, [rip + 3f]",          // after = the recovery label
                "mov [rip + {recovery}], {after}",  // tell the handler
                "lea {instruction}, [rip + 2f]",    // instruction = the faulting one
                "2:",
                $instruction,                       // fault or trap here
                "3:",
                recovery = sym RECOVERY,
                instruction = out(reg) instruction,
                after = out(reg) after,
                $($($operands)*)?
            );
        }
        (instruction, after)
    }};
}

/// Checks that exactly one signal came since the last case, and that it was `expected`.
fn expect(case: &str, expected: Fault) {
    check_eq!(
        SIGNALS.swap(0, Ordering::Relaxed),
        1,
        "{case}: signals delivered"
    );
    check_eq!(seen(expected.cr2.is_some()), expected, "{case}");
}

/// A #PF at `address` (RIP `rip`) with si_code `code` and error code `error`.
fn page_fault(code: i32, address: u64, rip: u64, error: u64) -> Fault {
    Fault {
        signal: u64::from(SIGSEGV),
        code: code as u64,
        errno: 0,
        address,
        rip,
        trapno: TRAP_PF,
        error,
        cr2: Some(address),
    }
}

/// A signal from the kernel with SI_KERNEL and si_addr 0 (#GP, #BP, #OF).
fn kernel_signal(signal: u32, rip: u64, trapno: u64, error: u64) -> Fault {
    Fault {
        signal: u64::from(signal),
        code: SI_KERNEL as u64,
        errno: 0,
        address: 0,
        rip,
        trapno,
        error,
        cr2: None,
    }
}

/// A fresh private anonymous page with `protection`.
fn page(protection: u64) -> u64 {
    let address = mman::map_anonymous(PAGE_SIZE, protection);
    check!(address > 0, "mmap of a page: {address}");
    address as u64
}

fn page_faults() {
    // Unmapped: map a page and unmap it again.
    let unmapped = page(PROT_READ);
    // SAFETY: nothing uses the page; the load below only faults.
    let result = unsafe { mman::unmap(unmapped, PAGE_SIZE) };
    check_eq!(result, 0, "munmap");
    let (load, _) = provoke!(
        "mov {value}, qword ptr [{address}]",
        address = in(reg) unmapped,
        value = out(reg) _
    );
    expect(
        "read of an unmapped page",
        page_fault(SEGV_MAPERR, unmapped, load, PF_USER),
    );

    // Read-only, read first so that it is present.
    let read_only = page(PROT_READ);
    let value: u64;
    // SAFETY: a load of the readable page (zeroes).
    unsafe {
        asm!(
            "mov {value}, qword ptr [{address}]", // value = *read_only
            address = in(reg) read_only,
            value = lateout(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    check_eq!(value, 0, "a fresh read-only page's contents");
    check_eq!(SIGNALS.load(Ordering::Relaxed), 0, "signals reading it");
    let (store, _) = provoke!("mov byte ptr [{address}], 1", address = in(reg) read_only);
    expect(
        "write to a read-only page",
        page_fault(
            SEGV_ACCERR,
            read_only,
            store,
            PF_USER | PF_WRITE | PF_PRESENT,
        ),
    );

    let no_access = page(PROT_NONE);
    let (load, _) = provoke!(
        "mov {value}, qword ptr [{address}]",
        address = in(reg) no_access,
        value = out(reg) _
    );
    expect(
        "read of a PROT_NONE page",
        page_fault(SEGV_ACCERR, no_access, load, PF_USER),
    );
    let (store, _) = provoke!("mov byte ptr [{address}], 1", address = in(reg) no_access);
    expect(
        "write to a PROT_NONE page",
        page_fault(SEGV_ACCERR, no_access, store, PF_USER | PF_WRITE),
    );

    let (load, _) = provoke!(
        "mov {value}, qword ptr [{address}]",
        address = in(reg) KERNEL_ADDRESS,
        value = out(reg) _
    );
    expect(
        "read of a kernel address",
        page_fault(SEGV_MAPERR, KERNEL_ADDRESS, load, PF_USER | PF_PRESENT),
    );
    let (store, _) = provoke!("mov byte ptr [{address}], 1", address = in(reg) KERNEL_ADDRESS);
    expect(
        "write to a kernel address",
        page_fault(
            SEGV_MAPERR,
            KERNEL_ADDRESS,
            store,
            PF_USER | PF_WRITE | PF_PRESENT,
        ),
    );

    // Not executable, but present: written first.
    let data = page(PROT_READ | PROT_WRITE);
    // SAFETY: the first byte of the fresh writable page, which only this code uses.
    unsafe { (data as *mut u8).write_volatile(0xc3) };
    provoke!("jmp {target}", target = in(reg) data);
    expect(
        "jump into a non-executable page",
        page_fault(
            SEGV_ACCERR,
            data,
            data,
            PF_USER | PF_INSTRUCTION | PF_PRESENT,
        ),
    );
}

fn general_protection_faults() {
    let (instruction, _) = provoke!("hlt");
    expect("hlt", kernel_signal(SIGSEGV, instruction, TRAP_GP, 0));
    let (instruction, _) = provoke!("cli");
    expect("cli", kernel_signal(SIGSEGV, instruction, TRAP_GP, 0));
    let (instruction, _) = provoke!(
        "mov {value}, qword ptr [{address}]",
        address = in(reg) NON_CANONICAL,
        value = out(reg) _
    );
    expect(
        "read of a non-canonical address",
        kernel_signal(SIGSEGV, instruction, TRAP_GP, 0),
    );
    let (instruction, _) = provoke!("int 0x0d");
    expect(
        "int 0x0d",
        kernel_signal(SIGSEGV, instruction, TRAP_GP, idt_error_code(0x0d)),
    );
    let (instruction, _) = provoke!("int 0x0e");
    expect(
        "int 0x0e",
        kernel_signal(SIGSEGV, instruction, TRAP_GP, idt_error_code(0x0e)),
    );
    let (_, after) = provoke!("int 0x04");
    expect("int 0x04", kernel_signal(SIGSEGV, after, TRAP_OF, 0));
}

fn other_exceptions() {
    let (instruction, _) = provoke!("ud2");
    expect(
        "ud2",
        Fault {
            signal: u64::from(SIGILL),
            code: ILL_ILLOPN as u64,
            errno: 0,
            address: instruction,
            rip: instruction,
            trapno: TRAP_UD,
            error: 0,
            cr2: None,
        },
    );

    let (instruction, _) = provoke!(
        "div {divisor}",
        divisor = in(reg) 0_u64,
        inout("rax") 1_u64 => _,
        inout("rdx") 0_u64 => _
    );
    expect(
        "div by zero",
        Fault {
            signal: u64::from(SIGFPE),
            code: FPE_INTDIV as u64,
            errno: 0,
            address: instruction,
            rip: instruction,
            trapno: TRAP_DE,
            error: 0,
            cr2: None,
        },
    );

    let (instruction, after) = provoke!("int3");
    check_eq!(after - instruction, 1, "int3's length");
    expect("int3", kernel_signal(SIGTRAP, after, TRAP_BP, 0));
    // The assembler turns `int 3` into int3: spell out the two-byte form.
    let (instruction, after) = provoke!(".byte 0xcd, 0x03");
    check_eq!(after - instruction, 2, "int 0x03's length");
    expect("int 0x03", kernel_signal(SIGTRAP, after, TRAP_BP, 0));
}

fn main(_stack: &InitialStack) {
    for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
        check_eq!(
            signal::install(signal, on_fault, 0, 0),
            0,
            "rt_sigaction({signal})"
        );
    }
    page_faults();
    general_protection_faults();
    other_exceptions();
}
