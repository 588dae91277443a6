//! PTRACE_SINGLESTEP through a known instruction sequence. A fork child calls
//! PTRACE_TRACEME, then an assembly function that stops itself with
//! `tgkill(self, SIGSTOP)` and then runs, one instruction each: `nop`, `inc r12`,
//! `mov r13, imm64`, `mov eax, getpid`, `syscall`, `lea r14, [rax + 1]`, `pushfq`, `pop r15`.
//! The function exports the address of every instruction boundary in a table (the same
//! address in the parent: fork copies the address space). The parent (tracer) checks:
//! - the SIGSTOP stop is at the first instruction, with RAX = 0 (tgkill's result) and
//!   ORIG_RAX = tgkill;
//! - each PTRACE_SINGLESTEP (signal 0) gives a SIGTRAP stop at the next boundary, with the
//!   whole `user_regs_struct` as before but for exactly what the instruction changes:
//!   `inc` R12 (+1) and the arithmetic flags (PF set, CF kept), `mov` its register, `lea`
//!   R14, `pushfq` RSP (-8, and the word there), `pop` R15 and RSP; ORIG_RAX is -1 at
//!   these trap stops;
//! - the step over `syscall` stops right after it (not one instruction later) with RAX =
//!   the child's PID (getpid's result), RCX = the next instruction, R11 = the RFLAGS of the
//!   `syscall` with TF set (the CPU saves the real RFLAGS), ORIG_RAX = getpid;
//! - TF, which the tracer's SINGLESTEP set, is hidden from GETREGS' `eflags` at every stop
//!   (Linux's TIF_FORCED_TF), but a `pushfq` the tracee executes while being stepped pushes
//!   RFLAGS with TF set (Linux does not emulate `pushfq`): the word at RSP after the step
//!   over `pushfq`, and R15 after `pop r15`;
//! - PTRACE_CONT from the last boundary runs the child to its end with TF clear again: its
//!   own `pushfq` then shows no TF, and it exits 0 after checking the registers it saw.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::process::{self, WNOHANG};
use topframe_abi_tests::ptrace::{
    self, PTRACE_CONT, PTRACE_PEEKDATA, PTRACE_SINGLESTEP, PTRACE_TRACEME, UserRegs,
};
use topframe_abi_tests::registers::rflags;
use topframe_abi_tests::signal::{SIGSTOP, SIGTRAP};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, errno::ECHILD, exit_group, fail, getpid, gettid,
    nr,
};

abi_test_main!(main);

/// R12 before the stepped sequence (`inc r12` adds one).
const R12_START: u64 = 100;
/// What `mov r13, imm64` loads.
const R13_VALUE: u64 = 0x1122_3344_5566_7788;
/// The instruction boundaries in the sequence: the first instruction, and after each of
/// the eight.
const BOUNDARIES: usize = 9;
/// The boundary right after the stepped `syscall`.
const AFTER_SYSCALL: usize = 5;

/// The registers the sequence leaves, stored by the assembly after the last boundary.
static R12_OUT: AtomicU64 = AtomicU64::new(0);
static R13_OUT: AtomicU64 = AtomicU64::new(0);
static R14_OUT: AtomicU64 = AtomicU64::new(0);
/// What the stepped `pushfq` pushed (popped into R15).
static R15_OUT: AtomicU64 = AtomicU64::new(0);
/// RFLAGS from a `pushfq` after the tracer's PTRACE_CONT (no longer stepped).
static RFLAGS_AFTER: AtomicU64 = AtomicU64::new(0);

// `ptrace_singlestep_sequence(pid, tid)`: stops the caller with tgkill(pid, tid, SIGSTOP),
// then runs the stepped instructions, stores R12-R15 and RFLAGS, and returns. It
// preserves the callee-saved registers it uses (R12-R15); RAX, RCX, RDX and R11 are
// clobbered. `ptrace_singlestep_labels` holds the address of every boundary.
global_asm!(
    ".pushsection .text.ptrace_singlestep_sequence, \"ax\", @progbits",
    ".globl ptrace_singlestep_sequence",
    ".type ptrace_singlestep_sequence, @function",
    "ptrace_singlestep_sequence:",
    // Save the callee-saved registers the sequence changes.
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    // tgkill(pid = RDI, tid = RSI, SIGSTOP).
    "mov edx, {sigstop}",
    // RAX = tgkill.
    "mov eax, {tgkill}",
    // R12 = its start value.
    "mov r12, {r12_start}",
    // Stop: the tracer sees RIP = boundary 0.
    "syscall",
    ".Lstep_0:",
    // Step 1: nothing but RIP changes.
    "nop",
    ".Lstep_1:",
    // Step 2: R12 + 1 (and the arithmetic flags but CF).
    "inc r12",
    ".Lstep_2:",
    // Step 3: R13 = a 64-bit immediate.
    "mov r13, {r13_value}",
    ".Lstep_3:",
    // Step 4: RAX = getpid.
    "mov eax, {getpid}",
    ".Lstep_4:",
    // Step 5: getpid: RAX = the PID, RCX = boundary 5, R11 = RFLAGS.
    "syscall",
    ".Lstep_5:",
    // Step 6: R14 = PID + 1.
    "lea r14, [rax + 1]",
    ".Lstep_6:",
    // Step 7: push RFLAGS as the CPU has it while stepped.
    "pushfq",
    ".Lstep_7:",
    // Step 8: pop it into R15.
    "pop r15",
    ".Lstep_8:",
    // The tracer continues from here: store R12...
    "mov [rip + {r12_out}], r12",
    // ...R13...
    "mov [rip + {r13_out}], r13",
    // ...R14...
    "mov [rip + {r14_out}], r14",
    // ...and R15 (the stepped pushfq's RFLAGS).
    "mov [rip + {r15_out}], r15",
    // RFLAGS now, no longer stepped: push it...
    "pushfq",
    // ...pop it into RAX...
    "pop rax",
    // ...and store it.
    "mov [rip + {rflags_after}], rax",
    // Restore the callee-saved registers.
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    // Back to the (Rust) caller.
    "ret",
    ".size ptrace_singlestep_sequence, . - ptrace_singlestep_sequence",
    ".popsection",
    // The boundaries' addresses, in order.
    ".pushsection .rodata.ptrace_singlestep_labels, \"a\", @progbits",
    ".balign 8",
    ".globl ptrace_singlestep_labels",
    "ptrace_singlestep_labels:",
    ".quad .Lstep_0, .Lstep_1, .Lstep_2, .Lstep_3, .Lstep_4",
    ".quad .Lstep_5, .Lstep_6, .Lstep_7, .Lstep_8",
    ".size ptrace_singlestep_labels, . - ptrace_singlestep_labels",
    ".popsection",
    sigstop = const SIGSTOP,
    tgkill = const nr::TGKILL,
    r12_start = const R12_START,
    r13_value = const R13_VALUE,
    getpid = const nr::GETPID,
    r12_out = sym R12_OUT,
    r13_out = sym R13_OUT,
    r14_out = sym R14_OUT,
    r15_out = sym R15_OUT,
    rflags_after = sym RFLAGS_AFTER,
);

unsafe extern "C" {
    /// See the assembly above.
    fn ptrace_singlestep_sequence(pid: i64, tid: i64);
    /// The address of every instruction boundary of the sequence.
    static ptrace_singlestep_labels: [u64; BOUNDARIES];
}

/// The traced child: TRACEME, the stepped sequence, then checks of what it saw.
fn child() -> ! {
    check_eq!(
        ptrace::request(PTRACE_TRACEME, 0, 0, 0),
        0,
        "child: PTRACE_TRACEME"
    );
    // SAFETY: the function follows the C ABI but for the registers it declares clobbered,
    // which the C ABI lets a callee clobber anyway (RAX, RCX, RDX, R11); it writes only
    // its own statics.
    unsafe { ptrace_singlestep_sequence(getpid(), gettid()) };
    let pid = getpid() as u64;
    check_eq!(R12_OUT.load(Ordering::Relaxed), R12_START + 1, "child: R12");
    check_eq!(R13_OUT.load(Ordering::Relaxed), R13_VALUE, "child: R13");
    check_eq!(R14_OUT.load(Ordering::Relaxed), pid + 1, "child: R14");
    let stepped = R15_OUT.load(Ordering::Relaxed);
    check!(
        stepped & rflags::TF != 0,
        "child: the RFLAGS a stepped pushfq pushed ({stepped:#x}) have no TF"
    );
    let after = RFLAGS_AFTER.load(Ordering::Relaxed);
    check_eq!(
        after & rflags::TF,
        0,
        "child: TF in RFLAGS after PTRACE_CONT ({after:#x})"
    );
    exit_group(0)
}

/// Waits for the child's stop at boundary `step` (0: the SIGSTOP stop, then the steps'
/// SIGTRAP stops), which must be by `signal`, and returns its registers.
fn next_stop(pid: i64, signal: u32, step: usize) -> UserRegs {
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "boundary {step}: wait4");
    check_eq!(
        ptrace::stopped_by(status),
        Some(signal as u8),
        "boundary {step}: the stop (wait status {status:#x})"
    );
    match ptrace::get_registers(pid) {
        Ok(registers) => registers,
        Err(error) => fail!("boundary {step}: PTRACE_GETREGS returned {error}"),
    }
}

/// The arithmetic flags `inc` sets from its result (CF it keeps).
const INC_FLAGS: u64 = rflags::OF | rflags::SF | rflags::ZF | rflags::AF | rflags::PF;

fn main(_stack: &InitialStack) {
    // SAFETY: the table is in read-only data, written by nobody.
    let labels = unsafe { ptrace_singlestep_labels };
    let pid = process::fork();
    if pid == 0 {
        child();
    }
    check!(pid > 0, "fork returned {pid}");
    let pid_word = pid as u64;

    let mut previous = next_stop(pid, SIGSTOP, 0);
    check_eq!(previous.rip, labels[0], "the SIGSTOP stop: RIP");
    check_eq!(previous.rax, 0, "the SIGSTOP stop: RAX (tgkill's result)");
    check_eq!(previous.orig_rax, nr::TGKILL, "the SIGSTOP stop: ORIG_RAX");
    check_eq!(previous.r12, R12_START, "the SIGSTOP stop: R12");
    check_eq!(previous.rdi, pid_word, "the SIGSTOP stop: RDI");
    check_eq!(previous.eflags & rflags::TF, 0, "the SIGSTOP stop: TF");

    for step in 1..BOUNDARIES {
        check_eq!(
            ptrace::request(PTRACE_SINGLESTEP, pid, 0, 0),
            0,
            "step {step}: PTRACE_SINGLESTEP"
        );
        let registers = next_stop(pid, SIGTRAP, step);
        let mut expected = UserRegs {
            rip: labels[step],
            orig_rax: u64::MAX,
            ..previous
        };
        // What the CPU had while it executed the instruction: TF set.
        let stepped_rflags = previous.eflags | rflags::TF;
        match step {
            1 => {} // nop
            2 => {
                expected.r12 = R12_START + 1;
                // 101: parity even, not zero, not negative, no overflow, no nibble carry.
                expected.eflags = (previous.eflags & !INC_FLAGS) | rflags::PF;
            }
            3 => expected.r13 = R13_VALUE,
            4 => expected.rax = nr::GETPID,
            AFTER_SYSCALL => {
                expected.rax = pid_word;
                expected.rcx = labels[AFTER_SYSCALL];
                expected.r11 = stepped_rflags;
                expected.orig_rax = nr::GETPID;
            }
            6 => expected.r14 = pid_word + 1,
            7 => {
                expected.rsp = previous.rsp - 8;
                check_eq!(
                    ptrace::peek(PTRACE_PEEKDATA, pid, registers.rsp),
                    Ok(stepped_rflags),
                    "step 7: the word pushfq pushed (RFLAGS with TF while stepped)"
                );
            }
            _ => {
                expected.r15 = stepped_rflags;
                expected.rsp = previous.rsp + 8;
            }
        }
        check_eq!(
            registers.eflags & rflags::TF,
            0,
            "step {step}: TF in GETREGS' eflags {:#x} (the tracer's TF is hidden)",
            registers.eflags
        );
        check_eq!(
            registers,
            expected,
            "step {step}: the registers at the SIGTRAP stop"
        );
        previous = registers;
    }

    check_eq!(
        ptrace::request(PTRACE_CONT, pid, 0, 0),
        0,
        "PTRACE_CONT from the last boundary"
    );
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "wait4 for the child's end");
    check_eq!(
        process::exit_status(status),
        Some(0),
        "the child's end (wait status {status:#x})"
    );
    check_eq!(process::wait4(-1, WNOHANG).0, -ECHILD, "no child left");
}
