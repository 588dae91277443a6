//! The trap flag (TF) with a SIGTRAP handler installed, as Linux gives it:
//! - TF set with `popfq` right before `syscall` (getppid): the syscall completes, returns
//!   with TF still set, the CPU executes the next instruction (a `nop`) and then traps:
//!   exactly one SIGTRAP, si_code TRAP_TRACE, si_addr = the ucontext RIP = the address
//!   after that `nop`, trapno 1, err 0, RAX = getppid's result, TF set in the ucontext
//!   RFLAGS. The handler clears TF there, and the program goes on untraced.
//! - TF kept set over three `nop`s: one SIGTRAP per instruction executed, none for the
//!   `popfq` that set it: RIPs = the addresses after the first, second and third `nop`,
//!   each with TRAP_TRACE and si_addr = RIP; the handler clears TF at the third.
//! - TF set at the `syscall` of tgkill(self, SIGUSR1), with a SIGUSR1 handler: SIGUSR1 is
//!   delivered first (at the syscall's return: its ucontext RIP = the address after
//!   `syscall`, RFLAGS with TF, si_code SI_TKILL), its handler runs with TF clear, and the
//!   single-step trap comes after its rt_sigreturn, after the `nop` (RIP after it, RAX = 0).
//! - Without TF, a SIGUSR1 handler that sets TF in its ucontext RFLAGS: rt_sigreturn
//!   restores it, and the trap comes after the first instruction at the restored RIP.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use topframe_abi_tests::registers::rflags::TF;
use topframe_abi_tests::signal::{self, SI_TKILL, SIGTRAP, SIGUSR1, SigInfo, TRAP_TRACE, UContext};
use topframe_abi_tests::{InitialStack, abi_test_main, check_eq, getpid, getppid, gettid, nr};

abi_test_main!(main);

/// The #DB vector (`sigcontext.trapno`).
const TRAP_DB: u64 = 1;

/// SIGTRAPs so far, and after how many the handler clears TF.
static TRAPS: AtomicU64 = AtomicU64::new(0);
static CLEAR_AFTER: AtomicU64 = AtomicU64::new(1);
/// Orders the two handlers' runs: each takes the next number.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);
/// What the SIGTRAP handler saw, per trap (the first [`RECORDED`]), one slot per
/// [`Seen`] field.
const RECORDED: usize = 4;
static TRAP_SEEN: [[AtomicU64; 8]; RECORDED] =
    [const { [const { AtomicU64::new(0) }; 8] }; RECORDED];
/// SIGUSR1s so far, and what the last one's handler saw.
static USR1S: AtomicU64 = AtomicU64::new(0);
static USR1_SEEN: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
/// Whether the SIGUSR1 handler sets TF in its ucontext RFLAGS.
static USR1_SETS_TF: AtomicBool = AtomicBool::new(false);

/// What a handler saw.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// Its place among the handlers' runs ([`SEQUENCE`]).
    sequence: u64,
    code: u64,
    address: u64,
    rip: u64,
    trapno: u64,
    error: u64,
    rax: u64,
    /// The ucontext RFLAGS' TF.
    tf: bool,
}

impl fmt::Debug for Seen {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "#{} si_code {:#x}, si_addr {:#x}, RIP {:#x}, trapno {}, err {:#x}, RAX {:#x}, TF {}",
            self.sequence,
            self.code,
            self.address,
            self.rip,
            self.trapno,
            self.error,
            self.rax,
            self.tf
        )
    }
}

/// Stores what the handler of `info` and `context` sees into `slots`.
fn record(slots: &[AtomicU64; 8], info: &SigInfo, context: &UContext) {
    let registers = &context.mcontext;
    let values = [
        SEQUENCE.fetch_add(1, Ordering::Relaxed),
        info.code as u32 as u64,
        info.addr(),
        registers.rip,
        registers.trapno,
        registers.err,
        registers.rax,
        registers.eflags & TF,
    ];
    for (slot, value) in slots.iter().zip(values) {
        slot.store(value, Ordering::Relaxed);
    }
}

/// Reads what [`record`] stored.
fn recorded(slots: &[AtomicU64; 8]) -> Seen {
    let value = |index: usize| slots[index].load(Ordering::Relaxed);
    Seen {
        sequence: value(0),
        code: value(1),
        address: value(2),
        rip: value(3),
        trapno: value(4),
        error: value(5),
        rax: value(6),
        tf: value(7) != 0,
    }
}

/// What a single-step trap with RIP `rip` and RAX `rax` looks like.
fn step(sequence: u64, rip: u64, rax: u64) -> Seen {
    Seen {
        sequence,
        code: TRAP_TRACE as u64,
        address: rip,
        rip,
        trapno: TRAP_DB,
        error: 0,
        rax,
        tf: true,
    }
}

extern "C" fn on_trap(_signal: u32, info: &mut SigInfo, context: &mut UContext) {
    let index = TRAPS.fetch_add(1, Ordering::Relaxed);
    if let Some(slots) = TRAP_SEEN.get(index as usize) {
        record(slots, info, context);
    }
    if index + 1 >= CLEAR_AFTER.load(Ordering::Relaxed) {
        context.mcontext.eflags &= !TF;
    }
}

/// RFLAGS of the SIGUSR1 handler itself.
static USR1_OWN_RFLAGS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_usr1(_signal: u32, info: &mut SigInfo, context: &mut UContext) {
    let own: u64;
    // SAFETY: reads RFLAGS through the stack; touches nothing else.
    unsafe {
        asm!(
            "pushfq",      // push RFLAGS
            "pop {own}",   // own = RFLAGS
            own = out(reg) own,
        );
    }
    USR1_OWN_RFLAGS.store(own, Ordering::Relaxed);
    USR1S.fetch_add(1, Ordering::Relaxed);
    record(&USR1_SEEN, info, context);
    if USR1_SETS_TF.load(Ordering::Relaxed) {
        context.mcontext.eflags |= TF;
    }
}

/// Starts a case: no signals seen, TF cleared after `clear_after` traps.
fn reset(clear_after: u64) {
    TRAPS.store(0, Ordering::Relaxed);
    USR1S.store(0, Ordering::Relaxed);
    SEQUENCE.store(0, Ordering::Relaxed);
    CLEAR_AFTER.store(clear_after, Ordering::Relaxed);
}

/// A syscall made by [`syscall_then_nop`].
struct Stepped {
    result: i64,
    /// The address after `syscall` (of the `nop`).
    after_syscall: u64,
    /// The address after the `nop`.
    after_nop: u64,
}

/// Syscall `number` (arguments 1-3), with `set_flags` ORed into RFLAGS by the `popfq`
/// right before it, then a `nop`.
///
/// # Safety
/// As for the syscall; TF in `set_flags` needs a SIGTRAP handler that clears it.
unsafe fn syscall_then_nop(number: u64, arguments: [u64; 3], set_flags: u64) -> Stepped {
    let result;
    let after_syscall;
    let after_nop;
    // SAFETY: the syscall is the caller's; the flags change only for the `syscall` and the
    // `nop` (a handler clears TF); RAX, RCX and R11 are declared.
    unsafe {
        asm!(
            "lea {after_syscall}, [rip + 2f]", // the address after `syscall`
            "lea {after_nop}, [rip + 3f]",     // the address after the `nop`
            "pushfq",                          // push RFLAGS...
            "or qword ptr [rsp], {set_flags}", // ...with the flags added...
            "popfq",                           // ...and load it
            "syscall",                         // the syscall, with the flags
            "2:",
            "nop",                             // the instruction after it
            "3:",
            set_flags = in(reg) set_flags,
            after_syscall = out(reg) after_syscall,
            after_nop = out(reg) after_nop,
            inlateout("rax") number => result,
            in("rdi") arguments[0],
            in("rsi") arguments[1],
            in("rdx") arguments[2],
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    Stepped {
        result,
        after_syscall,
        after_nop,
    }
}

/// TF across getppid.
fn trap_after_syscall() {
    let parent = getppid();
    reset(1);
    // SAFETY: getppid touches no memory; `on_trap` clears TF.
    let stepped = unsafe { syscall_then_nop(nr::GETPPID, [0; 3], TF) };
    check_eq!(stepped.result, parent, "getppid with TF");
    check_eq!(stepped.after_nop - stepped.after_syscall, 1, "nop's length");
    check_eq!(
        TRAPS.load(Ordering::Relaxed),
        1,
        "getppid with TF: SIGTRAPs"
    );
    check_eq!(
        recorded(&TRAP_SEEN[0]),
        step(0, stepped.after_nop, parent as u64),
        "getppid with TF: the SIGTRAP"
    );
}

/// TF over three `nop`s.
fn trap_per_instruction() {
    reset(3);
    let (first, second, third): (u64, u64, u64);
    // SAFETY: the `nop`s touch nothing; `on_trap` clears TF at the third trap.
    unsafe {
        asm!(
            "lea {first}, [rip + 2f]",  // after the first nop
            "lea {second}, [rip + 3f]", // after the second
            "lea {third}, [rip + 4f]",  // after the third
            "pushfq",                   // push RFLAGS...
            "or qword ptr [rsp], {tf}", // ...with TF...
            "popfq",                    // ...and load it: no trap for this instruction
            "nop",                      // trap after it
            "2:",
            "nop",                      // trap after it
            "3:",
            "nop",                      // trap after it; the handler clears TF
            "4:",
            tf = const TF,
            first = out(reg) first,
            second = out(reg) second,
            third = out(reg) third,
        );
    }
    check_eq!(
        TRAPS.load(Ordering::Relaxed),
        3,
        "three nops with TF: SIGTRAPs"
    );
    for (index, rip) in [first, second, third].into_iter().enumerate() {
        check_eq!(
            recorded(&TRAP_SEEN[index]),
            step(index as u64, rip, recorded(&TRAP_SEEN[index]).rax),
            "three nops with TF: SIGTRAP {index}"
        );
    }
}

/// What the SIGUSR1 handler saw when tgkill (RAX 0 at its return) sent it, with `tf`
/// (si_addr is si_pid and si_uid: the PID is checked; trapno and err are not set).
fn usr1(rip: u64, tf: bool) -> Seen {
    check_eq!(
        recorded(&USR1_SEEN).address as u32 as i64,
        getpid(),
        "SIGUSR1's si_pid"
    );
    Seen {
        sequence: 0,
        code: SI_TKILL as u32 as u64,
        address: recorded(&USR1_SEEN).address,
        rip,
        trapno: recorded(&USR1_SEEN).trapno,
        error: recorded(&USR1_SEEN).error,
        rax: 0,
        tf,
    }
}

/// TF across tgkill(self, SIGUSR1); then TF set by the SIGUSR1 handler.
fn trap_and_signal() {
    let arguments = [getpid() as u64, gettid() as u64, u64::from(SIGUSR1)];
    reset(1);
    // SAFETY: tgkill runs `on_usr1`, which touches only statics; `on_trap` clears TF.
    let stepped = unsafe { syscall_then_nop(nr::TGKILL, arguments, TF) };
    check_eq!(stepped.result, 0, "tgkill with TF");
    check_eq!(USR1S.load(Ordering::Relaxed), 1, "tgkill with TF: SIGUSR1s");
    check_eq!(
        recorded(&USR1_SEEN),
        usr1(stepped.after_syscall, true),
        "tgkill with TF: SIGUSR1 (first)"
    );
    check_eq!(
        USR1_OWN_RFLAGS.load(Ordering::Relaxed) & TF,
        0,
        "TF in the SIGUSR1 handler's own RFLAGS"
    );
    check_eq!(TRAPS.load(Ordering::Relaxed), 1, "tgkill with TF: SIGTRAPs");
    check_eq!(
        recorded(&TRAP_SEEN[0]),
        step(1, stepped.after_nop, 0),
        "tgkill with TF: the SIGTRAP (after the SIGUSR1 handler)"
    );

    reset(1);
    USR1_SETS_TF.store(true, Ordering::Relaxed);
    // SAFETY: as above; the TF that `on_usr1` sets is cleared by `on_trap`.
    let stepped = unsafe { syscall_then_nop(nr::TGKILL, arguments, 0) };
    USR1_SETS_TF.store(false, Ordering::Relaxed);
    check_eq!(stepped.result, 0, "tgkill, TF from the handler");
    check_eq!(
        USR1S.load(Ordering::Relaxed),
        1,
        "TF from the handler: SIGUSR1s"
    );
    check_eq!(
        recorded(&USR1_SEEN),
        usr1(stepped.after_syscall, false),
        "TF from the handler: SIGUSR1"
    );
    check_eq!(
        TRAPS.load(Ordering::Relaxed),
        1,
        "TF from the handler: SIGTRAPs"
    );
    check_eq!(
        recorded(&TRAP_SEEN[0]),
        step(1, stepped.after_nop, 0),
        "TF from the handler: the SIGTRAP after rt_sigreturn"
    );
}

fn main(_stack: &InitialStack) {
    check_eq!(
        signal::install(SIGTRAP, on_trap, 0, 0),
        0,
        "rt_sigaction(SIGTRAP)"
    );
    check_eq!(
        signal::install(SIGUSR1, on_usr1, 0, 0),
        0,
        "rt_sigaction(SIGUSR1)"
    );
    trap_after_syscall();
    trap_per_instruction();
    trap_and_signal();
    check_eq!(
        TRAPS.load(Ordering::Relaxed),
        1,
        "SIGTRAPs after the last case"
    );
}
