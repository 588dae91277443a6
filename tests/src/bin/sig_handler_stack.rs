//! Where a signal handler runs and what its frame holds, as Linux sets them up: a SIGUSR1
//! handler, raised with tgkill(getpid(), gettid(), SIGUSR1) from an assembly block that
//! loads distinct values into every general register and sets every arithmetic flag, DF
//! and NT. The handler the kernel enters is an assembly trampoline that records RSP and
//! RFLAGS exactly as the kernel set them, then jumps to the Rust part with its arguments
//! and return address intact; the Rust part records its arguments, the signal frame and
//! what `rt_sigprocmask` and `sigaltstack` say inside it; `main` checks.
//!
//! In every case: (RSP + 8) % 16 == 0 at entry, [RSP] = the `sa_restorer`, the ucontext
//! (third argument) at RSP + 8, the siginfo above it and below the FPU image, RFLAGS at
//! entry = the interrupted RFLAGS (arithmetic flags and NT kept) without DF; the signal
//! argument and si_signo SIGUSR1, si_errno 0, si_code SI_TKILL, si_pid getpid(); uc_flags =
//! UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, uc_link 0, uc_sigmask = oldmask
//! = the mask before delivery ({SIGHUP}); the mask inside = that + SIGUSR1 (unless
//! SA_NODEFER) + sa_mask ({SIGUSR2}), and the mask before is back after the return; cs
//! 0x33, ss 0x2b, fs = gs = 0; fpstate nonzero and 64-byte aligned, FP_XSTATE_MAGIC1 at
//! fpstate + 464, FP_XSTATE_MAGIC2 at fpstate + extended_size - 4 (extended_size: the u32
//! at fpstate + 468). The interrupted registers (first delivery of each case): every
//! register as loaded (RDI, RSI, RDX: tgkill's arguments), RAX = 0 (tgkill's result), RIP =
//! RCX = the address after the `syscall`, R11 = EFLAGS = RFLAGS at the `syscall`, RSP = RSP
//! at the `syscall`.
//!
//! The cases:
//! - no alternate stack (before one is set, and again after SS_DISABLE): the whole frame
//!   (up to fpstate + extended_size) lies below the interrupted RSP minus the 128-byte
//!   red zone; `sigaltstack` inside says {0, SS_DISABLE, 0}, uc_stack {0, flags, 0} with
//!   flags SS_DISABLE after SS_DISABLE (before, Linux shows the flags inherited across
//!   exec: not checked).
//! - an alternate stack (64 KiB, mmap'ed), handler without SA_ONSTACK: the frame is on the
//!   normal stack below the red zone, uc_stack and `sigaltstack` inside say {sp, 0, size}.
//! - with SA_ONSTACK: the whole frame lies inside [ss_sp, ss_sp + ss_size); `sigaltstack`
//!   inside says {sp, SS_ONSTACK, size}, uc_stack {sp, 0, size}; afterwards {sp, 0, size}.
//! - with SS_AUTODISARM and SA_ONSTACK: the frame on the alternate stack, `sigaltstack`
//!   inside says {0, SS_DISABLE, 0}, uc_stack {sp, SS_AUTODISARM, size}, and after the
//!   return the alternate stack is back: {sp, SS_AUTODISARM, size}.
//! - nested, SA_ONSTACK | SA_NODEFER: the handler raises SIGUSR1 once more; the nested
//!   frame lies on the alternate stack below the red zone under the interrupted RSP,
//!   which is inside the alternate stack below the first frame; its uc_sigmask is the
//!   first handler's mask; uc_stack {sp, 0, size}.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::{asm, naked_asm};
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::mman::{self, PROT_READ, PROT_WRITE};
use topframe_abi_tests::registers::{Pattern, Registers, rflags};
use topframe_abi_tests::signal::{
    self, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FPX_SW_BYTES_OFFSET, SA_NODEFER, SA_ONSTACK,
    SI_TKILL, SIG_DFL, SIG_SETMASK, SIGHUP, SIGUSR1, SIGUSR2, SS_AUTODISARM, SS_DISABLE,
    SS_ONSTACK, SigInfo, SignalStack, UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS,
    UContext, USER_CS, USER_DS, bit,
};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail, getpid, gettid, nr};

abi_test_main!(main);

/// The alternate stack's size.
const ALTSTACK_SIZE: u64 = 64 * 1024;
/// The red zone below the interrupted RSP that the frame must leave alone.
const RED_ZONE: u64 = 128;
/// The mask before every delivery.
const MASK_BEFORE: u64 = bit(SIGHUP);
/// `sa_mask` of every case.
const SA_MASK: u64 = bit(SIGUSR2);
/// The flags the raising assembly loads (what `popfq` keeps of them is recorded).
const LOADED_FLAGS: u64 = rflags::LOUD;
/// uc_flags on 64-bit Linux with XSAVE.
const UC_FLAGS: u64 = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
/// The offset of `extended_size` in the FPU image (after `magic1`).
const EXTENDED_SIZE_OFFSET: usize = FPX_SW_BYTES_OFFSET + 4;
/// The FXSAVE area (512 bytes) and the XSAVE header (64): the least extended_size can be.
const XSAVE_MINIMUM: u64 = 512 + 64;
/// The 64-bit words of a `ucontext` and a `siginfo_t`.
const CONTEXT_WORDS: usize = size_of::<UContext>() / 8;
const INFO_WORDS: usize = size_of::<SigInfo>() / 8;

/// RSP and RFLAGS at the handler's entry, stored by [`handler_entry`] (each run overwrites
/// them; [`handler`] copies them first).
static ENTRY_RSP: AtomicU64 = AtomicU64::new(0);
static ENTRY_RFLAGS: AtomicU64 = AtomicU64::new(0);
/// Handler runs in the current case, and how many run now.
static RUNS: AtomicU64 = AtomicU64::new(0);
static DEPTH: AtomicU64 = AtomicU64::new(0);
/// Whether the first run raises SIGUSR1 once more (the nested case).
static NEST: AtomicU64 = AtomicU64::new(0);

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

/// What one handler run saw (run 0: the first of a case; run 1: the nested one).
struct Record {
    entry_rsp: AtomicU64,
    entry_rflags: AtomicU64,
    /// The word at the entry RSP: the return address.
    return_address: AtomicU64,
    signal: AtomicU64,
    info_address: AtomicU64,
    context_address: AtomicU64,
    info: Words<INFO_WORDS>,
    context: Words<CONTEXT_WORDS>,
    /// `rt_sigprocmask` inside the handler.
    mask: AtomicU64,
    /// `sigaltstack(NULL, &old)` inside the handler: sp, flags, size.
    altstack: Words<3>,
    /// From the FPU image: magic1, extended_size, and the word at extended_size - 4 (0 if
    /// extended_size is out of bounds).
    magic1: AtomicU64,
    extended_size: AtomicU64,
    magic2: AtomicU64,
}

impl Record {
    const fn new() -> Self {
        Self {
            entry_rsp: AtomicU64::new(0),
            entry_rflags: AtomicU64::new(0),
            return_address: AtomicU64::new(0),
            signal: AtomicU64::new(0),
            info_address: AtomicU64::new(0),
            context_address: AtomicU64::new(0),
            info: Words::new(),
            context: Words::new(),
            mask: AtomicU64::new(0),
            altstack: Words::new(),
            magic1: AtomicU64::new(0),
            extended_size: AtomicU64::new(0),
            magic2: AtomicU64::new(0),
        }
    }

    fn load(&self) -> Seen {
        let [sp, flags, size] = self.altstack.load();
        Seen {
            entry_rsp: self.entry_rsp.load(Ordering::SeqCst),
            entry_rflags: self.entry_rflags.load(Ordering::SeqCst),
            return_address: self.return_address.load(Ordering::SeqCst),
            signal: self.signal.load(Ordering::SeqCst),
            info_address: self.info_address.load(Ordering::SeqCst),
            context_address: self.context_address.load(Ordering::SeqCst),
            // SAFETY: SigInfo is plain integers (repr(C), 16 words): any bits are valid.
            info: unsafe { core::mem::transmute::<[u64; INFO_WORDS], SigInfo>(self.info.load()) },
            // SAFETY: UContext is plain integers (repr(C), 38 words): any bits are valid.
            context: unsafe {
                core::mem::transmute::<[u64; CONTEXT_WORDS], UContext>(self.context.load())
            },
            mask: self.mask.load(Ordering::SeqCst),
            altstack: SignalStack {
                sp,
                flags: flags as i32,
                size,
            },
            magic1: self.magic1.load(Ordering::SeqCst),
            extended_size: self.extended_size.load(Ordering::SeqCst),
            magic2: self.magic2.load(Ordering::SeqCst),
        }
    }
}

/// A [`Record`] read back.
struct Seen {
    entry_rsp: u64,
    entry_rflags: u64,
    return_address: u64,
    signal: u64,
    info_address: u64,
    context_address: u64,
    info: SigInfo,
    context: UContext,
    mask: u64,
    altstack: SignalStack,
    magic1: u64,
    extended_size: u64,
    magic2: u64,
}

static RECORDS: [Record; 2] = [const { Record::new() }; 2];

/// The handler the kernel enters: records RSP and RFLAGS as the kernel set them, then
/// jumps to [`handler`] with RDI, RSI, RDX and the return address at [RSP] untouched.
// SAFETY: the assembly is the whole function: it only stores RSP and RFLAGS into statics
// (pushfq and pop use the free stack below RSP), then jumps to a function of the same
// signature with the argument registers and [RSP] unchanged.
#[unsafe(naked)]
extern "C" fn handler_entry(_signal: u32, _info: &mut SigInfo, _context: &mut UContext) {
    naked_asm!(
        "mov [rip + {entry_rsp}], rsp",          // ENTRY_RSP = RSP at entry
        "pushfq",                                // RFLAGS at entry onto the free stack...
        "pop qword ptr [rip + {entry_rflags}]",  // ...into ENTRY_RFLAGS (RSP as before)
        "jmp {handler}",                         // the Rust part, which returns to [RSP]
        entry_rsp = sym ENTRY_RSP,
        entry_rflags = sym ENTRY_RFLAGS,
        handler = sym handler,
    )
}

/// The Rust part of the handler: records what it was given and sees (see [`Record`]), and
/// in the nested case raises SIGUSR1 once more from its first run.
extern "C" fn handler(signal: u32, info: &mut SigInfo, context: &mut UContext) {
    let entry_rsp = ENTRY_RSP.load(Ordering::SeqCst);
    let entry_rflags = ENTRY_RFLAGS.load(Ordering::SeqCst);
    let depth = DEPTH.fetch_add(1, Ordering::SeqCst) as usize;
    RUNS.fetch_add(1, Ordering::SeqCst);
    let Some(record) = RECORDS.get(depth) else {
        fail!("handler run at depth {depth}");
    };
    record.entry_rsp.store(entry_rsp, Ordering::SeqCst);
    record.entry_rflags.store(entry_rflags, Ordering::SeqCst);
    // SAFETY: the entry RSP points at the frame's return address (8 bytes), which the
    // kernel wrote and which stays until this handler returns.
    let return_address = unsafe { (entry_rsp as *const u64).read() };
    record
        .return_address
        .store(return_address, Ordering::SeqCst);
    record.signal.store(u64::from(signal), Ordering::SeqCst);
    record
        .info_address
        .store(info as *const SigInfo as u64, Ordering::SeqCst);
    record
        .context_address
        .store(context as *const UContext as u64, Ordering::SeqCst);
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
    record.info.store(info_words);
    record.context.store(context_words);
    record.mask.store(signal::mask(), Ordering::SeqCst);
    let (result, altstack) = signal::sigaltstack(None);
    check_eq!(result, 0, "sigaltstack(NULL, &old) in the handler");
    record
        .altstack
        .store([altstack.sp, altstack.flags as u32 as u64, altstack.size]);
    let fpstate = context.mcontext.fpstate;
    if fpstate != 0 && fpstate.is_multiple_of(64) {
        // SAFETY: a nonzero, aligned fpstate points at the frame's FPU image, at least
        // the 512-byte FXSAVE area (checked below: magic1 and the size bounds).
        let (magic1, extended_size) = unsafe {
            (
                ((fpstate as usize + FPX_SW_BYTES_OFFSET) as *const u32).read(),
                ((fpstate as usize + EXTENDED_SIZE_OFFSET) as *const u32).read(),
            )
        };
        record.magic1.store(u64::from(magic1), Ordering::SeqCst);
        record
            .extended_size
            .store(u64::from(extended_size), Ordering::SeqCst);
        let extended_size = u64::from(extended_size);
        if magic1 == FP_XSTATE_MAGIC1
            && (XSAVE_MINIMUM..=ALTSTACK_SIZE).contains(&extended_size)
            && fpstate + extended_size <= context.mcontext.rsp
        {
            // SAFETY: with magic1 present, the image is extended_size bytes long (within
            // bounds and below the interrupted RSP: frame memory).
            let magic2 = unsafe { ((fpstate + extended_size - 4) as *const u32).read() };
            record.magic2.store(u64::from(magic2), Ordering::SeqCst);
        }
    }
    if depth == 0 && NEST.load(Ordering::SeqCst) != 0 {
        check_eq!(signal::raise(SIGUSR1), 0, "tgkill from the handler");
    }
    DEPTH.fetch_sub(1, Ordering::SeqCst);
}

// The raising assembly's data: only `raise_with_registers` touches them, in its asm block
// and around it, in one thread; the handler reads none of them.
/// The general registers and RFLAGS to load (RSP: filled in by the assembly; RFLAGS:
/// replaced by what the CPU accepted).
static mut LOADED: Registers = Registers::ZERO;
/// The instruction after the `syscall`.
static mut RETURN_ADDRESS: u64 = 0;
/// RBX and RBP of the Rust code around the assembly (LLVM reserves them, so they cannot be
/// declared clobbered), restored after the `syscall`.
static mut SAVED_RBX: u64 = 0;
static mut SAVED_RBP: u64 = 0;

/// Loads distinct values into every general register (RAX, RDI, RSI, RDX: tgkill(getpid(),
/// gettid(), SIGUSR1)) and [`LOADED_FLAGS`] into RFLAGS, keeps RSP, and executes
/// `syscall`: the handler runs before it returns. Returns the registers as loaded (RSP at
/// the `syscall`, RFLAGS as the CPU took them) and the address after the `syscall`.
fn raise_with_registers() -> (Registers, u64) {
    let registers = Registers {
        rax: nr::TGKILL,
        rdi: getpid() as u64,
        rsi: gettid() as u64,
        rdx: u64::from(SIGUSR1),
        ..Registers::with_pattern(Pattern::Distinct, LOADED_FLAGS)
    };
    // SAFETY: one thread; the handler touches none of these statics. The syscall is
    // tgkill of this thread: the handler runs on its own frame (below the red zone or on
    // the alternate stack) and returns through rt_sigreturn to the `syscall`'s return.
    // The assembly restores RBX and RBP (saved in statics), leaves RSP as it was, clears
    // DF, and declares every other general register clobbered.
    unsafe {
        LOADED = registers;
        asm!(
            // Save the registers the Rust code around needs back and cannot declare.
            "mov [rip + {saved_rbx}], rbx",
            "mov [rip + {saved_rbp}], rbp",
            // The RSP at the `syscall`: the current one.
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
            // ...and pop it into LOADED. From here to the `syscall` no instruction changes
            // a flag (mov does not).
            "pop qword ptr [rip + {loaded} + {rflags}]",
            // Load the 15 general registers but RSP.
            "mov rax, [rip + {loaded} + {rax}]", // tgkill
            "mov rbx, [rip + {loaded} + {rbx}]",
            "mov rcx, [rip + {loaded} + {rcx}]",
            "mov rdx, [rip + {loaded} + {rdx}]", // the signal
            "mov rsi, [rip + {loaded} + {rsi}]", // the thread
            "mov rdi, [rip + {loaded} + {rdi}]", // the thread group
            "mov rbp, [rip + {loaded} + {rbp}]",
            "mov r8, [rip + {loaded} + {r8}]",
            "mov r9, [rip + {loaded} + {r9}]",
            "mov r10, [rip + {loaded} + {r10}]",
            "mov r11, [rip + {loaded} + {r11}]",
            "mov r12, [rip + {loaded} + {r12}]",
            "mov r13, [rip + {loaded} + {r13}]",
            "mov r14, [rip + {loaded} + {r14}]",
            "mov r15, [rip + {loaded} + {r15}]",
            // Raise the signal: the handler runs before this returns.
            "syscall",
            "2:",
            // DF = 0, as the Rust ABI requires (the pattern set it).
            "cld",
            // Restore the registers saved at the start.
            "mov rbx, [rip + {saved_rbx}]",
            "mov rbp, [rip + {saved_rbp}]",
            loaded = sym LOADED,
            return_address = sym RETURN_ADDRESS,
            saved_rbx = sym SAVED_RBX,
            saved_rbp = sym SAVED_RBP,
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
        );
        (LOADED, RETURN_ADDRESS)
    }
}

/// Where a case's handler frame must lie.
#[derive(Clone, Copy)]
enum Place {
    /// On the interrupted stack, below its red zone.
    BelowRedZone,
    /// Inside this alternate stack (and below the red zone if the interrupted RSP is in
    /// it, too).
    Altstack(SignalStack),
}

/// Checks what `seen` says about its frame (every run of every case): the layout, the
/// siginfo, uc_flags and segments, the FPU image, and that it lies at `place`.
fn check_frame(what: &str, seen: &Seen, place: Place) {
    let rsp = seen.entry_rsp;
    let context = &seen.context;
    let sc = &context.mcontext;
    check_eq!(
        (rsp + 8) % 16,
        0,
        "{what}: (RSP + 8) % 16 at entry, RSP {rsp:#x}"
    );
    check_eq!(
        seen.return_address,
        signal::restorer as *const () as u64,
        "{what}: the return address at [RSP]"
    );
    check_eq!(
        seen.context_address,
        rsp + 8,
        "{what}: the ucontext's address (RSP at entry {rsp:#x})"
    );
    check!(
        seen.info_address >= seen.context_address + size_of::<UContext>() as u64
            && seen.info_address + size_of::<SigInfo>() as u64 <= sc.fpstate,
        "{what}: siginfo at {:#x}, not between the ucontext at {:#x} and fpstate {:#x}",
        seen.info_address,
        seen.context_address,
        sc.fpstate
    );
    check_eq!(
        seen.signal,
        u64::from(SIGUSR1),
        "{what}: the signal argument"
    );
    check_eq!(
        (seen.info.signo, seen.info.errno, seen.info.code),
        (SIGUSR1 as i32, 0, SI_TKILL),
        "{what}: (si_signo, si_errno, si_code)"
    );
    check_eq!(i64::from(seen.info.pid()), getpid(), "{what}: si_pid");
    check_eq!(context.flags, UC_FLAGS, "{what}: uc_flags");
    check_eq!(context.link, 0, "{what}: uc_link");
    check_eq!(
        (sc.cs, sc.ss, sc.fs, sc.gs),
        (USER_CS, USER_DS, 0, 0),
        "{what}: (cs, ss, fs, gs)"
    );
    check_eq!(
        seen.entry_rflags,
        sc.eflags & !rflags::DF,
        "{what}: RFLAGS at entry (the interrupted {:#x} without DF)",
        sc.eflags
    );
    check!(
        sc.fpstate != 0 && sc.fpstate.is_multiple_of(64),
        "{what}: fpstate {:#x} is 0 or not 64-byte aligned",
        sc.fpstate
    );
    check_eq!(
        seen.magic1,
        u64::from(FP_XSTATE_MAGIC1),
        "{what}: FP_XSTATE_MAGIC1 at fpstate + 464"
    );
    let extended_size = seen.extended_size;
    check!(
        (XSAVE_MINIMUM..=ALTSTACK_SIZE).contains(&extended_size),
        "{what}: extended_size {extended_size}"
    );
    check_eq!(
        seen.magic2,
        u64::from(FP_XSTATE_MAGIC2),
        "{what}: FP_XSTATE_MAGIC2 at fpstate + extended_size ({extended_size}) - 4"
    );
    let frame_top = sc.fpstate + extended_size;
    let (low, high) = match place {
        Place::BelowRedZone => (0, sc.rsp.saturating_sub(RED_ZONE)),
        Place::Altstack(stack) => {
            let top = stack.sp + stack.size;
            let in_altstack = (stack.sp..top).contains(&sc.rsp);
            (
                stack.sp,
                if in_altstack {
                    sc.rsp.saturating_sub(RED_ZONE)
                } else {
                    top
                },
            )
        }
    };
    check!(
        low <= rsp && frame_top <= high,
        "{what}: the frame [{rsp:#x}, {frame_top:#x}) is not inside [{low:#x}, {high:#x}) \
         (interrupted RSP {:#x})",
        sc.rsp
    );
}

/// Checks the interrupted registers in `seen` against what the assembly loaded.
fn check_registers(what: &str, seen: &Seen, loaded: &Registers, return_address: u64) {
    let sc = &seen.context.mcontext;
    let got = Registers {
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
    };
    let expected = Registers {
        rax: 0,
        rcx: return_address,
        r11: loaded.rflags,
        ..*loaded
    };
    check_eq!(
        got,
        expected,
        "{what}: the interrupted registers (and EFLAGS) in the sigcontext"
    );
    check_eq!(sc.rip, return_address, "{what}: sigcontext RIP");
    check_eq!(
        loaded.rflags & (rflags::DF | rflags::NT | rflags::CF),
        rflags::DF | rflags::NT | rflags::CF,
        "{what}: DF, NT and CF in the loaded RFLAGS"
    );
}

fn set_mask(mask: u64) {
    let (result, _) = signal::procmask(SIG_SETMASK, Some(mask));
    check_eq!(result, 0, "rt_sigprocmask(SIG_SETMASK, {mask:#x})");
}

fn set_altstack(stack: &SignalStack) {
    let (result, _) = signal::sigaltstack(Some(stack));
    check_eq!(result, 0, "sigaltstack({stack:?})");
}

/// The alternate stack as `sigaltstack` reports it now.
fn altstack_now() -> SignalStack {
    let (result, stack) = signal::sigaltstack(None);
    check_eq!(result, 0, "sigaltstack(NULL, &old)");
    stack
}

/// Installs the handler with `flags`, raises SIGUSR1 from the assembly with the mask
/// [`MASK_BEFORE`], checks what every case shares (runs, frames, registers, masks) and
/// returns the records of the runs.
fn deliver(what: &str, flags: u64, nest: bool, place: Place) -> (Seen, Option<Seen>) {
    let result = signal::install(SIGUSR1, handler_entry, flags, SA_MASK);
    check_eq!(result, 0, "{what}: rt_sigaction(SIGUSR1)");
    RUNS.store(0, Ordering::SeqCst);
    DEPTH.store(0, Ordering::SeqCst);
    NEST.store(u64::from(nest), Ordering::SeqCst);
    set_mask(MASK_BEFORE);
    let (loaded, return_address) = raise_with_registers();
    let mask_after = signal::mask();
    set_mask(0);
    check_eq!(signal::set_disposition(SIGUSR1, SIG_DFL), 0, "SIG_DFL");
    check_eq!(
        RUNS.load(Ordering::SeqCst),
        1 + u64::from(nest),
        "{what}: handler runs"
    );
    check_eq!(mask_after, MASK_BEFORE, "{what}: the mask after the return");
    let first = RECORDS[0].load();
    check_frame(what, &first, place);
    check_registers(what, &first, &loaded, return_address);
    let sigusr1 = if flags & SA_NODEFER != 0 {
        0
    } else {
        bit(SIGUSR1)
    };
    let handler_mask = MASK_BEFORE | sigusr1 | SA_MASK;
    check_eq!(first.mask, handler_mask, "{what}: the mask in the handler");
    check_eq!(first.context.sigmask, MASK_BEFORE, "{what}: uc_sigmask");
    check_eq!(
        first.context.mcontext.oldmask,
        MASK_BEFORE,
        "{what}: sigcontext oldmask"
    );
    let nested = nest.then(|| {
        let nested = RECORDS[1].load();
        check_frame("nested run", &nested, place);
        check_eq!(nested.mask, handler_mask, "nested: the mask in the handler");
        check_eq!(
            nested.context.sigmask,
            handler_mask,
            "nested: uc_sigmask (the first handler's mask)"
        );
        nested
    });
    (first, nested)
}

/// A fresh 64 KiB alternate stack with `flags`.
fn new_altstack(flags: i32) -> SignalStack {
    let sp = mman::map_anonymous(ALTSTACK_SIZE, PROT_READ | PROT_WRITE);
    check!(sp > 0, "mmap of the alternate stack: {sp}");
    SignalStack {
        sp: sp as u64,
        flags,
        size: ALTSTACK_SIZE,
    }
}

const DISABLED: SignalStack = SignalStack {
    sp: 0,
    flags: SS_DISABLE,
    size: 0,
};

/// `stack` with other flags.
fn with_flags(stack: SignalStack, flags: i32) -> SignalStack {
    SignalStack { flags, ..stack }
}

/// Without an alternate stack: sp and size 0 in `uc_stack`, its flags `flags` if given
/// (see [`main`]).
fn no_altstack(what: &str, flags: Option<i32>) {
    check_eq!(
        altstack_now(),
        DISABLED,
        "{what}: the alternate stack before"
    );
    let (seen, _) = deliver(what, 0, false, Place::BelowRedZone);
    let uc_stack = seen.context.stack;
    check_eq!(
        (uc_stack.sp, uc_stack.size),
        (0, 0),
        "{what}: uc_stack (sp, size) of {uc_stack:?}"
    );
    if let Some(flags) = flags {
        check_eq!(uc_stack.flags, flags, "{what}: uc_stack flags");
    }
    check_eq!(
        seen.altstack,
        DISABLED,
        "{what}: sigaltstack in the handler"
    );
    check_eq!(
        altstack_now(),
        DISABLED,
        "{what}: the alternate stack after"
    );
}

fn altstack_without_onstack(stack: SignalStack) {
    set_altstack(&stack);
    let what = "altstack, no SA_ONSTACK";
    let (seen, _) = deliver(what, 0, false, Place::BelowRedZone);
    check!(
        !(stack.sp..stack.sp + stack.size).contains(&seen.entry_rsp),
        "{what}: RSP {:#x} at entry is on the alternate stack",
        seen.entry_rsp
    );
    check_eq!(seen.context.stack, stack, "{what}: uc_stack");
    check_eq!(seen.altstack, stack, "{what}: sigaltstack in the handler");
    check_eq!(altstack_now(), stack, "{what}: the alternate stack after");
}

fn onstack(stack: SignalStack) {
    set_altstack(&stack);
    let what = "SA_ONSTACK";
    let (seen, _) = deliver(what, SA_ONSTACK, false, Place::Altstack(stack));
    check_eq!(seen.context.stack, stack, "{what}: uc_stack");
    check_eq!(
        seen.altstack,
        with_flags(stack, SS_ONSTACK),
        "{what}: sigaltstack in the handler"
    );
    check_eq!(altstack_now(), stack, "{what}: the alternate stack after");
}

fn autodisarm(stack: SignalStack) {
    let stack = with_flags(stack, SS_AUTODISARM);
    set_altstack(&stack);
    let what = "SS_AUTODISARM";
    check_eq!(altstack_now(), stack, "{what}: the alternate stack before");
    let (seen, _) = deliver(what, SA_ONSTACK, false, Place::Altstack(stack));
    check_eq!(seen.context.stack, stack, "{what}: uc_stack");
    check_eq!(
        seen.altstack,
        DISABLED,
        "{what}: sigaltstack in the handler"
    );
    check_eq!(
        altstack_now(),
        stack,
        "{what}: the alternate stack after the return"
    );
}

fn nested(stack: SignalStack) {
    set_altstack(&stack);
    let what = "nested";
    let (first, nested) = deliver(what, SA_ONSTACK | SA_NODEFER, true, Place::Altstack(stack));
    let Some(nested) = nested else {
        fail!("{what}: no nested record");
    };
    let interrupted = nested.context.mcontext.rsp;
    check!(
        (stack.sp..first.entry_rsp).contains(&interrupted),
        "{what}: the nested interrupted RSP {interrupted:#x} is not on the alternate stack \
         [{:#x}, ...) below the first frame at {:#x}",
        stack.sp,
        first.entry_rsp
    );
    check!(
        nested.entry_rsp < first.entry_rsp,
        "{what}: the nested frame at {:#x} is not below the first at {:#x}",
        nested.entry_rsp,
        first.entry_rsp
    );
    for (run, seen) in [("first", &first), ("nested", &nested)] {
        check_eq!(seen.context.stack, stack, "{what}: {run} run's uc_stack");
        check_eq!(
            seen.altstack,
            with_flags(stack, SS_ONSTACK),
            "{what}: sigaltstack in the {run} run"
        );
    }
    check_eq!(altstack_now(), stack, "{what}: the alternate stack after");
}

fn main(_stack: &InitialStack) {
    // uc_stack's flags are the thread's `sas_ss_flags`, which exec does not reset (only
    // sp and size): before this program sets an alternate stack they are whatever the
    // thread that exec'ed it had (0, SS_DISABLE, SS_AUTODISARM). Not checked.
    no_altstack("no altstack yet", None);
    let stack = new_altstack(0);
    altstack_without_onstack(stack);
    onstack(stack);
    autodisarm(stack);
    nested(stack);
    set_altstack(&DISABLED);
    no_altstack("altstack disabled", Some(SS_DISABLE));
    check_eq!(signal::mask(), 0, "the mask at the end");
}
