//! A signal handler's round trip (delivery, then rt_sigreturn) gives the interrupted code
//! back every general register, RFLAGS' arithmetic flags and DF, XMM0-XMM15 and MXCSR
//! exactly, from the signal frame. One assembly routine loads every general register with
//! distinct values, RSP included (a misaligned address inside a mapping of its own),
//! RFLAGS with every arithmetic flag, DF and NT set, XMM0-XMM15 with distinct patterns and
//! MXCSR with round-toward-zero, executes the trap, and right after stores all of them.
//! The handler the kernel enters is an assembly trampoline that records RSP, XMM0-XMM15
//! and MXCSR as the kernel set them and jumps to the Rust part, which records the
//! siginfo, the ucontext and the FPU image, then overwrites every general register,
//! XMM0-XMM15 and RFLAGS (IF only) itself in assembly before it returns, so that only the
//! frame can give them back.
//!
//! Both cases: the handler starts with (RSP + 8) % 16 == 0, RSP below the red zone under
//! the interrupted RSP, XMM0-XMM15 zero and MXCSR 0x1f80 (the initial FPU state); the
//! frame's FPU image holds the loaded XMM0-XMM15 and MXCSR; the handler runs once; after
//! the return XMM0-XMM15 and MXCSR are as loaded, and RFLAGS too but NT, which Linux's
//! rt_sigreturn does not take from the frame (not in FIX_EFLAGS): it is the handler's
//! (clear).
//!
//! - `ud2` (SIGILL): si_code ILL_ILLOPN, si_addr = the `ud2`'s address, uc RIP = that
//!   address, every general register and EFLAGS (but RF, which the CPU may set) in the
//!   ucontext as loaded, trapno 6, err 0. The handler moves uc RIP past the `ud2` (2
//!   bytes): after the return every general register is as loaded.
//! - `syscall` tgkill(getpid(), gettid(), SIGUSR1), an asynchronous signal delivered on the
//!   way out: si_code SI_TKILL, si_pid getpid(); the ucontext holds RAX = 0, RCX = RIP =
//!   the address after the `syscall`, R11 = EFLAGS = the RFLAGS of the `syscall`, every
//!   other register as loaded; after the return the `syscall` contract holds: RAX = 0, RCX
//!   = the return address, R11 = the loaded RFLAGS, every other register as loaded.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::{asm, naked_asm};
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::mman::{self, PROT_READ, PROT_WRITE};
use topframe_abi_tests::registers::rflags::RF;
use topframe_abi_tests::registers::{Capture, Pattern, Registers, rflags};
use topframe_abi_tests::signal::{
    self, ILL_ILLOPN, SI_TKILL, SIG_DFL, SIGILL, SIGUSR1, SigInfo, UContext,
};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, getpid, gettid, nr};

abi_test_main!(main);

/// The exception vector of #UD.
const TRAPNO_UD: u64 = 6;
/// The red zone below the interrupted RSP.
const RED_ZONE: u64 = 128;
/// MXCSR after reset (every exception masked, round to nearest).
const MXCSR_DEFAULT: u32 = 0x1f80;
/// The MXCSR the routine loads: every exception masked, round toward zero (RC = 11).
const MXCSR_LOADED: u32 = MXCSR_DEFAULT | 0x6000;
/// The mapping the routine's RSP points into, and where in it (misaligned on purpose).
const STACK_SIZE: u64 = 64 * 1024;
const RSP_BELOW_TOP: u64 = 0x1235;
/// In the FXSAVE image: MXCSR and XMM0.
const FXSAVE_MXCSR: usize = 24;
const FXSAVE_XMM0: usize = 160;
/// The FXSAVE image's size in 64-bit words.
const FXSAVE_WORDS: usize = 512 / 8;
/// What the handler's assembly writes into every general register.
const CLOBBER: u64 = 0xdead_beef_0bad_f00d;
/// The 64-bit words of a `ucontext` and a `siginfo_t`.
const CONTEXT_WORDS: usize = size_of::<UContext>() / 8;
const INFO_WORDS: usize = size_of::<SigInfo>() / 8;

/// Words of plain data, copied in and out whole.
struct Words<const N: usize>([AtomicU64; N]);

impl<const N: usize> Words<N> {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; N])
    }

    fn store(&self, words: [u64; N]) {
        for (slot, word) in self.0.iter().zip(words) {
            slot.store(word, Ordering::SeqCst);
        }
    }

    fn load(&self) -> [u64; N] {
        core::array::from_fn(|index| self.0[index].load(Ordering::SeqCst))
    }
}

// What the handler saw, written by it (and its trampoline) only.
/// RSP, XMM0-XMM15 (two words each) and MXCSR at the handler's entry.
static ENTRY_RSP: AtomicU64 = AtomicU64::new(0);
static ENTRY_XMM: Words<32> = Words::new();
static ENTRY_MXCSR: AtomicU32 = AtomicU32::new(0);
static RUNS: AtomicU64 = AtomicU64::new(0);
static SIGNAL: AtomicU64 = AtomicU64::new(0);
static INFO: Words<INFO_WORDS> = Words::new();
static CONTEXT: Words<CONTEXT_WORDS> = Words::new();
/// The frame's FXSAVE image (the first 512 bytes at fpstate).
static FXSAVE: Words<FXSAVE_WORDS> = Words::new();

/// The handler the kernel enters: records RSP, MXCSR and XMM0-XMM15 as the kernel set
/// them, then jumps to [`handler`] with its arguments and return address untouched.
// SAFETY: the assembly is the whole function: it only stores RSP, MXCSR and XMM0-XMM15
// into statics, then jumps to a function of the same signature with the argument
// registers and [RSP] unchanged.
#[unsafe(naked)]
extern "C" fn handler_entry(_signal: u32, _info: &mut SigInfo, _context: &mut UContext) {
    naked_asm!(
        "mov [rip + {entry_rsp}], rsp",     // ENTRY_RSP = RSP at entry
        "stmxcsr [rip + {entry_mxcsr}]",    // ENTRY_MXCSR = MXCSR
        ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
        "movdqu xmmword ptr [rip + {entry_xmm} + 16 * \\n], xmm\\n", // ENTRY_XMM[n] = XMMn
        ".endr",
        "jmp {handler}",                    // the Rust part, which returns to [RSP]
        entry_rsp = sym ENTRY_RSP,
        entry_mxcsr = sym ENTRY_MXCSR,
        entry_xmm = sym ENTRY_XMM,
        handler = sym handler,
    )
}

/// The Rust part of the handler: records what it was given, moves RIP past the `ud2` of
/// a SIGILL, and overwrites every register it can.
extern "C" fn handler(signal: u32, info: &mut SigInfo, context: &mut UContext) {
    RUNS.fetch_add(1, Ordering::SeqCst);
    SIGNAL.store(u64::from(signal), Ordering::SeqCst);
    // SAFETY: `info` and `context` are the frame's siginfo and ucontext, which the kernel
    // wrote whole (padding included); read as words they are plain integers.
    let (info_words, context_words) = unsafe {
        (
            (info as *const SigInfo).cast::<[u64; INFO_WORDS]>().read(),
            (context as *const UContext)
                .cast::<[u64; CONTEXT_WORDS]>()
                .read(),
        )
    };
    INFO.store(info_words);
    CONTEXT.store(context_words);
    let fpstate = context.mcontext.fpstate;
    check!(
        fpstate != 0 && fpstate.is_multiple_of(64),
        "handler: fpstate {fpstate:#x} is 0 or not 64-byte aligned"
    );
    // SAFETY: a nonzero, 64-byte aligned fpstate points at the frame's FPU image, which
    // starts with the 512-byte FXSAVE area.
    FXSAVE.store(unsafe { (fpstate as *const [u64; FXSAVE_WORDS]).read() });
    if signal == SIGILL {
        // Resume after the 2-byte `ud2`.
        context.mcontext.rip += 2;
    }
    clobber_registers();
}

/// Overwrites every general register but RSP with [`CLOBBER`], XMM0-XMM15 with it too,
/// and RFLAGS with nothing but IF (RBX and RBP are pushed around it and come back).
fn clobber_registers() {
    // SAFETY: only registers change; RBX and RBP are restored from the stack, every other
    // general register and XMM register is declared clobbered, and DF ends clear.
    unsafe {
        asm!(
            "push rbx",                 // RBX: LLVM's, back at the end
            "push rbp",                 // RBP: likewise
            "mov rax, {clobber}",       // RAX = the pattern
            "mov rbx, rax",             // and into every other general register
            "mov rcx, rax",
            "mov rdx, rax",
            "mov rsi, rax",
            "mov rdi, rax",
            "mov rbp, rax",
            "mov r8, rax",
            "mov r9, rax",
            "mov r10, rax",
            "mov r11, rax",
            "mov r12, rax",
            "mov r13, rax",
            "mov r14, rax",
            "mov r15, rax",
            "movq xmm0, rax",           // XMM0 low half = the pattern
            "punpcklqdq xmm0, xmm0",    // high half too
            ".irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "movdqa xmm\\n, xmm0",      // XMMn = XMM0
            ".endr",
            "push {quiet}",             // RFLAGS = IF only: push it...
            "popfq",                    // ...and pop it
            "pop rbp",                  // RBP back (pop changes no flag)
            "pop rbx",                  // RBX back
            clobber = const CLOBBER,
            quiet = const rflags::QUIET,
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
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            out("xmm4") _,
            out("xmm5") _,
            out("xmm6") _,
            out("xmm7") _,
            out("xmm8") _,
            out("xmm9") _,
            out("xmm10") _,
            out("xmm11") _,
            out("xmm12") _,
            out("xmm13") _,
            out("xmm14") _,
            out("xmm15") _,
        );
    }
}

// The routine's data: only `trap_with_all_registers` touches them, in its asm block and
// around it, in one thread; the handler reads none of them.
/// The general registers and RFLAGS to load (RFLAGS: replaced by what the CPU accepted).
static mut LOADED: Registers = Registers::ZERO;
/// The general registers and RFLAGS right after the trap.
static mut AFTER: Registers = Registers::ZERO;
/// XMM0-XMM15 and MXCSR to load, and right after the trap.
static mut XMM_LOADED: [[u8; 16]; 16] = [[0; 16]; 16];
static mut XMM_AFTER: [[u8; 16]; 16] = [[0; 16]; 16];
static MXCSR_TO_LOAD: u32 = MXCSR_LOADED;
static mut MXCSR_AFTER: u32 = 0;
/// The trap instruction's address, and the address after it.
static mut TRAP_ADDRESS: u64 = 0;
static mut RETURN_ADDRESS: u64 = 0;
/// RBX, RBP, RSP and MXCSR of the Rust code around the assembly, restored after the trap.
static mut SAVED_RBX: u64 = 0;
static mut SAVED_RBP: u64 = 0;
static mut SAVED_RSP: u64 = 0;
static mut SAVED_MXCSR: u32 = 0;

/// The assembly of [`trap_with_all_registers`] around the trap instruction `$trap`.
macro_rules! trap_with_all_registers {
    ($trap:literal) => {
        asm!(
            // Save the registers the Rust code around needs back and cannot declare.
            "mov [rip + {saved_rbx}], rbx",
            "mov [rip + {saved_rbp}], rbp",
            "mov [rip + {saved_rsp}], rsp",
            "stmxcsr [rip + {saved_mxcsr}]",
            // Record the trap's address (label 3)...
            "lea rax, [rip + 3f]",
            "mov [rip + {trap_address}], rax",
            // ...and the address after it (label 2).
            "lea rax, [rip + 2f]",
            "mov [rip + {return_address}], rax",
            // RFLAGS = the pattern: push it from memory...
            "push qword ptr [rip + {loaded} + {rflags}]",
            // ...and pop it into RFLAGS (user mode: IF, IOPL and the like stay).
            "popfq",
            // Read back what the CPU accepted: push RFLAGS...
            "pushfq",
            // ...and pop it into LOADED. From here to the trap no instruction changes a
            // flag (mov, movdqu, ldmxcsr and pop do not).
            "pop qword ptr [rip + {loaded} + {rflags}]",
            // MXCSR = the pattern.
            "ldmxcsr [rip + {mxcsr_to_load}]",
            // Load XMM0-XMM15.
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "movdqu xmm\\n, xmmword ptr [rip + {xmm_loaded} + 16 * \\n]", // XMMn = XMM_LOADED[n]
            ".endr",
            // Load all 16 general registers, RSP last: from here no instruction uses the
            // stack (the signal frame goes below RSP).
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
            "mov rsp, [rip + {loaded} + {rsp}]",
            // The trap: the handler runs, and returns through rt_sigreturn to label 2.
            "3:",
            $trap,
            "2:",
            // Store all 16 general registers as they came back.
            "mov [rip + {after} + {rax}], rax",
            "mov [rip + {after} + {rbx}], rbx",
            "mov [rip + {after} + {rcx}], rcx",
            "mov [rip + {after} + {rdx}], rdx",
            "mov [rip + {after} + {rsi}], rsi",
            "mov [rip + {after} + {rdi}], rdi",
            "mov [rip + {after} + {rbp}], rbp",
            "mov [rip + {after} + {rsp}], rsp",
            "mov [rip + {after} + {r8}], r8",
            "mov [rip + {after} + {r9}], r9",
            "mov [rip + {after} + {r10}], r10",
            "mov [rip + {after} + {r11}], r11",
            "mov [rip + {after} + {r12}], r12",
            "mov [rip + {after} + {r13}], r13",
            "mov [rip + {after} + {r14}], r14",
            "mov [rip + {after} + {r15}], r15",
            // Back to the program's stack.
            "mov rsp, [rip + {saved_rsp}]",
            // RFLAGS as it came back (no flag changed since): push it...
            "pushfq",
            // ...and pop it into AFTER.
            "pop qword ptr [rip + {after} + {rflags}]",
            // Store XMM0-XMM15 and MXCSR.
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "movdqu xmmword ptr [rip + {xmm_after} + 16 * \\n], xmm\\n", // XMM_AFTER[n] = XMMn
            ".endr",
            "stmxcsr [rip + {mxcsr_after}]",
            // DF = 0, as the Rust ABI requires (the pattern set it).
            "cld",
            // Restore what was saved at the start.
            "ldmxcsr [rip + {saved_mxcsr}]",
            "mov rbx, [rip + {saved_rbx}]",
            "mov rbp, [rip + {saved_rbp}]",
            loaded = sym LOADED,
            after = sym AFTER,
            xmm_loaded = sym XMM_LOADED,
            xmm_after = sym XMM_AFTER,
            mxcsr_to_load = sym MXCSR_TO_LOAD,
            mxcsr_after = sym MXCSR_AFTER,
            trap_address = sym TRAP_ADDRESS,
            return_address = sym RETURN_ADDRESS,
            saved_rbx = sym SAVED_RBX,
            saved_rbp = sym SAVED_RBP,
            saved_rsp = sym SAVED_RSP,
            saved_mxcsr = sym SAVED_MXCSR,
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
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            out("xmm4") _,
            out("xmm5") _,
            out("xmm6") _,
            out("xmm7") _,
            out("xmm8") _,
            out("xmm9") _,
            out("xmm10") _,
            out("xmm11") _,
            out("xmm12") _,
            out("xmm13") _,
            out("xmm14") _,
            out("xmm15") _,
        )
    };
}

/// The trap instruction.
#[derive(Clone, Copy)]
enum Trap {
    /// `ud2`: SIGILL, whose handler moves RIP past it.
    Ud2,
    /// `syscall` (the registers make it tgkill of this thread with SIGUSR1).
    Syscall,
}

/// What one round trip gave.
struct RoundTrip {
    capture: Capture,
    trap_address: u64,
    xmm_loaded: [u128; 16],
    xmm_after: [u128; 16],
    mxcsr_after: u32,
}

/// Loads `registers` (RSP and RFLAGS too), `xmm` and [`MXCSR_LOADED`], executes `trap`,
/// and returns what came back.
fn trap_with_all_registers(trap: Trap, registers: Registers, xmm: [u128; 16]) -> RoundTrip {
    // SAFETY: one thread; the handler touches none of these statics. The trap enters the
    // handler, which returns through rt_sigreturn to the instruction after the trap (the
    // SIGILL handler moves RIP there). RSP points into a mapping of this program's with
    // room for the signal frame below it. The assembly restores RBX, RBP, RSP and MXCSR,
    // clears DF, and declares every other general register and XMM0-XMM15 clobbered.
    unsafe {
        LOADED = registers;
        XMM_LOADED = xmm.map(u128::to_le_bytes);
        match trap {
            Trap::Ud2 => trap_with_all_registers!("ud2"),
            Trap::Syscall => trap_with_all_registers!("syscall"),
        }
        RoundTrip {
            capture: Capture {
                loaded: LOADED,
                after: AFTER,
                return_address: RETURN_ADDRESS,
            },
            trap_address: TRAP_ADDRESS,
            xmm_loaded: XMM_LOADED.map(u128::from_le_bytes),
            xmm_after: XMM_AFTER.map(u128::from_le_bytes),
            mxcsr_after: MXCSR_AFTER,
        }
    }
}

/// The general registers and EFLAGS a sigcontext holds, as [`Registers`].
fn sigcontext_registers(context: &UContext) -> Registers {
    let sc = &context.mcontext;
    Registers {
        rax: sc.rax,
        rbx: sc.rbx,
        rcx: sc.rcx,
        rdx: sc.rdx,
        rsi: sc.rsi,
        rdi: sc.rdi,
        rbp: sc.rbp,
        rsp: sc.rsp,
        r8: sc.r8,
        r9: sc.r9,
        r10: sc.r10,
        r11: sc.r11,
        r12: sc.r12,
        r13: sc.r13,
        r14: sc.r14,
        r15: sc.r15,
        rflags: sc.eflags,
    }
}

/// What the handler recorded in one round trip.
struct Seen {
    entry_rsp: u64,
    entry_xmm: [u64; 32],
    entry_mxcsr: u32,
    signal: u32,
    info: SigInfo,
    context: UContext,
    fxsave: [u64; FXSAVE_WORDS],
}

fn seen() -> Seen {
    Seen {
        entry_rsp: ENTRY_RSP.load(Ordering::SeqCst),
        entry_xmm: ENTRY_XMM.load(),
        entry_mxcsr: ENTRY_MXCSR.load(Ordering::SeqCst),
        signal: SIGNAL.load(Ordering::SeqCst) as u32,
        // SAFETY: SigInfo is plain integers (repr(C), 16 words): any bits are valid.
        info: unsafe { core::mem::transmute::<[u64; INFO_WORDS], SigInfo>(INFO.load()) },
        // SAFETY: UContext is plain integers (repr(C), 38 words): any bits are valid.
        context: unsafe { core::mem::transmute::<[u64; CONTEXT_WORDS], UContext>(CONTEXT.load()) },
        fxsave: FXSAVE.load(),
    }
}

/// Installs the handler for `signal`, runs one round trip with `trap`, and checks what
/// both cases share: one run, the handler's entry state, the frame's FPU image, and XMM
/// and MXCSR after the return.
fn round_trip(what: &str, signal: u32, trap: Trap, registers: Registers) -> (RoundTrip, Seen) {
    check_eq!(
        signal::install(signal, handler_entry, 0, 0),
        0,
        "{what}: rt_sigaction"
    );
    RUNS.store(0, Ordering::SeqCst);
    let xmm = core::array::from_fn(|register| {
        u128::from_le_bytes(core::array::from_fn(|byte| {
            ((register * 16 + byte) as u8).wrapping_mul(29) ^ 0x5a
        }))
    });
    let round_trip = trap_with_all_registers(trap, registers, xmm);
    check_eq!(signal::set_disposition(signal, SIG_DFL), 0, "SIG_DFL");
    check_eq!(RUNS.load(Ordering::SeqCst), 1, "{what}: handler runs");
    check_eq!(signal::mask(), 0, "{what}: the mask after the return");
    let seen = seen();
    check_eq!(seen.signal, signal, "{what}: the handler's signal argument");
    check_eq!(
        (seen.info.signo, seen.info.errno),
        (signal as i32, 0),
        "{what}: (si_signo, si_errno)"
    );
    let loaded = round_trip.capture.loaded;
    check_eq!(
        loaded.rflags & rflags::LOUD,
        rflags::LOUD,
        "{what}: the loaded RFLAGS (every arithmetic flag, DF, NT)"
    );
    check_eq!(
        (seen.entry_rsp + 8) % 16,
        0,
        "{what}: (RSP + 8) % 16 at the handler's entry, RSP {:#x}",
        seen.entry_rsp
    );
    check!(
        seen.entry_rsp < loaded.rsp - RED_ZONE,
        "{what}: the handler's RSP {:#x} is not below the red zone under {:#x}",
        seen.entry_rsp,
        loaded.rsp
    );
    check_eq!(
        seen.entry_xmm,
        [0; 32],
        "{what}: XMM0-XMM15 (low, high words) at the handler's entry"
    );
    check_eq!(
        seen.entry_mxcsr,
        MXCSR_DEFAULT,
        "{what}: MXCSR at the handler's entry"
    );
    let fxsave_mxcsr = seen.fxsave[FXSAVE_MXCSR / 8] as u32;
    check_eq!(fxsave_mxcsr, MXCSR_LOADED, "{what}: MXCSR in the frame");
    for (register, &loaded) in round_trip.xmm_loaded.iter().enumerate() {
        let word = FXSAVE_XMM0 / 8 + 2 * register;
        let framed = u128::from(seen.fxsave[word]) | u128::from(seen.fxsave[word + 1]) << 64;
        check_eq!(framed, loaded, "{what}: XMM{register} in the frame");
        check_eq!(
            round_trip.xmm_after[register],
            loaded,
            "{what}: XMM{register} after the return"
        );
    }
    check_eq!(
        round_trip.mxcsr_after,
        MXCSR_LOADED,
        "{what}: MXCSR after the return"
    );
    (round_trip, seen)
}

/// The registers of a round trip: distinct values, RSP `rsp`, every arithmetic flag, DF
/// and NT; RAX, RDI, RSI and RDX from `call` where given (a system call's number and
/// arguments).
fn registers(rsp: u64, call: Option<[u64; 4]>) -> Registers {
    let registers = Registers {
        rsp,
        ..Registers::with_pattern(Pattern::Distinct, rflags::LOUD)
    };
    match call {
        Some([rax, rdi, rsi, rdx]) => Registers {
            rax,
            rdi,
            rsi,
            rdx,
            ..registers
        },
        None => registers,
    }
}

fn ud2(rsp: u64) {
    let what = "ud2";
    let (round_trip, seen) = round_trip(what, SIGILL, Trap::Ud2, registers(rsp, None));
    let capture = &round_trip.capture;
    let ud2 = round_trip.trap_address;
    check_eq!(
        capture.return_address,
        ud2 + 2,
        "{what}: the address after the ud2"
    );
    check_eq!(
        (seen.info.code, seen.info.addr()),
        (ILL_ILLOPN, ud2),
        "{what}: (si_code, si_addr)"
    );
    let sc = &seen.context.mcontext;
    check_eq!(sc.rip, ud2, "{what}: uc RIP");
    check_eq!(
        (sc.trapno, sc.err),
        (TRAPNO_UD, 0),
        "{what}: (trapno, err) in the sigcontext"
    );
    // RF: the CPU sets it in the RFLAGS image of a fault it delivers (Intel SDM 17.3.1.1),
    // so Linux shows it on hardware; an emulator (QEMU TCG) may not. Not checked.
    let framed = sigcontext_registers(&seen.context);
    check_eq!(
        Registers {
            rflags: framed.rflags & !RF,
            ..framed
        },
        capture.loaded,
        "{what}: the registers and EFLAGS (RF aside) in the sigcontext"
    );
    // rt_sigreturn takes RFLAGS' arithmetic flags, DF, TF, AC and RF from the frame, but
    // not NT: that stays as the handler left it (clear).
    check_eq!(
        capture.after,
        Registers {
            rflags: capture.loaded.rflags & !rflags::NT,
            ..capture.loaded
        },
        "{what}: the registers and RFLAGS (NT: the handler's) after the return"
    );
}

fn syscall(rsp: u64) {
    let what = "syscall tgkill";
    let call = [
        nr::TGKILL,
        getpid() as u64,
        gettid() as u64,
        u64::from(SIGUSR1),
    ];
    let (round_trip, seen) = round_trip(what, SIGUSR1, Trap::Syscall, registers(rsp, Some(call)));
    let capture = &round_trip.capture;
    check_eq!(
        (seen.info.code, i64::from(seen.info.pid())),
        (SI_TKILL, getpid()),
        "{what}: (si_code, si_pid)"
    );
    let sc = &seen.context.mcontext;
    check_eq!(sc.rip, capture.return_address, "{what}: uc RIP");
    check_eq!(
        sigcontext_registers(&seen.context),
        Registers {
            rax: 0,
            rcx: capture.return_address,
            r11: capture.loaded.rflags,
            ..capture.loaded
        },
        "{what}: the registers and EFLAGS in the sigcontext"
    );
    // The `syscall` contract, but NT: rt_sigreturn leaves it as the handler left it
    // (clear), as in the `ud2` case.
    check_eq!(
        capture.after,
        Registers {
            rax: 0,
            rcx: capture.return_address,
            r11: capture.loaded.rflags,
            rflags: capture.loaded.rflags & !rflags::NT,
            ..capture.loaded
        },
        "{what}: the registers and RFLAGS (NT: the handler's) after the return"
    );
}

fn main(_stack: &InitialStack) {
    let stack = mman::map_anonymous(STACK_SIZE, PROT_READ | PROT_WRITE);
    check!(stack > 0, "mmap of the routine's stack: {stack}");
    let rsp = stack as u64 + STACK_SIZE - RSP_BELOW_TOP;
    ud2(rsp);
    syscall(rsp);
    check_eq!(signal::mask(), 0, "the mask at the end");
}
