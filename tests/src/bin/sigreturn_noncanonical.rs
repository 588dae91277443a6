//! Returns to user mode at addresses the CPU cannot run, as Linux's selftest
//! `sysret_rip.c` makes them (the "Intel SYSRET pitfall": a non-canonical RCX at SYSRET
//! faults in kernel mode); the kernel must survive each and deliver a SIGSEGV whose
//! ucontext RIP is the address asked for.
//!
//! Part 1, rt_sigreturn: a SIGUSR1 handler (the signal sent by tgkill to self, so its
//! frame has RCX = RIP and R11 = RFLAGS, both checked) sets the ucontext RIP and RCX to
//! `1 << bit`, for every bit 47..=63 (all non-canonical with 4-level paging). After its
//! rt_sigreturn the SIGSEGV handler must see: RIP = that address, si_code SI_KERNEL,
//! si_addr 0, trapno 13 (#GP), err 0, every other general register as in the SIGUSR1 frame
//! (RFLAGS but RF too), CS = 0x33, and the mask from before SIGUSR1 (rt_sigreturn restored
//! it first). Then RIP = 0xffff_8000_0000_0000 (canonical, kernel half): a #PF on the
//! fetch: SEGV_MAPERR, si_addr = cr2 = RIP = the address, trapno 14, err 0x15 (user,
//! instruction fetch, and the protection bit Linux adds for kernel addresses). The SIGSEGV
//! handler puts RIP and RCX back, and the program continues after its tgkill.
//!
//! Part 2, a `syscall` as the last two bytes of a page, so that it returns (RCX) to the
//! next page: mapping the page at 0x7fff_ffff_f000 (so that RCX would be 1 << 47) fails
//! with ENOMEM, as user space ends there on Linux (TASK_SIZE_MAX). So the syscall (getpid,
//! reached with `call`) is put at the end of the highest user page, 0x7fff_ffff_e000
//! (mapped with MAP_FIXED_NOREPLACE; if that page is already the stack's, as on Linux
//! without randomisation, its last two bytes are borrowed: saved, the page made RWX, the
//! `syscall` written, all restored afterwards): the SIGSEGV handler must see RIP = si_addr
//! = cr2 = 0x7fff_ffff_f000, SEGV_MAPERR, trapno 14, err 0x15 (Linux counts that address
//! as kernel space), RAX = the PID, RCX = RIP. The same at the end of an ordinary page
//! whose successor is unmapped gives err 0x14. The handler returns to the caller (RIP
//! from the stack, RSP + 8, as `ret` would).
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::errno::EEXIST;
use topframe_abi_tests::errno::ENOMEM;
use topframe_abi_tests::mman::MAP_FIXED_NOREPLACE;
use topframe_abi_tests::mman::PROT_EXEC;
use topframe_abi_tests::mman::{
    self, MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE,
};
use topframe_abi_tests::registers::rflags::RF;
use topframe_abi_tests::signal::{
    self, SEGV_MAPERR, SI_KERNEL, SIGSEGV, SIGUSR1, SigContext, SigInfo, UContext, USER_CS,
};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, getpid, nr, syscall6};

abi_test_main!(main);

/// `sigcontext.err` bits of a #PF: present (protection), user, instruction fetch.
const PF_PROTECTION: u64 = 1 << 0;
const PF_USER: u64 = 1 << 2;
const PF_INSTRUCTION: u64 = 1 << 4;
/// Exception vectors.
const TRAP_GP: u64 = 13;
const TRAP_PF: u64 = 14;

/// Linux's end of user space (`TASK_SIZE_MAX`): the last page below 1 << 47.
const USER_END: u64 = (1 << 47) - PAGE_SIZE;
/// The lowest canonical kernel-half address.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;
/// `syscall`'s encoding.
const SYSCALL: [u8; 2] = [0x0f, 0x05];

/// The general registers and RFLAGS of a `sigcontext`, in its order.
const NAMES: [&str; 18] = [
    "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15", "RDI", "RSI", "RBP", "RBX", "RDX", "RAX",
    "RCX", "RSP", "RIP", "RFLAGS",
];
const RCX: usize = 14;
const RIP: usize = 16;
const RFLAGS: usize = 17;

fn registers(context: &SigContext) -> [u64; 18] {
    [
        context.r8,
        context.r9,
        context.r10,
        context.r11,
        context.r12,
        context.r13,
        context.r14,
        context.r15,
        context.rdi,
        context.rsi,
        context.rbp,
        context.rbx,
        context.rdx,
        context.rax,
        context.rcx,
        context.rsp,
        context.rip,
        context.eflags,
    ]
}

/// The RIP (and RCX) the SIGUSR1 handler sets.
static TARGET: AtomicU64 = AtomicU64::new(0);
/// The registers of the SIGUSR1 frame, and how many SIGUSR1s came.
static SAVED: [AtomicU64; 18] = [const { AtomicU64::new(0) }; 18];
static USR1S: AtomicU64 = AtomicU64::new(0);
/// SIGSEGVs so far, and what the last one's handler saw ([`Segv`] fields).
static SEGVS: AtomicU64 = AtomicU64::new(0);
static SEEN: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];
/// After rt_sigreturn: the first register (index + 1) that differed from [`SAVED`], 0 if
/// none, and its value.
static MISMATCH: AtomicU64 = AtomicU64::new(0);
static MISMATCH_VALUE: AtomicU64 = AtomicU64::new(0);

/// A SIGSEGV as its handler saw it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Segv {
    code: u64,
    address: u64,
    rip: u64,
    trapno: u64,
    error: u64,
    /// Compared only for #PF.
    cr2: Option<u64>,
    mask: u64,
    cs: u64,
    rax: u64,
    rcx: u64,
}

impl fmt::Debug for Segv {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "si_code {:#x}, si_addr {:#x}, RIP {:#x}, trapno {}, err {:#x}, cr2 {:x?}, \
             mask {:#x}, CS {:#x}, RAX {:#x}, RCX {:#x}",
            self.code,
            self.address,
            self.rip,
            self.trapno,
            self.error,
            self.cr2,
            self.mask,
            self.cs,
            self.rax,
            self.rcx
        )
    }
}

fn record(info: &SigInfo, context: &UContext) {
    let registers = &context.mcontext;
    let values = [
        info.code as u32 as u64,
        info.addr(),
        registers.rip,
        registers.trapno,
        registers.err,
        registers.cr2,
        context.sigmask,
        u64::from(registers.cs),
        registers.rax,
        registers.rcx,
    ];
    for (slot, value) in SEEN.iter().zip(values) {
        slot.store(value, Ordering::Relaxed);
    }
    SEGVS.fetch_add(1, Ordering::Relaxed);
}

fn seen(with_cr2: bool) -> Segv {
    let value = |index: usize| SEEN[index].load(Ordering::Relaxed);
    Segv {
        code: value(0),
        address: value(1),
        rip: value(2),
        trapno: value(3),
        error: value(4),
        cr2: with_cr2.then(|| value(5)),
        mask: value(6),
        cs: value(7),
        rax: value(8),
        rcx: value(9),
    }
}

/// Saves the frame's registers and aims RIP and RCX at [`TARGET`].
extern "C" fn on_usr1(_signal: u32, _info: &mut SigInfo, context: &mut UContext) {
    for (slot, value) in SAVED.iter().zip(registers(&context.mcontext)) {
        slot.store(value, Ordering::Relaxed);
    }
    USR1S.fetch_add(1, Ordering::Relaxed);
    let target = TARGET.load(Ordering::Relaxed);
    context.mcontext.rip = target;
    context.mcontext.rcx = target;
}

/// Part 1: records the fault, compares the registers with [`SAVED`], and puts RIP and RCX
/// back.
extern "C" fn on_segv_after_sigreturn(_signal: u32, info: &mut SigInfo, context: &mut UContext) {
    record(info, context);
    let now = registers(&context.mcontext);
    for (index, (value, saved)) in now.iter().zip(&SAVED).enumerate() {
        let saved = saved.load(Ordering::Relaxed);
        let differs = match index {
            RIP | RCX => false,
            RFLAGS => value & !RF != saved,
            _ => *value != saved,
        };
        if differs && MISMATCH.load(Ordering::Relaxed) == 0 {
            MISMATCH.store(index as u64 + 1, Ordering::Relaxed);
            MISMATCH_VALUE.store(*value, Ordering::Relaxed);
        }
    }
    context.mcontext.rip = SAVED[RIP].load(Ordering::Relaxed);
    context.mcontext.rcx = SAVED[RCX].load(Ordering::Relaxed);
}

/// Part 2: records the fault and returns to the caller of the page's `syscall`.
extern "C" fn on_segv_after_fallthrough(_signal: u32, info: &mut SigInfo, context: &mut UContext) {
    record(info, context);
    let registers = &mut context.mcontext;
    // SAFETY: RSP points at the return address that the `call` pushed (the syscall and
    // the fault changed no stack).
    registers.rip = unsafe { (registers.rsp as *const u64).read() };
    registers.rsp += 8;
}

/// One part-1 case: sigreturn to `target`, expecting `expected`.
fn sigreturn_to(target: u64, expected: Segv) {
    TARGET.store(target, Ordering::Relaxed);
    USR1S.store(0, Ordering::Relaxed);
    SEGVS.store(0, Ordering::Relaxed);
    MISMATCH.store(0, Ordering::Relaxed);
    check_eq!(signal::raise(SIGUSR1), 0, "{target:#x}: tgkill(SIGUSR1)");
    check_eq!(USR1S.load(Ordering::Relaxed), 1, "{target:#x}: SIGUSR1s");
    let saved = |index: usize| SAVED[index].load(Ordering::Relaxed);
    check_eq!(
        saved(RCX),
        saved(RIP),
        "{target:#x}: RCX = RIP in the SIGUSR1 frame"
    );
    check_eq!(
        saved(3),
        saved(RFLAGS),
        "{target:#x}: R11 = RFLAGS in the SIGUSR1 frame"
    );
    check_eq!(SEGVS.load(Ordering::Relaxed), 1, "{target:#x}: SIGSEGVs");
    check_eq!(
        seen(expected.cr2.is_some()),
        expected,
        "{target:#x}: the SIGSEGV"
    );
    let mismatch = MISMATCH.load(Ordering::Relaxed) as usize;
    if mismatch != 0 {
        let index = mismatch - 1;
        check!(
            false,
            "{target:#x}: {} in the SIGSEGV frame {:#x}, in the SIGUSR1 frame {:#x}",
            NAMES[index],
            MISMATCH_VALUE.load(Ordering::Relaxed),
            saved(index)
        );
    }
}

fn sigreturns() {
    let mask = signal::mask();
    check_eq!(
        signal::install(SIGUSR1, on_usr1, 0, 0),
        0,
        "rt_sigaction(SIGUSR1)"
    );
    check_eq!(
        signal::install(SIGSEGV, on_segv_after_sigreturn, 0, 0),
        0,
        "rt_sigaction(SIGSEGV)"
    );
    for bit in 47..64 {
        let target = 1_u64 << bit;
        sigreturn_to(
            target,
            Segv {
                code: SI_KERNEL as u64,
                address: 0,
                rip: target,
                trapno: TRAP_GP,
                error: 0,
                cr2: None,
                mask,
                cs: u64::from(USER_CS),
                rax: 0,
                rcx: target,
            },
        );
    }
    sigreturn_to(
        KERNEL_HALF,
        Segv {
            code: SEGV_MAPERR as u64,
            address: KERNEL_HALF,
            rip: KERNEL_HALF,
            trapno: TRAP_PF,
            error: PF_USER | PF_INSTRUCTION | PF_PROTECTION,
            cr2: Some(KERNEL_HALF),
            mask,
            cs: u64::from(USER_CS),
            rax: 0,
            rcx: KERNEL_HALF,
        },
    );
}

/// `mmap(address, length, protection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE)`.
fn map_at(address: u64, length: u64, protection: u64) -> i64 {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping: nothing mapped changes.
    unsafe {
        syscall6(
            nr::MMAP,
            address,
            length,
            protection,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
            u64::MAX,
            0,
        )
    }
}

/// `mprotect` of one page, which must succeed.
fn protect(page: u64, protection: u64) {
    // SAFETY: only the code here uses the page (or, borrowed, its last two bytes), and
    // only as `protection` allows.
    let result = unsafe { mman::protect(page, PAGE_SIZE, protection) };
    check_eq!(result, 0, "mprotect({page:#x}, {protection:#x})");
}

/// Calls the `syscall` (getpid) in the last two bytes of `page`, which falls through to
/// the next page; checks the SIGSEGV there, with `error` as its err.
fn fall_through(name: &str, page: u64, error: u64) {
    let next = page + PAGE_SIZE;
    let mask = signal::mask();
    SEGVS.store(0, Ordering::Relaxed);
    let (result, return_address): (i64, u64);
    // SAFETY: the call runs getpid and faults at `next`; the handler returns to label 2
    // with every register as at the fault (RAX = the PID, RCX and R11 declared).
    unsafe {
        asm!(
            "lea {return_address}, [rip + 2f]", // where the call returns
            "call {syscall}",                   // getpid at the end of the page
            "2:",
            syscall = in(reg) next - 2,
            return_address = out(reg) return_address,
            inlateout("rax") nr::GETPID => result,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    check!(return_address != 0, "{name}: the return label");
    check_eq!(result, getpid(), "{name}: getpid");
    check_eq!(SEGVS.load(Ordering::Relaxed), 1, "{name}: SIGSEGVs");
    check_eq!(
        seen(true),
        Segv {
            code: SEGV_MAPERR as u64,
            address: next,
            rip: next,
            trapno: TRAP_PF,
            error,
            cr2: Some(next),
            mask,
            cs: u64::from(USER_CS),
            rax: getpid() as u64,
            rcx: next,
        },
        "{name}: the SIGSEGV"
    );
}

/// Writes `bytes` at `address`; returns what was there.
///
/// # Safety
/// The 2 bytes are writable and nothing else uses them meanwhile.
unsafe fn swap_bytes(address: u64, bytes: [u8; 2]) -> [u8; 2] {
    let pointer = address as *mut [u8; 2];
    // SAFETY: the caller's promise.
    unsafe {
        let old = pointer.read_volatile();
        pointer.write_volatile(bytes);
        old
    }
}

fn fall_throughs() {
    check_eq!(
        signal::install(SIGSEGV, on_segv_after_fallthrough, 0, 0),
        0,
        "rt_sigaction(SIGSEGV)"
    );
    check_eq!(
        map_at(USER_END, PAGE_SIZE, PROT_READ | PROT_WRITE),
        -ENOMEM,
        "mmap of the page at {USER_END:#x} (above user space)"
    );

    // The highest user page.
    let top = USER_END - PAGE_SIZE;
    let syscall_address = top + PAGE_SIZE - 2;
    let mapped = map_at(top, PAGE_SIZE, PROT_READ | PROT_WRITE);
    if mapped == top as i64 {
        // SAFETY: the fresh page is this code's alone.
        unsafe { swap_bytes(syscall_address, SYSCALL) };
        protect(top, PROT_READ | PROT_EXEC);
        fall_through(
            "the highest user page",
            top,
            PF_USER | PF_INSTRUCTION | PF_PROTECTION,
        );
        // SAFETY: nothing uses the page any more.
        let result = unsafe { mman::unmap(top, PAGE_SIZE) };
        check_eq!(result, 0, "munmap of the highest user page");
    } else {
        check_eq!(mapped, -EEXIST, "mmap of the highest user page");
        // The stack's: keep it writable, add execute, borrow the last two bytes (the end
        // of the strings or the end marker at the stack's top, which nothing reads now).
        protect(top, PROT_READ | PROT_WRITE | PROT_EXEC);
        // SAFETY: the stack's top bytes are writable and unused while borrowed.
        let old = unsafe { swap_bytes(syscall_address, SYSCALL) };
        fall_through(
            "the highest user page (the stack's)",
            top,
            PF_USER | PF_INSTRUCTION | PF_PROTECTION,
        );
        // SAFETY: as above: the bytes go back.
        unsafe { swap_bytes(syscall_address, old) };
        protect(top, PROT_READ | PROT_WRITE);
    }

    // An ordinary page whose successor is unmapped.
    let pages = mman::map_anonymous(2 * PAGE_SIZE, PROT_READ | PROT_WRITE);
    check!(pages > 0, "mmap of two pages: {pages}");
    let page = pages as u64;
    // SAFETY: the second page is this code's and unused.
    let result = unsafe { mman::unmap(page + PAGE_SIZE, PAGE_SIZE) };
    check_eq!(result, 0, "munmap of the second page");
    // SAFETY: the fresh page is this code's alone.
    unsafe { swap_bytes(page + PAGE_SIZE - 2, SYSCALL) };
    protect(page, PROT_READ | PROT_EXEC);
    fall_through("an ordinary page", page, PF_USER | PF_INSTRUCTION);
}

fn main(_stack: &InitialStack) {
    sigreturns();
    fall_throughs();
}
