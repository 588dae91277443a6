//! A signal handler that edits its ucontext makes rt_sigreturn resume there, with exactly
//! the edited registers, and RFLAGS filtered as Linux filters it.
//!
//! An assembly routine loads distinct values into every general register but RSP, and
//! RFLAGS, and executes `ud2`. The SIGILL handler (si_code ILL_ILLOPN, si_addr = uc RIP =
//! the `ud2`) sets uc RIP to a landing routine, uc RSP to the top of a fresh 64 KiB
//! mapping, and chosen values into uc RDI, R12 and RAX. The landing routine starts with a
//! 1-byte `nop`, then stores every general register and RFLAGS into a static, and goes
//! back into the routine (RSP from a static, a jump to the label after the `ud2`).
//!
//! - redirect: the landing code sees RSP = the mapping's top, RDI, R12 and RAX as the
//!   handler set them, every other register and RFLAGS (every arithmetic flag and DF) as
//!   loaded.
//! - eflags: the routine loads RFLAGS with only IF (and bit 1); the handler sets every bit
//!   0-21 but TF in uc EFLAGS. The landing code sees IF, bit 1 and those of Linux's
//!   FIX_EFLAGS that `pushfq` shows: CF, PF, AF, ZF, SF, DF, OF, AC, and nothing else (no
//!   NT, IOPL 0, no VM, VIF, VIP or ID: those stay as they were at the rt_sigreturn).
//! - trace: the handler sets TF in uc EFLAGS: a SIGTRAP comes right after the landing
//!   routine's first instruction: si_code TRAP_TRACE, si_addr = uc RIP = the landing
//!   routine + 1, trapno 1, err 0, uc EFLAGS = the loaded RFLAGS + TF, uc RSP, RDI, R12
//!   and RAX as the SIGILL handler set them. That handler clears TF in uc EFLAGS: the landing code then sees
//!   what the redirect case sees (no further SIGTRAP).
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::{asm, naked_asm};
use core::mem::offset_of;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use topframe_abi_tests::mman::{self, PROT_READ, PROT_WRITE};
use topframe_abi_tests::registers::rflags::AC;
use topframe_abi_tests::registers::{Pattern, Registers, rflags};
use topframe_abi_tests::signal::{
    self, ILL_ILLOPN, SIG_DFL, SIGILL, SIGTRAP, SigInfo, TRAP_TRACE, UContext,
};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail};

abi_test_main!(main);

/// The exception vector of #DB.
const TRAPNO_DB: u64 = 1;
/// The landing routine's fresh stack.
const STACK_SIZE: u64 = 64 * 1024;
/// What the handler writes into uc RDI, R12 and RAX.
const NEW_RDI: u64 = 0xd1d1_0000_1111_2222;
const NEW_R12: u64 = 0x1212_3333_4444_5555;
const NEW_RAX: u64 = 0xa0a0_6666_7777_8888;
/// Every RFLAGS bit 0-21 but TF (8).
const ALL_BUT_TF: u64 = ((1 << 22) - 1) & !rflags::TF;
/// The bits of Linux's FIX_EFLAGS (AC, OF, DF, TF, SF, ZF, AF, PF, CF, RF) that `pushfq`
/// shows with TF clear: RF reads as 0.
const RESTORED_VISIBLE: u64 =
    rflags::CF | rflags::PF | rflags::AF | rflags::ZF | rflags::SF | rflags::DF | rflags::OF | AC;
/// The flags the redirect and trace cases load: the arithmetic flags and DF.
const ARITHMETIC_AND_DF: u64 = rflags::QUIET
    | rflags::CF
    | rflags::PF
    | rflags::AF
    | rflags::ZF
    | rflags::SF
    | rflags::OF
    | rflags::DF;

/// How the SIGILL handler edits uc EFLAGS.
const EFLAGS_KEEP: u64 = 0;
const EFLAGS_ALL_BUT_TF: u64 = 1;
const EFLAGS_ADD_TF: u64 = 2;

// The SIGILL handler's instructions from `main`, and what it saw.
static NEW_RSP: AtomicU64 = AtomicU64::new(0);
static EFLAGS_EDIT: AtomicU64 = AtomicU64::new(EFLAGS_KEEP);
static ILL_RUNS: AtomicU64 = AtomicU64::new(0);
static ILL_CODE: AtomicI64 = AtomicI64::new(0);
static ILL_ADDR: AtomicU64 = AtomicU64::new(0);
static ILL_RIP: AtomicU64 = AtomicU64::new(0);

// What the SIGTRAP handler saw.
static TRAP_RUNS: AtomicU64 = AtomicU64::new(0);
static TRAP_CODE: AtomicI64 = AtomicI64::new(0);
static TRAP_ADDR: AtomicU64 = AtomicU64::new(0);
static TRAP_RIP: AtomicU64 = AtomicU64::new(0);
static TRAP_TRAPNO: AtomicU64 = AtomicU64::new(0);
static TRAP_ERR: AtomicU64 = AtomicU64::new(u64::MAX);
static TRAP_EFLAGS: AtomicU64 = AtomicU64::new(0);
/// uc RSP, RDI, R12 and RAX of the SIGTRAP.
static TRAP_REGISTERS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// The SIGILL handler: records the fault, then sends the `ud2`'s context to [`land`] with
/// a new RSP, RDI, R12 and RAX, and EFLAGS as [`EFLAGS_EDIT`] says.
extern "C" fn ill_handler(_signal: u32, info: &mut SigInfo, context: &mut UContext) {
    if ILL_RUNS.fetch_add(1, Ordering::SeqCst) != 0 {
        fail!(
            "SIGILL again at {:#x}: the edited RIP was not taken",
            context.mcontext.rip
        );
    }
    ILL_CODE.store(i64::from(info.code), Ordering::SeqCst);
    ILL_ADDR.store(info.addr(), Ordering::SeqCst);
    let sc = &mut context.mcontext;
    ILL_RIP.store(sc.rip, Ordering::SeqCst);
    sc.rip = land as *const () as u64;
    sc.rsp = NEW_RSP.load(Ordering::SeqCst);
    sc.rdi = NEW_RDI;
    sc.r12 = NEW_R12;
    sc.rax = NEW_RAX;
    match EFLAGS_EDIT.load(Ordering::SeqCst) {
        EFLAGS_ALL_BUT_TF => sc.eflags = ALL_BUT_TF,
        EFLAGS_ADD_TF => sc.eflags |= rflags::TF,
        _ => {}
    }
}

/// The SIGTRAP handler: records the trap, and clears TF in uc EFLAGS (no more steps).
extern "C" fn trap_handler(_signal: u32, info: &mut SigInfo, context: &mut UContext) {
    TRAP_RUNS.fetch_add(1, Ordering::SeqCst);
    TRAP_CODE.store(i64::from(info.code), Ordering::SeqCst);
    TRAP_ADDR.store(info.addr(), Ordering::SeqCst);
    let sc = &mut context.mcontext;
    TRAP_RIP.store(sc.rip, Ordering::SeqCst);
    TRAP_TRAPNO.store(sc.trapno, Ordering::SeqCst);
    TRAP_ERR.store(sc.err, Ordering::SeqCst);
    TRAP_EFLAGS.store(sc.eflags, Ordering::SeqCst);
    for (slot, value) in TRAP_REGISTERS.iter().zip([sc.rsp, sc.rdi, sc.r12, sc.rax]) {
        slot.store(value, Ordering::SeqCst);
    }
    sc.eflags &= !rflags::TF;
}

// The routine's data: only `trap_and_land` and `land` touch them, in their assembly and
// around it, in one thread; the handlers read none of them.
/// The general registers and RFLAGS to load (RSP: unused; RFLAGS: replaced by what the
/// CPU accepted).
static mut LOADED: Registers = Registers::ZERO;
/// The general registers and RFLAGS as the landing routine found them.
static mut LANDED: Registers = Registers::ZERO;
/// The `ud2`'s address, and where the landing routine goes back to.
static mut TRAP_ADDRESS: u64 = 0;
static mut RESUME: u64 = 0;
/// RBX, RBP and RSP of the Rust code around the assembly, restored after the landing.
static mut SAVED_RBX: u64 = 0;
static mut SAVED_RBP: u64 = 0;
static mut SAVED_RSP: u64 = 0;

/// Where the SIGILL handler sends the `ud2`'s context (jumped to, never called): a `nop`
/// (the instruction a TF trap comes after), then it stores every general register and
/// RFLAGS into [`LANDED`] before any instruction changes one, takes RSP back from
/// [`SAVED_RSP`] and jumps to [`RESUME`], in `trap_and_land`. Every memory access is
/// aligned (AC may be set).
///
/// # Safety
/// Only reached through the handler's edit of the context of `trap_and_land`'s `ud2`,
/// with [`SAVED_RSP`] and [`RESUME`] set by it, and RSP at the top of a writable mapping.
#[unsafe(naked)]
unsafe extern "C" fn land() {
    naked_asm!(
        // The first instruction: 1 byte, changes nothing.
        "nop",
        // Store all 16 general registers as they arrived.
        "mov [rip + {landed} + {rax}], rax",
        "mov [rip + {landed} + {rbx}], rbx",
        "mov [rip + {landed} + {rcx}], rcx",
        "mov [rip + {landed} + {rdx}], rdx",
        "mov [rip + {landed} + {rsi}], rsi",
        "mov [rip + {landed} + {rdi}], rdi",
        "mov [rip + {landed} + {rbp}], rbp",
        "mov [rip + {landed} + {rsp}], rsp",
        "mov [rip + {landed} + {r8}], r8",
        "mov [rip + {landed} + {r9}], r9",
        "mov [rip + {landed} + {r10}], r10",
        "mov [rip + {landed} + {r11}], r11",
        "mov [rip + {landed} + {r12}], r12",
        "mov [rip + {landed} + {r13}], r13",
        "mov [rip + {landed} + {r14}], r14",
        "mov [rip + {landed} + {r15}], r15",
        // RFLAGS as it arrived (no flag changed since): push it onto the new stack...
        "pushfq",
        // ...and pop it into LANDED.
        "pop qword ptr [rip + {landed} + {rflags}]",
        // Back to the routine's stack...
        "mov rsp, [rip + {saved_rsp}]",
        // ...and to the routine, after its `ud2`.
        "jmp qword ptr [rip + {resume}]",
        landed = sym LANDED,
        saved_rsp = sym SAVED_RSP,
        resume = sym RESUME,
        rax = const offset_of!(Registers, rax),
        rbx = const offset_of!(Registers, rbx),
        rcx = const offset_of!(Registers, rcx),
        rdx = const offset_of!(Registers, rdx),
        rsi = const offset_of!(Registers, rsi),
        rdi = const offset_of!(Registers, rdi),
        rbp = const offset_of!(Registers, rbp),
        rsp = const offset_of!(Registers, rsp),
        r8 = const offset_of!(Registers, r8),
        r9 = const offset_of!(Registers, r9),
        r10 = const offset_of!(Registers, r10),
        r11 = const offset_of!(Registers, r11),
        r12 = const offset_of!(Registers, r12),
        r13 = const offset_of!(Registers, r13),
        r14 = const offset_of!(Registers, r14),
        r15 = const offset_of!(Registers, r15),
        rflags = const offset_of!(Registers, rflags),
    )
}

/// What one trip through the `ud2` and the landing routine gave.
struct Trip {
    /// As loaded (RFLAGS: as the CPU took it).
    loaded: Registers,
    /// As the landing routine found them.
    landed: Registers,
    trap_address: u64,
}

/// Loads `registers` (RSP kept) and their RFLAGS, executes `ud2`, and, once the landing
/// routine is back, returns what it found.
fn trap_and_land(registers: Registers) -> Trip {
    // SAFETY: one thread; the handlers touch none of these statics. The SIGILL handler
    // sends the `ud2` to `land` (on a fresh stack, see `main`), which jumps back to label
    // 2 with RSP restored. The assembly restores RBX, RBP and RSP, sets RFLAGS to IF only
    // (DF and AC clear), and declares every other general register clobbered.
    unsafe {
        LOADED = registers;
        asm!(
            // Save the registers the Rust code around needs back and cannot declare.
            "mov [rip + {saved_rbx}], rbx",
            "mov [rip + {saved_rbp}], rbp",
            "mov [rip + {saved_rsp}], rsp",
            // Record the `ud2`'s address (label 3)...
            "lea rax, [rip + 3f]",
            "mov [rip + {trap_address}], rax",
            // ...and where `land` comes back to (label 2).
            "lea rax, [rip + 2f]",
            "mov [rip + {resume}], rax",
            // RFLAGS = the pattern: push it from memory...
            "push qword ptr [rip + {loaded} + {rflags}]",
            // ...and pop it into RFLAGS (user mode: IF, IOPL and the like stay).
            "popfq",
            // Read back what the CPU accepted: push RFLAGS...
            "pushfq",
            // ...and pop it into LOADED. From here to the `ud2` no instruction changes a
            // flag (mov does not).
            "pop qword ptr [rip + {loaded} + {rflags}]",
            // Load the 15 general registers but RSP.
            "mov rax, [rip + {loaded} + {rax}]",
            "mov rbx, [rip + {loaded} + {rbx}]",
            "mov rcx, [rip + {loaded} + {rcx}]",
            "mov rdx, [rip + {loaded} + {rdx}]",
            "mov rsi, [rip + {loaded} + {rsi}]",
            "mov rdi, [rip + {loaded} + {rdi}]",
            "mov rbp, [rip + {loaded} + {rbp}]",
            "mov r8, [rip + {loaded} + {r8}]",
            "mov r9, [rip + {loaded} + {r9}]",
            "mov r10, [rip + {loaded} + {r10}]",
            "mov r11, [rip + {loaded} + {r11}]",
            "mov r12, [rip + {loaded} + {r12}]",
            "mov r13, [rip + {loaded} + {r13}]",
            "mov r14, [rip + {loaded} + {r14}]",
            "mov r15, [rip + {loaded} + {r15}]",
            // SIGILL: the handler sends this to `land`, which comes back to label 2.
            "3:",
            "ud2",
            // Never reached: the handler fails the program on a second SIGILL.
            "ud2",
            "2:",
            // RFLAGS = IF only: DF and AC (which the edits may set) clear.
            "push {quiet}",
            "popfq",
            // Restore the registers saved at the start (RSP: by `land`).
            "mov rbx, [rip + {saved_rbx}]",
            "mov rbp, [rip + {saved_rbp}]",
            loaded = sym LOADED,
            trap_address = sym TRAP_ADDRESS,
            resume = sym RESUME,
            saved_rbx = sym SAVED_RBX,
            saved_rbp = sym SAVED_RBP,
            saved_rsp = sym SAVED_RSP,
            quiet = const rflags::QUIET,
            rax = const offset_of!(Registers, rax),
            rbx = const offset_of!(Registers, rbx),
            rcx = const offset_of!(Registers, rcx),
            rdx = const offset_of!(Registers, rdx),
            rsi = const offset_of!(Registers, rsi),
            rdi = const offset_of!(Registers, rdi),
            rbp = const offset_of!(Registers, rbp),
            r8 = const offset_of!(Registers, r8),
            r9 = const offset_of!(Registers, r9),
            r10 = const offset_of!(Registers, r10),
            r11 = const offset_of!(Registers, r11),
            r12 = const offset_of!(Registers, r12),
            r13 = const offset_of!(Registers, r13),
            r14 = const offset_of!(Registers, r14),
            r15 = const offset_of!(Registers, r15),
            rflags = const offset_of!(Registers, rflags),
            out("rax") _,
            out("rcx") _,
            out("rdx") _,
            out("rsi") _,
            out("rdi") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
        );
        Trip {
            loaded: LOADED,
            landed: LANDED,
            trap_address: TRAP_ADDRESS,
        }
    }
}

/// A fresh 64 KiB mapping's top: the landing routine's RSP.
fn fresh_stack_top() -> u64 {
    let stack = mman::map_anonymous(STACK_SIZE, PROT_READ | PROT_WRITE);
    check!(stack > 0, "mmap of a landing stack: {stack}");
    stack as u64 + STACK_SIZE
}

/// Runs one trip with RFLAGS `flags` and the uc EFLAGS edit `edit`; checks the SIGILL
/// and that the landing routine found RSP, RDI, R12 and RAX as the handler set them and
/// every other register as loaded.
fn trip(what: &str, flags: u64, edit: u64) -> Trip {
    let top = fresh_stack_top();
    NEW_RSP.store(top, Ordering::SeqCst);
    EFLAGS_EDIT.store(edit, Ordering::SeqCst);
    ILL_RUNS.store(0, Ordering::SeqCst);
    TRAP_RUNS.store(0, Ordering::SeqCst);
    let trip = trap_and_land(Registers::with_pattern(Pattern::Distinct, flags));
    check_eq!(ILL_RUNS.load(Ordering::SeqCst), 1, "{what}: SIGILL runs");
    check_eq!(
        (
            ILL_CODE.load(Ordering::SeqCst),
            ILL_ADDR.load(Ordering::SeqCst),
            ILL_RIP.load(Ordering::SeqCst),
        ),
        (i64::from(ILL_ILLOPN), trip.trap_address, trip.trap_address),
        "{what}: SIGILL (si_code, si_addr, uc RIP)"
    );
    let expected = Registers {
        rsp: top,
        rdi: NEW_RDI,
        r12: NEW_R12,
        rax: NEW_RAX,
        rflags: trip.landed.rflags,
        ..trip.loaded
    };
    check_eq!(
        trip.landed,
        expected,
        "{what}: the registers (RFLAGS aside) at the landing routine"
    );
    trip
}

fn redirect() {
    let what = "redirect";
    let trip = trip(what, ARITHMETIC_AND_DF, EFLAGS_KEEP);
    check_eq!(
        trip.loaded.rflags,
        ARITHMETIC_AND_DF,
        "{what}: the loaded RFLAGS"
    );
    check_eq!(
        trip.landed.rflags,
        trip.loaded.rflags,
        "{what}: RFLAGS at the landing routine"
    );
    check_eq!(TRAP_RUNS.load(Ordering::SeqCst), 0, "{what}: SIGTRAP runs");
}

fn eflags() {
    let what = "eflags";
    let trip = trip(what, rflags::QUIET, EFLAGS_ALL_BUT_TF);
    check_eq!(
        trip.loaded.rflags,
        rflags::QUIET,
        "{what}: the loaded RFLAGS"
    );
    check_eq!(
        trip.landed.rflags,
        rflags::QUIET | (ALL_BUT_TF & RESTORED_VISIBLE),
        "{what}: RFLAGS at the landing routine after uc EFLAGS = {ALL_BUT_TF:#x}"
    );
    check_eq!(TRAP_RUNS.load(Ordering::SeqCst), 0, "{what}: SIGTRAP runs");
}

fn trace() {
    let what = "trace";
    check_eq!(
        signal::install(SIGTRAP, trap_handler, 0, 0),
        0,
        "rt_sigaction(SIGTRAP)"
    );
    let trip = trip(what, ARITHMETIC_AND_DF, EFLAGS_ADD_TF);
    check_eq!(signal::set_disposition(SIGTRAP, SIG_DFL), 0, "SIG_DFL");
    check_eq!(TRAP_RUNS.load(Ordering::SeqCst), 1, "{what}: SIGTRAP runs");
    let after_nop = land as *const () as u64 + 1;
    check_eq!(
        (
            TRAP_CODE.load(Ordering::SeqCst),
            TRAP_ADDR.load(Ordering::SeqCst),
            TRAP_RIP.load(Ordering::SeqCst),
        ),
        (i64::from(TRAP_TRACE), after_nop, after_nop),
        "{what}: SIGTRAP (si_code, si_addr, uc RIP); the landing routine + 1: {after_nop:#x}"
    );
    check_eq!(
        (
            TRAP_TRAPNO.load(Ordering::SeqCst),
            TRAP_ERR.load(Ordering::SeqCst)
        ),
        (TRAPNO_DB, 0),
        "{what}: SIGTRAP (trapno, err)"
    );
    let eflags = TRAP_EFLAGS.load(Ordering::SeqCst);
    check_eq!(
        eflags,
        trip.loaded.rflags | rflags::TF,
        "{what}: SIGTRAP uc EFLAGS"
    );
    check_eq!(
        TRAP_REGISTERS
            .each_ref()
            .map(|slot| slot.load(Ordering::SeqCst)),
        [trip.landed.rsp, NEW_RDI, NEW_R12, NEW_RAX],
        "{what}: SIGTRAP uc (RSP, RDI, R12, RAX)"
    );
    check_eq!(
        trip.landed.rflags,
        trip.loaded.rflags,
        "{what}: RFLAGS at the landing routine (TF cleared by the SIGTRAP handler)"
    );
}

fn main(_stack: &InitialStack) {
    check_eq!(
        signal::install(SIGILL, ill_handler, 0, 0),
        0,
        "rt_sigaction(SIGILL)"
    );
    redirect();
    eflags();
    trace();
    check_eq!(signal::set_disposition(SIGILL, SIG_DFL), 0, "SIG_DFL");
    check_eq!(signal::mask(), 0, "the mask at the end");
}
