//! What a tracer sees and changes in a tracee's registers at syscall stops and at a
//! signal-delivery stop, and that the tracee resumes with exactly what the tracer wrote.
//!
//! A fork child does PTRACE_TRACEME and stops itself with SIGSTOP (the tracer sees a stop
//! by SIGSTOP and suppresses it) before each case; every case's syscall comes from one
//! assembly routine that loads every general register (RAX = the number, the arguments,
//! distinct values in all others) and RFLAGS with known values and keeps RSP. The tracer
//! (TRACESYSGOOD set) asserts, with GETREGS, at every stop right at that `syscall`: RIP =
//! RCX = the address after the `syscall` (PEEKDATA of the child's record of it), R11 =
//! RFLAGS = the loaded RFLAGS, RSP = the child's RSP (PEEKDATA of its record), CS = 0x33,
//! SS = 0x2b, every other register as loaded (the tracer peeks the child's loaded values
//! and compares them with its own copy of the pattern), RAX = -ENOSYS and ORIG_RAX = the
//! number at an entry stop. The cases:
//!
//! - redirect: at the entry stop of getppid (stop SIGTRAP | 0x80; PEEKUSER of ORIG_RAX,
//!   RIP and RSP agree with GETREGS) the tracer makes it gettid: the exit stop shows RAX
//!   = the child's TID and ORIG_RAX = gettid. There the tracer sets RAX, RSP, RIP (to a
//!   landing routine), RCX (not the new RIP, so no SYSRET can return this), R11, R12 and
//!   every arithmetic flag and DF in RFLAGS, reads them back with GETREGS, and continues:
//!   the child must arrive at the new RIP with exactly those values (the landing routine
//!   stores every register and RFLAGS before it touches anything) and every other
//!   register as loaded.
//! - signal: a tgkill(self, SIGUSR1) from the routine, no handler, gives a
//!   signal-delivery stop by SIGUSR1 with RAX = 0 and ORIG_RAX = tgkill; the tracer
//!   changes RSP, RIP, RCX, R11, RAX and RFLAGS and continues with signal 0: the signal
//!   is suppressed (the child lives on) and the child arrives at the new RIP with them.
//! - skip: at the entry stop of exit_group(7) the tracer sets ORIG_RAX = -1 with
//!   POKEUSER: the call is skipped, the exit stop shows ORIG_RAX = -1 and RAX = -ENOSYS;
//!   the tracer sets RAX with POKEUSER, and the child returns from its `syscall` under the
//!   syscall contract with that RAX.
//! - sysret: at the exit stop of getppid (RAX = the tracer's PID) the tracer sets RIP and
//!   RCX to the landing routine (a return SYSRET could do), RSP and RAX: the child
//!   arrives there with them, R11 and RFLAGS as at the `syscall`.
//! - arguments: at the entry stop of exit_group(3) the tracer changes RDI to 42: wait4
//!   reports the child's exit with status 42.
//!
//! A failed check in the child prints FAIL and ends it with status 1, which the tracer
//! reports as a wrong event.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::naked_asm;
use core::fmt;
use core::mem::offset_of;

use topframe_abi_tests::errno::{ECHILD, ENOSYS};
use topframe_abi_tests::process::{self, WNOHANG};
use topframe_abi_tests::ptrace::{
    self, PTRACE_CONT, PTRACE_O_TRACESYSGOOD, PTRACE_PEEKDATA, PTRACE_PEEKUSER, PTRACE_POKEUSER,
    PTRACE_SETOPTIONS, PTRACE_SYSCALL, PTRACE_TRACEME, UserRegs,
};
use topframe_abi_tests::registers::{Capture, Pattern, Registers, rflags};
use topframe_abi_tests::signal::{self, SIGSTOP, SIGTRAP, SIGUSR1, USER_CS, USER_DS};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, getpid, nr,
};

abi_test_main!(main);

/// The stop signal wait4 reports for a syscall stop with TRACESYSGOOD.
const SYSCALL_STOP: u8 = SIGTRAP as u8 | 0x80;
/// The RFLAGS bits both `popfq` in user mode and a tracer's SETREGS change: the
/// arithmetic flags and DF.
const CHANGEABLE_FLAGS: u64 =
    rflags::CF | rflags::PF | rflags::AF | rflags::ZF | rflags::SF | rflags::DF | rflags::OF;

/// What the tracer writes (redirect, signal and sysret cases).
const NEW_RAX: u64 = 0x5ead_0000_0000_a0a0;
const NEW_RCX: u64 = 0x0c0c_1111_2222_3333;
const NEW_R11: u64 = 0x1111_4444_5555_6666;
const NEW_R12: u64 = 0x1212_7777_8888_9999;
/// The tracer moves RSP down by this much (not a multiple of 16: nothing requires it).
const RSP_SHIFT: u64 = 0x1238;
/// The flags the tracer sets in the redirect case (every other changeable flag clear).
const REDIRECT_FLAGS: u64 = rflags::CF | rflags::ZF | rflags::DF | rflags::OF;
/// The flags the tracer sets in the signal case.
const SIGNAL_FLAGS: u64 = rflags::PF | rflags::AF | rflags::SF;

/// The skip case: exit_group's status, if the call were not skipped.
const SKIPPED_STATUS: u64 = 7;
/// What the tracer writes into RAX at the exit stop of the skipped call.
const SKIP_RESULT: u64 = 0x5c1e_0000_0000_0123;

/// The arguments case: exit_group's status as the child calls it, and as the tracer
/// changes it.
const ORIGINAL_STATUS: u8 = 3;
const CHANGED_STATUS: u64 = 42;

// The assembly's data, in the child: only `trap_with_registers` and `land` touch them
// (between them and the reads right after), in one thread; the tracer reads the child's
// copies with PEEKDATA.
/// The registers to load (RSP: filled in by the assembly; RFLAGS: replaced by what the
/// CPU accepted).
static mut LOADED: Registers = Registers::ZERO;
/// The registers where the child resumed (after the `syscall` or at the tracer's RIP).
static mut AFTER: Registers = Registers::ZERO;
/// The instruction after the `syscall`.
static mut RETURN_ADDRESS: u64 = 0;
/// RSP of the routine, with the callee-saved registers pushed below the return address.
static mut SAVED_RSP: u64 = 0;
/// 1 if the child resumed right after the `syscall`, 0 if at the tracer's RIP.
static mut FELL_THROUGH: u64 = 0;

/// Loads [`LOADED`] (RSP kept, RFLAGS through `popfq`), executes `syscall`, and resumes in
/// [`land`]: directly, if the kernel returns to the instruction after the `syscall`
/// (setting [`FELL_THROUGH`]), or because the tracer set RIP to it.
///
/// # Safety
/// Only in the (single-threaded) child, and the syscall that [`LOADED`] describes, in any
/// form the tracer may change it to, only touches memory the child may touch.
#[unsafe(naked)]
unsafe extern "C" fn trap_with_registers() {
    naked_asm!(
        // Save the callee-saved registers, which the loads overwrite: `land` restores them.
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        // Not fallen through (yet).
        "mov qword ptr [rip + {fell_through}], 0",
        // The RSP `land` goes back to...
        "mov [rip + {saved_rsp}], rsp",
        // ...is also the RSP of the `syscall`.
        "mov [rip + {loaded} + {rsp}], rsp",
        // RAX = the address of the instruction after the `syscall` (label 2)...
        "lea rax, [rip + 2f]",
        // ...recorded for the checks.
        "mov [rip + {return_address}], rax",
        // RFLAGS = the pattern: push it from memory...
        "push qword ptr [rip + {loaded} + {rflags}]",
        // ...and pop it into RFLAGS (user mode: IF, IOPL and the like stay).
        "popfq",
        // Read back what the CPU accepted: push RFLAGS...
        "pushfq",
        // ...and pop it into LOADED. From here to the `syscall` no instruction changes a
        // flag (mov and pop do not).
        "pop qword ptr [rip + {loaded} + {rflags}]",
        // Load the 15 general registers but RSP (RAX: the number; RDI, RSI, RDX: the
        // arguments).
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
        // Enter the kernel (and the tracer's stops).
        "syscall",
        "2:",
        // Resumed right after the `syscall`: record it (a store changes no register or
        // flag)...
        "mov qword ptr [rip + {fell_through}], 1",
        // ...and store the registers as they came back.
        "jmp {land}",
        loaded = sym LOADED,
        return_address = sym RETURN_ADDRESS,
        saved_rsp = sym SAVED_RSP,
        fell_through = sym FELL_THROUGH,
        land = sym land,
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

/// Where the child resumes (jumped to, never called): stores every general register and
/// RFLAGS into [`AFTER`] before any instruction changes one, then goes back to
/// [`SAVED_RSP`] and returns from [`trap_with_registers`] to its caller.
///
/// # Safety
/// Only reached from `trap_with_registers` (its `syscall`, directly or through the
/// tracer's RIP), with [`SAVED_RSP`] set by it.
#[unsafe(naked)]
unsafe extern "C" fn land() {
    naked_asm!(
        // Store all 16 general registers as they arrived.
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
        // Back to the routine's stack (which the tracer's RSP may not be).
        "mov rsp, [rip + {saved_rsp}]",
        // RFLAGS as it arrived (no flag changed since): push it...
        "pushfq",
        // ...and pop it into AFTER.
        "pop qword ptr [rip + {after} + {rflags}]",
        // DF = 0, as the C ABI requires (the pattern or the tracer may have set it).
        "cld",
        // Restore the callee-saved registers `trap_with_registers` pushed...
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        // ...and return to its caller.
        "ret",
        after = sym AFTER,
        saved_rsp = sym SAVED_RSP,
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

/// The address the tracer sets RIP to.
fn land_address() -> u64 {
    land as *const () as u64
}

/// The registers of a case: `number` and `arguments` (RDI, RSI, RDX), distinct values in
/// every other register, RFLAGS `flags`.
fn case_registers(number: u64, arguments: [u64; 3], flags: u64) -> Registers {
    let [rdi, rsi, rdx] = arguments;
    Registers {
        rax: number,
        rdi,
        rsi,
        rdx,
        ..Registers::with_pattern(Pattern::Distinct, flags)
    }
}

/// The redirect case: getppid (its arguments ignored).
fn redirect_registers() -> Registers {
    let distinct = Registers::with_pattern(Pattern::Distinct, 0);
    let flags = rflags::QUIET | rflags::PF | rflags::AF | rflags::SF | rflags::NT;
    case_registers(
        nr::GETPPID,
        [distinct.rdi, distinct.rsi, distinct.rdx],
        flags,
    )
}

/// The signal case: tgkill(child, child, SIGUSR1).
fn signal_registers(child: i64) -> Registers {
    let flags = rflags::QUIET | rflags::CF | rflags::ZF | rflags::DF | rflags::OF;
    case_registers(
        nr::TGKILL,
        [child as u64, child as u64, u64::from(SIGUSR1)],
        flags,
    )
}

/// The skip case: exit_group(SKIPPED_STATUS).
fn skip_registers() -> Registers {
    let distinct = Registers::with_pattern(Pattern::Distinct, 0);
    case_registers(
        nr::EXIT_GROUP,
        [SKIPPED_STATUS, distinct.rsi, distinct.rdx],
        rflags::LOUD,
    )
}

/// The sysret case: getppid.
fn sysret_registers() -> Registers {
    Registers {
        rflags: rflags::QUIET | rflags::CF | rflags::DF,
        ..redirect_registers()
    }
}

/// `flags` with the changeable flags replaced by `set`.
fn with_flags(flags: u64, set: u64) -> u64 {
    (flags & !CHANGEABLE_FLAGS) | set
}

/// The general registers and RFLAGS of `regs`.
fn general_registers(regs: &UserRegs) -> Registers {
    Registers {
        rax: regs.rax,
        rbx: regs.rbx,
        rcx: regs.rcx,
        rdx: regs.rdx,
        rsi: regs.rsi,
        rdi: regs.rdi,
        rbp: regs.rbp,
        rsp: regs.rsp,
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rflags: regs.eflags,
    }
}

/// Every register of `got` that differs from `expected`, for a failure message.
struct Differences<'a> {
    got: &'a Registers,
    expected: &'a Registers,
}

impl Differences<'_> {
    fn pairs(&self) -> [(&'static str, u64, u64); 17] {
        let (got, expected) = (self.got, self.expected);
        [
            ("RAX", got.rax, expected.rax),
            ("RBX", got.rbx, expected.rbx),
            ("RCX", got.rcx, expected.rcx),
            ("RDX", got.rdx, expected.rdx),
            ("RSI", got.rsi, expected.rsi),
            ("RDI", got.rdi, expected.rdi),
            ("RBP", got.rbp, expected.rbp),
            ("RSP", got.rsp, expected.rsp),
            ("R8", got.r8, expected.r8),
            ("R9", got.r9, expected.r9),
            ("R10", got.r10, expected.r10),
            ("R11", got.r11, expected.r11),
            ("R12", got.r12, expected.r12),
            ("R13", got.r13, expected.r13),
            ("R14", got.r14, expected.r14),
            ("R15", got.r15, expected.r15),
            ("RFLAGS", got.rflags, expected.rflags),
        ]
    }
}

impl fmt::Display for Differences<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        let mut separator = "";
        for (name, got, expected) in self.pairs() {
            if got != expected {
                write!(
                    formatter,
                    "{separator}{name} = {got:#x}, expected {expected:#x}"
                )?;
                separator = "; ";
            }
        }
        Ok(())
    }
}

/// Fails with every difference unless `got == expected`.
fn check_registers(what: fmt::Arguments, got: &Registers, expected: &Registers) {
    if got != expected {
        fail!("{what}: {}", Differences { got, expected });
    }
}

// The child.

/// What one case's routine saw.
struct Trapped {
    capture: Capture,
    fell_through: bool,
}

/// Runs `trap_with_registers` with `registers`.
fn trap(registers: Registers) -> Trapped {
    // SAFETY: only the child calls this (one thread, no signal handlers): nothing else
    // touches the statics. The syscalls of the cases, and what the tracer makes of them
    // (gettid, a skipped call, changed arguments of exit_group), touch no memory; the
    // tracer's RIP is `land`, its RSP is not used before `land` restores the routine's.
    unsafe {
        LOADED = registers;
        trap_with_registers();
        Trapped {
            capture: Capture {
                loaded: LOADED,
                after: AFTER,
                return_address: RETURN_ADDRESS,
            },
            fell_through: FELL_THROUGH != 0,
        }
    }
}

/// Stops for the tracer, which suppresses the SIGSTOP and resumes with PTRACE_CONT or
/// PTRACE_SYSCALL: the next syscall after this one is the case's.
fn stop_for_tracer(case: &str) {
    check_eq!(
        signal::raise(SIGSTOP),
        0,
        "child: raise(SIGSTOP) before the {case} case"
    );
}

/// Checks that the child resumed at the tracer's RIP with `expected`.
fn check_landed(case: &str, trapped: &Trapped, expected: &Registers) {
    check!(
        !trapped.fell_through,
        "child: {case}: resumed after the syscall, not at the tracer's RIP"
    );
    check_registers(
        format_args!("child: {case}: registers at the tracer's RIP"),
        &trapped.capture.after,
        expected,
    );
}

fn child() -> ! {
    check_eq!(
        ptrace::request(PTRACE_TRACEME, 0, 0, 0),
        0,
        "child: PTRACE_TRACEME"
    );
    let pid = getpid();

    stop_for_tracer("redirect");
    let trapped = trap(redirect_registers());
    let loaded = trapped.capture.loaded;
    let expected = Registers {
        rax: NEW_RAX,
        rcx: NEW_RCX,
        r11: NEW_R11,
        r12: NEW_R12,
        rsp: loaded.rsp - RSP_SHIFT,
        rflags: with_flags(loaded.rflags, REDIRECT_FLAGS),
        ..loaded
    };
    check_landed("redirect", &trapped, &expected);

    stop_for_tracer("signal");
    let trapped = trap(signal_registers(pid));
    let loaded = trapped.capture.loaded;
    let expected = Registers {
        rax: NEW_RAX,
        rcx: NEW_RCX,
        r11: NEW_R11,
        rsp: loaded.rsp - RSP_SHIFT,
        rflags: with_flags(loaded.rflags, SIGNAL_FLAGS),
        ..loaded
    };
    check_landed("signal", &trapped, &expected);

    stop_for_tracer("skip");
    let trapped = trap(skip_registers());
    check!(
        trapped.fell_through,
        "child: skip: did not resume right after the syscall"
    );
    if let Some(mismatches) = trapped.capture.syscall_contract_mismatches(SKIP_RESULT) {
        fail!("child: skip: registers after the skipped syscall: {mismatches}");
    }

    stop_for_tracer("sysret");
    let trapped = trap(sysret_registers());
    let loaded = trapped.capture.loaded;
    let expected = Registers {
        rax: NEW_RAX,
        rcx: land_address(),
        r11: loaded.rflags,
        rsp: loaded.rsp - RSP_SHIFT,
        ..loaded
    };
    check_landed("sysret", &trapped, &expected);

    stop_for_tracer("arguments");
    exit_group(ORIGINAL_STATUS)
}

// The tracer.

/// What wait4 reported.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Exited(u8),
    Killed(u8),
    Stopped(u8),
    Unknown(u32),
}

fn event(status: u32) -> Event {
    if let Some(status) = process::exit_status(status) {
        Event::Exited(status)
    } else if let Some(signal) = ptrace::stopped_by(status) {
        Event::Stopped(signal)
    } else if let Some(signal) = process::killed_by(status) {
        Event::Killed(signal)
    } else {
        Event::Unknown(status)
    }
}

/// Waits for the child's next event, which must be `expected`.
fn expect_event(pid: i64, expected: Event, what: &str) {
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "tracer: wait4 for {what}");
    check_eq!(
        event(status),
        expected,
        "tracer: {what} (wait status {status:#x}; Exited(1) is a failure the child reported)"
    );
}

fn expect_stop(pid: i64, signal: u8, what: &str) {
    expect_event(pid, Event::Stopped(signal), what);
}

fn resume(request: u64, pid: i64, what: &str) {
    check_eq!(
        ptrace::request(request, pid, 0, 0),
        0,
        "tracer: resuming ({request}) after {what}"
    );
}

fn get_registers(pid: i64, what: &str) -> UserRegs {
    ptrace::get_registers(pid).unwrap_or_else(|error| fail!("tracer: GETREGS at {what}: {error}"))
}

fn set_registers(pid: i64, regs: &UserRegs, what: &str) {
    check_eq!(
        ptrace::set_registers(pid, regs),
        0,
        "tracer: SETREGS at {what}"
    );
    check_eq!(
        get_registers(pid, what),
        *regs,
        "tracer: GETREGS after SETREGS at {what}"
    );
}

fn peek_data(pid: i64, address: u64) -> u64 {
    ptrace::peek(PTRACE_PEEKDATA, pid, address)
        .unwrap_or_else(|error| fail!("tracer: PEEKDATA {address:#x}: {error}"))
}

fn peek_user(pid: i64, offset: usize) -> u64 {
    ptrace::peek(PTRACE_PEEKUSER, pid, offset as u64)
        .unwrap_or_else(|error| fail!("tracer: PEEKUSER {offset}: {error}"))
}

fn poke_user(pid: i64, offset: usize, value: u64) {
    check_eq!(
        ptrace::request(PTRACE_POKEUSER, pid, offset as u64, value),
        0,
        "tracer: POKEUSER {offset}"
    );
}

/// The child's side of a case at a stop in its `syscall`: what it loaded (RSP and RFLAGS
/// as the assembly recorded them) and the address after the `syscall`, read with
/// PEEKDATA.
struct ChildSide {
    loaded: Registers,
    return_address: u64,
}

/// Reads the child's [`LOADED`] and [`RETURN_ADDRESS`]; the loaded registers must be
/// `pattern`, but RSP (the child's).
fn peek_child(pid: i64, pattern: &Registers, case: &str) -> ChildSide {
    let base = &raw const LOADED as u64;
    let word = |offset: usize| peek_data(pid, base + offset as u64);
    let loaded = Registers {
        rax: word(offset_of!(Registers, rax)),
        rbx: word(offset_of!(Registers, rbx)),
        rcx: word(offset_of!(Registers, rcx)),
        rdx: word(offset_of!(Registers, rdx)),
        rsi: word(offset_of!(Registers, rsi)),
        rdi: word(offset_of!(Registers, rdi)),
        rbp: word(offset_of!(Registers, rbp)),
        rsp: word(offset_of!(Registers, rsp)),
        r8: word(offset_of!(Registers, r8)),
        r9: word(offset_of!(Registers, r9)),
        r10: word(offset_of!(Registers, r10)),
        r11: word(offset_of!(Registers, r11)),
        r12: word(offset_of!(Registers, r12)),
        r13: word(offset_of!(Registers, r13)),
        r14: word(offset_of!(Registers, r14)),
        r15: word(offset_of!(Registers, r15)),
        rflags: word(offset_of!(Registers, rflags)),
    };
    check_registers(
        format_args!("tracer: {case}: the child's loaded registers"),
        &loaded,
        &Registers {
            rsp: loaded.rsp,
            ..*pattern
        },
    );
    ChildSide {
        loaded,
        return_address: peek_data(pid, &raw const RETURN_ADDRESS as u64),
    }
}

/// The registers at a stop in the child's `syscall` with RAX = `rax` and ORIG_RAX =
/// `orig_rax`: RIP = RCX = the return address, R11 = RFLAGS = the loaded RFLAGS, RSP and
/// every other register as loaded, the user selectors.
fn check_at_syscall(what: &str, regs: &UserRegs, child: &ChildSide, rax: u64, orig_rax: u64) {
    check_eq!(regs.orig_rax, orig_rax, "tracer: {what}: ORIG_RAX");
    check_eq!(
        regs.rip,
        child.return_address,
        "tracer: {what}: RIP (the address after the syscall)"
    );
    check_eq!(regs.cs, u64::from(USER_CS), "tracer: {what}: CS");
    check_eq!(regs.ss, u64::from(USER_DS), "tracer: {what}: SS");
    let loaded = &child.loaded;
    let expected = Registers {
        rax,
        rcx: child.return_address,
        r11: loaded.rflags,
        ..*loaded
    };
    check_registers(
        format_args!("tracer: {what}"),
        &general_registers(regs),
        &expected,
    );
}

fn trace_redirect(pid: i64) {
    expect_stop(
        pid,
        SYSCALL_STOP,
        "redirect: the syscall-entry stop of getppid",
    );
    let child = peek_child(pid, &redirect_registers(), "redirect");
    let mut regs = get_registers(pid, "redirect: entry");
    check_at_syscall(
        "redirect: entry",
        &regs,
        &child,
        -ENOSYS as u64,
        nr::GETPPID,
    );
    for (name, offset, value) in [
        ("ORIG_RAX", offset_of!(UserRegs, orig_rax), regs.orig_rax),
        ("RIP", offset_of!(UserRegs, rip), regs.rip),
        ("RSP", offset_of!(UserRegs, rsp), regs.rsp),
    ] {
        check_eq!(
            peek_user(pid, offset),
            value,
            "tracer: redirect: entry: PEEKUSER of {name} against GETREGS"
        );
    }
    regs.orig_rax = nr::GETTID;
    set_registers(pid, &regs, "redirect: entry");
    resume(PTRACE_SYSCALL, pid, "redirect: entry");

    expect_stop(
        pid,
        SYSCALL_STOP,
        "redirect: the syscall-exit stop of gettid",
    );
    let mut regs = get_registers(pid, "redirect: exit");
    check_at_syscall("redirect: exit", &regs, &child, pid as u64, nr::GETTID);
    regs.rax = NEW_RAX;
    regs.rcx = NEW_RCX;
    regs.r11 = NEW_R11;
    regs.r12 = NEW_R12;
    regs.rsp -= RSP_SHIFT;
    regs.rip = land_address();
    regs.eflags = with_flags(regs.eflags, REDIRECT_FLAGS);
    set_registers(pid, &regs, "redirect: exit");
    resume(PTRACE_CONT, pid, "redirect: exit");
}

fn trace_signal(pid: i64) {
    expect_stop(
        pid,
        SIGUSR1 as u8,
        "signal: the signal-delivery stop after tgkill(SIGUSR1)",
    );
    let child = peek_child(pid, &signal_registers(pid), "signal");
    let mut regs = get_registers(pid, "signal");
    check_at_syscall("signal", &regs, &child, 0, nr::TGKILL);
    regs.rax = NEW_RAX;
    regs.rcx = NEW_RCX;
    regs.r11 = NEW_R11;
    regs.rsp -= RSP_SHIFT;
    regs.rip = land_address();
    regs.eflags = with_flags(regs.eflags, SIGNAL_FLAGS);
    set_registers(pid, &regs, "signal");
    // Signal 0: SIGUSR1 (whose default action would kill the child) is suppressed.
    resume(PTRACE_CONT, pid, "signal");
}

fn trace_skip(pid: i64) {
    expect_stop(
        pid,
        SYSCALL_STOP,
        "skip: the syscall-entry stop of exit_group",
    );
    let child = peek_child(pid, &skip_registers(), "skip");
    let regs = get_registers(pid, "skip: entry");
    check_at_syscall("skip: entry", &regs, &child, -ENOSYS as u64, nr::EXIT_GROUP);
    poke_user(pid, offset_of!(UserRegs, orig_rax), u64::MAX);
    check_eq!(
        peek_user(pid, offset_of!(UserRegs, orig_rax)),
        u64::MAX,
        "tracer: skip: ORIG_RAX after POKEUSER"
    );
    resume(PTRACE_SYSCALL, pid, "skip: entry");

    expect_stop(
        pid,
        SYSCALL_STOP,
        "skip: the syscall-exit stop of the skipped exit_group (Exited(7): it ran)",
    );
    let regs = get_registers(pid, "skip: exit");
    check_at_syscall("skip: exit", &regs, &child, -ENOSYS as u64, u64::MAX);
    poke_user(pid, offset_of!(UserRegs, rax), SKIP_RESULT);
    resume(PTRACE_CONT, pid, "skip: exit");
}

fn trace_sysret(pid: i64) {
    expect_stop(
        pid,
        SYSCALL_STOP,
        "sysret: the syscall-entry stop of getppid",
    );
    let child = peek_child(pid, &sysret_registers(), "sysret");
    let regs = get_registers(pid, "sysret: entry");
    check_at_syscall("sysret: entry", &regs, &child, -ENOSYS as u64, nr::GETPPID);
    resume(PTRACE_SYSCALL, pid, "sysret: entry");

    expect_stop(
        pid,
        SYSCALL_STOP,
        "sysret: the syscall-exit stop of getppid",
    );
    let mut regs = get_registers(pid, "sysret: exit");
    check_at_syscall("sysret: exit", &regs, &child, getpid() as u64, nr::GETPPID);
    regs.rax = NEW_RAX;
    regs.rip = land_address();
    regs.rcx = land_address();
    regs.rsp -= RSP_SHIFT;
    set_registers(pid, &regs, "sysret: exit");
    resume(PTRACE_CONT, pid, "sysret: exit");
}

fn trace_arguments(pid: i64) {
    expect_stop(
        pid,
        SYSCALL_STOP,
        "arguments: the syscall-entry stop of exit_group(3)",
    );
    let mut regs = get_registers(pid, "arguments: entry");
    check_eq!(regs.orig_rax, nr::EXIT_GROUP, "tracer: arguments: ORIG_RAX");
    check_eq!(
        regs.rdi,
        u64::from(ORIGINAL_STATUS),
        "tracer: arguments: RDI"
    );
    regs.rdi = CHANGED_STATUS;
    set_registers(pid, &regs, "arguments: entry");
    resume(PTRACE_SYSCALL, pid, "arguments: entry");
    expect_event(
        pid,
        Event::Exited(CHANGED_STATUS as u8),
        "arguments: the exit of exit_group with RDI changed to 42",
    );
}

fn main(_stack: &InitialStack) {
    let pid = process::fork();
    if pid == 0 {
        child();
    }
    check!(pid > 0, "fork: {pid}");

    expect_stop(pid, SIGSTOP as u8, "the child's first SIGSTOP");
    check_eq!(
        ptrace::request(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD),
        0,
        "tracer: PTRACE_SETOPTIONS(TRACESYSGOOD)"
    );
    resume(PTRACE_SYSCALL, pid, "the first SIGSTOP");
    trace_redirect(pid);

    expect_stop(pid, SIGSTOP as u8, "the SIGSTOP before the signal case");
    resume(PTRACE_CONT, pid, "the SIGSTOP before the signal case");
    trace_signal(pid);

    expect_stop(pid, SIGSTOP as u8, "the SIGSTOP before the skip case");
    resume(PTRACE_SYSCALL, pid, "the SIGSTOP before the skip case");
    trace_skip(pid);

    expect_stop(pid, SIGSTOP as u8, "the SIGSTOP before the sysret case");
    resume(PTRACE_SYSCALL, pid, "the SIGSTOP before the sysret case");
    trace_sysret(pid);

    expect_stop(pid, SIGSTOP as u8, "the SIGSTOP before the arguments case");
    resume(PTRACE_SYSCALL, pid, "the SIGSTOP before the arguments case");
    trace_arguments(pid);

    check_eq!(
        process::wait4(-1, WNOHANG).0,
        -ECHILD,
        "wait4(-1, WNOHANG) after the child's exit"
    );
}
