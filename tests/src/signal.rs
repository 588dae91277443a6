//! Signals without libc: x86_64 Linux's signal numbers, flags and codes, the structures
//! the kernel reads and writes (`struct sigaction` as the kernel takes it, `siginfo_t`,
//! `stack_t`, `ucontext_t` with its `sigcontext`, the start of the FPU image), the
//! `rt_sigreturn` restorer, and thin wrappers around the signal system calls.
//!
//! The layouts are Linux's uapi ones (`<asm/signal.h>`, `<asm/sigcontext.h>`,
//! `<asm/ucontext.h>`, `<asm-generic/siginfo.h>`); their sizes are checked at compile time.
//! Signal sets are the kernel's 64-bit masks: signal `n` is bit `n - 1` ([`bit`]).

use core::arch::naked_asm;
use core::mem::size_of;

use crate::nr;
use crate::syscall::{syscall2, syscall3, syscall4};

/// Hangup.
pub const SIGHUP: u32 = 1;
/// Illegal instruction (#UD).
pub const SIGILL: u32 = 4;
/// Trace or breakpoint trap (#DB, #BP).
pub const SIGTRAP: u32 = 5;
/// Bus error.
pub const SIGBUS: u32 = 7;
/// Arithmetic error (#DE).
pub const SIGFPE: u32 = 8;
/// Kill: cannot be caught, blocked or ignored.
pub const SIGKILL: u32 = 9;
/// User-defined signal 1.
pub const SIGUSR1: u32 = 10;
/// Segmentation violation (#PF, #GP).
pub const SIGSEGV: u32 = 11;
/// User-defined signal 2.
pub const SIGUSR2: u32 = 12;
/// Termination request.
pub const SIGTERM: u32 = 15;
/// A child ended (ignored by default).
pub const SIGCHLD: u32 = 17;
/// Stop: cannot be caught, blocked or ignored.
pub const SIGSTOP: u32 = 19;
/// Window size change (ignored by default).
pub const SIGWINCH: u32 = 28;
/// The number of signals a 64-bit mask holds.
pub const NSIG: u32 = 64;

/// `sa_flags`: the handler takes (signal, siginfo, ucontext).
pub const SA_SIGINFO: u64 = 0x4;
/// `sa_flags`: `sa_restorer` holds the return trampoline (required on x86_64).
pub const SA_RESTORER: u64 = 0x0400_0000;
/// `sa_flags`: run the handler on the alternate signal stack, if one is set up.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// `sa_flags`: restart an interrupted system call instead of failing it with EINTR.
pub const SA_RESTART: u64 = 0x1000_0000;
/// `sa_flags`: do not block the signal while its handler runs.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// `sa_flags`: reset the action to the default when the handler is entered.
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// The default action (`sa_handler`).
pub const SIG_DFL: u64 = 0;
/// Ignore the signal (`sa_handler`).
pub const SIG_IGN: u64 = 1;

/// `rt_sigprocmask`: add the set to the mask.
pub const SIG_BLOCK: u64 = 0;
/// `rt_sigprocmask`: remove the set from the mask.
pub const SIG_UNBLOCK: u64 = 1;
/// `rt_sigprocmask`: make the set the mask.
pub const SIG_SETMASK: u64 = 2;

/// `ss_flags`: the thread runs on its alternate signal stack now.
pub const SS_ONSTACK: i32 = 1;
/// `ss_flags`: no alternate signal stack.
pub const SS_DISABLE: i32 = 2;
/// `ss_flags`: disarm the alternate stack while a handler runs on it.
pub const SS_AUTODISARM: i32 = 1 << 31;
/// The smallest alternate signal stack `sigaltstack` accepts.
pub const MINSIGSTKSZ: u64 = 2048;

/// `si_code`: sent by `kill`.
pub const SI_USER: i32 = 0;
/// `si_code`: sent by the kernel.
pub const SI_KERNEL: i32 = 0x80;
/// `si_code`: sent by `tkill` or `tgkill`.
pub const SI_TKILL: i32 = -6;
/// `si_code` of SIGSEGV: no mapping at the address.
pub const SEGV_MAPERR: i32 = 1;
/// `si_code` of SIGSEGV: a mapping without the access right.
pub const SEGV_ACCERR: i32 = 2;
/// `si_code` of SIGILL: illegal opcode.
pub const ILL_ILLOPN: i32 = 2;
/// `si_code` of SIGFPE: integer divide by zero.
pub const FPE_INTDIV: i32 = 1;
/// `si_code` of SIGTRAP: breakpoint.
pub const TRAP_BRKPT: i32 = 1;
/// `si_code` of SIGTRAP: trace (single-step) trap.
pub const TRAP_TRACE: i32 = 2;

/// `uc_flags`: the FPU image is in XSAVE format (with the FP_XSTATE magics).
pub const UC_FP_XSTATE: u64 = 0x1;
/// `uc_flags`: `sigcontext.ss` holds the interrupted SS.
pub const UC_SIGCONTEXT_SS: u64 = 0x2;
/// `uc_flags`: rt_sigreturn restores SS exactly from `sigcontext.ss`.
pub const UC_STRICT_RESTORE_SS: u64 = 0x4;

/// In the FPU image's `sw_reserved` (byte 464 of the FXSAVE area): the first magic.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// The second magic: the last 4 bytes of the extended image (`extended_size - 4`).
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// The offset of `sw_reserved` (`struct _fpx_sw_bytes`) in the FPU image.
pub const FPX_SW_BYTES_OFFSET: usize = 464;

/// The x86_64 selector of 64-bit user code (`__USER_CS`).
pub const USER_CS: u16 = 0x33;
/// The x86_64 selector of user data and stack (`__USER_DS`).
pub const USER_DS: u16 = 0x2b;

/// The mask bit of `signal` (1..=64).
pub const fn bit(signal: u32) -> u64 {
    1 << (signal - 1)
}

/// `struct sigaction` as the kernel takes it (`struct kernel_sigaction`: the mask last).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// The handler's address, [`SIG_DFL`] or [`SIG_IGN`].
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// The trampoline the handler returns into ([`restorer`]).
    pub restorer: u64,
    /// Signals blocked while the handler runs (besides the signal itself).
    pub mask: u64,
}

/// `siginfo_t`: 128 bytes; the union's fields are read through the accessors.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SigInfo {
    /// The signal number.
    pub signo: i32,
    /// An errno value (0 for the signals here).
    pub errno: i32,
    /// Why it was sent (`SI_*`, `SEGV_*`, ...).
    pub code: i32,
    _padding: i32,
    fields: [u64; 14],
}

impl SigInfo {
    /// A zeroed `siginfo_t`.
    pub const ZERO: Self = Self {
        signo: 0,
        errno: 0,
        code: 0,
        _padding: 0,
        fields: [0; 14],
    };

    /// `si_addr`: the faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub fn addr(&self) -> u64 {
        self.fields[0]
    }

    /// `si_pid`: the sender's PID (`kill`, `tkill`, `tgkill`; SIGCHLD).
    pub fn pid(&self) -> i32 {
        self.fields[0] as u32 as i32
    }

    /// `si_uid`: the sender's real user ID.
    pub fn uid(&self) -> u32 {
        (self.fields[0] >> 32) as u32
    }
}

/// `stack_t`: an alternate signal stack (`sigaltstack`, `uc_stack`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalStack {
    /// Its lowest address.
    pub sp: u64,
    /// `SS_*` flags.
    pub flags: i32,
    /// Its size in bytes.
    pub size: u64,
}

/// `struct sigcontext` (64-bit): the interrupted registers, in this order (not pt_regs
/// order), then the fault details and the FPU image's address.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    /// The exception's error code.
    pub err: u64,
    /// The exception vector (14 for #PF, 13 for #GP, ...).
    pub trapno: u64,
    /// The first word of the blocked mask.
    pub oldmask: u64,
    /// The faulting address of a #PF.
    pub cr2: u64,
    /// The FPU image's address (0: none).
    pub fpstate: u64,
    reserved: [u64; 8],
}

/// `struct ucontext` as the kernel writes it in the signal frame.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UContext {
    /// `UC_*` flags.
    pub flags: u64,
    /// Unused by the kernel (0).
    pub link: u64,
    /// The alternate stack as it was when the signal came.
    pub stack: SignalStack,
    /// The interrupted registers.
    pub mcontext: SigContext,
    /// The mask to restore on rt_sigreturn.
    pub sigmask: u64,
}

const _: () = assert!(size_of::<SigAction>() == 32);
const _: () = assert!(size_of::<SigInfo>() == 128);
const _: () = assert!(size_of::<SignalStack>() == 24);
const _: () = assert!(size_of::<SigContext>() == 256);
const _: () = assert!(core::mem::offset_of!(UContext, mcontext) == 40);
const _: () = assert!(core::mem::offset_of!(UContext, sigmask) == 296);

/// A handler installed with [`SA_SIGINFO`].
pub type Handler = extern "C" fn(signal: u32, info: &mut SigInfo, context: &mut UContext);

/// The return trampoline (`sa_restorer`): a handler's `ret` lands here, with RSP at the
/// signal frame's `ucontext`, and `rt_sigreturn` restores what the frame holds.
#[unsafe(naked)]
pub extern "C" fn restorer() -> ! {
    naked_asm!(
        "mov eax, {rt_sigreturn}", // RAX = rt_sigreturn
        "syscall",                 // restore the interrupted context; does not return
        "ud2",                     // unreachable: rt_sigreturn failed
        rt_sigreturn = const nr::RT_SIGRETURN,
    )
}

/// `rt_sigaction(signal, action, &old, 8)`: (result, the previous action).
pub fn sigaction(signal: u32, action: Option<&SigAction>) -> (i64, SigAction) {
    let mut old = SigAction::default();
    let new = action.map_or(0, |action| action as *const SigAction as u64);
    // SAFETY: the kernel reads the 32-byte action (if any) and writes the 32-byte `old`;
    // a handler in it is the caller's promise.
    let result = unsafe {
        syscall4(
            nr::RT_SIGACTION,
            u64::from(signal),
            new,
            &raw mut old as u64,
            8,
        )
    };
    (result, old)
}

/// Installs `handler` for `signal` with `SA_SIGINFO | SA_RESTORER | flags`, blocking
/// `mask` while it runs; the result of `rt_sigaction`.
pub fn install(signal: u32, handler: Handler, flags: u64, mask: u64) -> i64 {
    let action = SigAction {
        handler: handler as usize as u64,
        flags: SA_SIGINFO | SA_RESTORER | flags,
        restorer: restorer as *const () as u64,
        mask,
    };
    sigaction(signal, Some(&action)).0
}

/// Sets `signal`'s action to `handler` ([`SIG_DFL`] or [`SIG_IGN`]); the result of
/// `rt_sigaction`.
pub fn set_disposition(signal: u32, handler: u64) -> i64 {
    let action = SigAction {
        handler,
        ..SigAction::default()
    };
    sigaction(signal, Some(&action)).0
}

/// `rt_sigprocmask(how, set, &old, 8)`: (result, the previous mask). Without a set, `how`
/// is ignored and the mask only read.
pub fn procmask(how: u64, set: Option<u64>) -> (i64, u64) {
    let mut old = 0_u64;
    let new = set.as_ref().map_or(0, |set| set as *const u64 as u64);
    // SAFETY: the kernel reads the 8-byte set (if any) and writes the 8-byte `old`.
    let result = unsafe { syscall4(nr::RT_SIGPROCMASK, how, new, &raw mut old as u64, 8) };
    (result, old)
}

/// The calling thread's signal mask.
pub fn mask() -> u64 {
    procmask(SIG_BLOCK, None).1
}

/// `rt_sigpending(&set, 8)`: the signals pending for the thread or its process and
/// blocked; `-errno` as `Err`.
pub fn pending() -> Result<u64, i64> {
    let mut set = 0_u64;
    // SAFETY: the kernel writes the 8-byte set.
    let result = unsafe { syscall2(nr::RT_SIGPENDING, &raw mut set as u64, 8) };
    if result == 0 { Ok(set) } else { Err(result) }
}

/// `kill(pid, signal)`.
pub fn kill(pid: i64, signal: u32) -> i64 {
    // SAFETY: kill touches no memory of this process (a handler it runs is the caller's).
    unsafe { syscall2(nr::KILL, pid as u64, u64::from(signal)) }
}

/// `tgkill(tgid, tid, signal)`.
pub fn tgkill(tgid: i64, tid: i64, signal: u32) -> i64 {
    // SAFETY: as for kill.
    unsafe { syscall3(nr::TGKILL, tgid as u64, tid as u64, u64::from(signal)) }
}

/// `tkill(tid, signal)`.
pub fn tkill(tid: i64, signal: u32) -> i64 {
    // SAFETY: as for kill.
    unsafe { syscall2(nr::TKILL, tid as u64, u64::from(signal)) }
}

/// Sends `signal` to the calling thread (`tgkill(getpid(), gettid(), signal)`). A handler
/// for it runs before this returns, unless the signal is blocked.
pub fn raise(signal: u32) -> i64 {
    tgkill(crate::getpid(), crate::gettid(), signal)
}

/// `sigaltstack(new, &old)`: (result, the previous alternate stack).
pub fn sigaltstack(new: Option<&SignalStack>) -> (i64, SignalStack) {
    let mut old = SignalStack::default();
    let new = new.map_or(0, |stack| stack as *const SignalStack as u64);
    // SAFETY: the kernel reads the 24-byte `new` (if any) and writes the 24-byte `old`;
    // the memory a new stack names is the caller's to give.
    let result = unsafe { syscall2(nr::SIGALTSTACK, new, &raw mut old as u64) };
    (result, old)
}
