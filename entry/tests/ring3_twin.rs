//! The SYSCALL entry generated as its ring-3 twin (`privileged: false`) and called from
//! a host thread the way SYSCALL would: the same frame building, dispatch, work-flag
//! checks and exits as the kernel's, so these checks hold for the kernel's code too.

use std::sync::atomic::{AtomicU64, Ordering};
use topframe_entry::syscall::SyscallHandler;
use topframe_entry::{
    CompleteFrame, LazyTopOfStack, PtRegs, SyscallKernel, ThreadWork, USER_CS, USER_DS, WorkFlags,
};

/// Number 0: returns 42. Number 1: returns a mix of all six arguments.
extern "C" fn forty_two(_: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> i64 {
    42
}

extern "C" fn mix(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64) -> i64 {
    (a ^ b.rotate_left(8)
        ^ c.rotate_left(16)
        ^ d.rotate_left(24)
        ^ e.rotate_left(32)
        ^ f.rotate_left(40)) as i64
}

static TABLE: [SyscallHandler; 2] = [forty_two, mix];

/// What the slow path saw: the frame's RSP, CS, SS, RCX, RIP, RFLAGS, R11.
static SEEN: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];

struct TestKernel;

impl SyscallKernel for TestKernel {
    fn exit_work(regs: &mut PtRegs) {
        let seen = [
            regs.rsp,
            regs.cs,
            regs.ss,
            regs.rcx,
            regs.rip,
            regs.eflags,
            regs.r11,
        ];
        for (slot, value) in SEEN.iter().zip(seen) {
            slot.store(value, Ordering::Relaxed);
        }
        // The exit work runs once; the test thread's flags are cleared here.
        WORK.with(|work| work.take(WorkFlags::all()));
    }

    fn entry_work(regs: &mut PtRegs) -> bool {
        ENTRY_WORK_CALLS.with(|cell| cell.fetch_add(1, Ordering::Relaxed));
        let complete = regs.rsp != 0 && regs.rcx == regs.rip && regs.cs == USER_CS;
        ENTRY_WORK_SAW_COMPLETE_FRAME
            .with(|cell| cell.store(u64::from(complete), Ordering::Relaxed));
        if REDIRECT_TO_MIX.with(|cell| cell.load(Ordering::Relaxed)) != 0 && regs.orig_rax == 0 {
            regs.orig_rax = 1; // a tracer changing the call at its syscall-entry stop
        }
        true
    }
}

thread_local! {
    /// What the syscall-entry work saw and does, per test thread (the tests run at once).
    static ENTRY_WORK_CALLS: AtomicU64 = const { AtomicU64::new(0) };
    static ENTRY_WORK_SAW_COMPLETE_FRAME: AtomicU64 = const { AtomicU64::new(0) };
    static REDIRECT_TO_MIX: AtomicU64 = const { AtomicU64::new(0) };
}

thread_local! {
    static WORK: &'static ThreadWork = Box::leak(Box::new(ThreadWork::new()));
}

topframe_entry::syscall_entry! {
    unsafe fn complete_twin;
    strategy: CompleteFrame,
    kernel: TestKernel,
    table: TABLE,
    privileged: false,
}

topframe_entry::syscall_entry! {
    unsafe fn lazy_twin;
    strategy: LazyTopOfStack,
    kernel: TestKernel,
    table: TABLE,
    privileged: false,
}

/// The registers around one emulated SYSCALL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
struct Registers {
    rax: u64,
    rbx: u64,
    rcx: u64,
    rdx: u64,
    rsi: u64,
    rdi: u64,
    rbp: u64,
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rsp: u64,
}

/// Load `input` into the registers, emulate SYSCALL into `entry` (RCX = return address,
/// R11 = RFLAGS), and capture every register afterwards. Returns (after, the RIP and
/// RFLAGS SYSCALL would have saved).
fn fake_syscall(entry: unsafe extern "C" fn() -> !, input: &Registers) -> (Registers, u64, u64) {
    let mut output = Registers::default();
    let mut return_address = 0u64;
    let mut rflags = 0u64;
    // SAFETY: the asm saves the callee-saved registers and RBP, restores them before
    // leaving; the entry returns to label 2 with the stack as it was (it restores RSP
    // from its frame/OLD_RSP); both structs are live for the duration.
    unsafe {
        core::arch::asm!(
            "push rbp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            "push {out}",                   // keep the output pointers across the call
            "push {ret}",
            "push {flags}",
            "push {entry}",                 // [rsp]: where to jump
            "mov rax, {input}",
            "mov rbx, [rax + 8]",
            "mov rdx, [rax + 24]",
            "mov rsi, [rax + 32]",
            "mov rdi, [rax + 40]",
            "mov rbp, [rax + 48]",
            "mov r8, [rax + 56]",
            "mov r9, [rax + 64]",
            "mov r10, [rax + 72]",
            "mov r12, [rax + 88]",
            "mov r13, [rax + 96]",
            "mov r14, [rax + 104]",
            "mov r15, [rax + 112]",
            "mov rax, [rax]",               // the syscall number last
            "lea rcx, [rip + 2f]",          // SYSCALL: RCX = return address
            "pushfq",
            "pop r11",                      // SYSCALL: R11 = RFLAGS
            "jmp [rsp]",                    // into the entry
            "2:",
            "xchg rax, [rsp + 24]",         // RAX out; the output pointer in
            "mov [rax + 8], rbx",
            "mov [rax + 16], rcx",
            "mov [rax + 24], rdx",
            "mov [rax + 32], rsi",
            "mov [rax + 40], rdi",
            "mov [rax + 48], rbp",
            "mov [rax + 56], r8",
            "mov [rax + 64], r9",
            "mov [rax + 72], r10",
            "mov [rax + 80], r11",
            "mov [rax + 88], r12",
            "mov [rax + 96], r13",
            "mov [rax + 104], r14",
            "mov [rax + 112], r15",
            "mov [rax + 120], rsp",
            "mov rbx, [rsp + 24]",          // the syscall's RAX
            "mov [rax], rbx",
            "mov rbx, [rsp + 16]",          // where SYSCALL's RIP goes
            "lea rcx, [rip + 2b]",
            "mov [rbx], rcx",
            "mov rbx, [rsp + 8]",           // where SYSCALL's RFLAGS go
            "pushfq",
            "pop rcx",
            "mov [rbx], rcx",
            "add rsp, 32",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            entry = in(reg) entry,
            input = in(reg) input,
            out = in(reg) &mut output,
            ret = in(reg) &mut return_address,
            flags = in(reg) &mut rflags,
            out("rax") _, out("rcx") _, out("rdx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    (output, return_address, rflags)
}

/// Per-thread setup: a per-CPU area (real GS), a kernel stack, work flags.
fn setup_thread() {
    topframe_percpu::install_on_current_thread(next_cpu()).expect("arch_prctl(ARCH_SET_GS)");
    let stack: &'static mut [u64] = Box::leak(vec![0u64; 4096].into_boxed_slice());
    let top = stack.as_ptr_range().end as u64;
    WORK.with(|work| {
        // SAFETY: the stack and the flags are leaked: they live for ever and only this
        // thread uses them; the limit is the table's length.
        unsafe { topframe_entry::install_thread(top, work, TABLE.len() as u32) }
    });
}

fn next_cpu() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) as usize
}

fn patterns() -> Vec<Registers> {
    let fills = [
        0u64,
        u64::MAX,
        0x5555_5555_5555_5555,
        0xaaaa_aaaa_aaaa_aaaa,
        0x0123_4567_89ab_cdef,
    ];
    fills
        .iter()
        .map(|&fill| Registers {
            rax: 0,
            rbx: fill ^ 1,
            rcx: fill ^ 2,
            rdx: fill ^ 3,
            rsi: fill ^ 4,
            rdi: fill ^ 5,
            rbp: fill ^ 6,
            r8: fill ^ 7,
            r9: fill ^ 8,
            r10: fill ^ 9,
            r11: fill ^ 10,
            r12: fill ^ 11,
            r13: fill ^ 12,
            r14: fill ^ 13,
            r15: fill ^ 14,
            rsp: 0,
        })
        .collect()
}

/// Every register but RAX, RCX and R11 survives; RCX = return address, R11 = RFLAGS.
fn check_preserved(
    entry: unsafe extern "C" fn() -> !,
    number: u64,
    expected_rax: impl Fn(&Registers) -> u64,
) {
    for mut input in patterns() {
        input.rax = number;
        let (output, return_address, rflags) = fake_syscall(entry, &input);
        let mut expected = input;
        expected.rax = expected_rax(&input);
        expected.rcx = return_address;
        expected.r11 = output.r11;
        expected.rsp = output.rsp;
        assert_eq!(output, expected, "number {number:#x}");
        assert_eq!(
            output.r11 & !0x8d5,
            rflags & !0x8d5,
            "R11 = RFLAGS (status bits aside)"
        );
    }
}

fn run_all_checks(entry: unsafe extern "C" fn() -> !, lazy: bool) {
    setup_thread();
    check_preserved(entry, 0, |_| 42);
    check_preserved(entry, 1, |r| {
        mix(r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9) as u64
    });
    // Only the low 32 bits select: 0x1_0000_0000 is number 0.
    check_preserved(entry, 0x1_0000_0000, |_| 42);
    for unassigned in [2, 1000, 0x7fff_ffff, u64::MAX, 0xffff_ffff] {
        check_preserved(entry, unassigned, |_| (-38i64) as u64);
    }

    // A work flag takes the slow path: same registers, and the exit work saw a complete
    // frame (user RSP, the user selectors, RCX == RIP, R11 == RFLAGS) under both strategies.
    WORK.with(|work| work.set(WorkFlags::NOTIFY_RESUME));
    check_preserved(entry, 0, |_| 42);
    let seen: Vec<u64> = SEEN
        .iter()
        .map(|slot| slot.load(Ordering::Relaxed))
        .collect();
    let [rsp, cs, ss, rcx, rip, eflags, r11] = seen[..] else {
        unreachable!()
    };
    assert_ne!(
        rsp, 0,
        "the slow path's frame has the user RSP (lazy = {lazy})"
    );
    assert_eq!((cs, ss), (USER_CS, USER_DS));
    assert_eq!(rcx, rip, "RCX == RIP in the complete frame");
    assert_eq!(r11, eflags, "R11 == RFLAGS in the complete frame");
    assert!(WORK.with(|work| work.get().is_empty()));

    // Syscall-entry work (dispatch limit 0): every number, assigned or not, goes through
    // `entry_work` with a complete frame, then the dispatch reads the (maybe changed)
    // number from the frame; the registers come back as from the fast path.
    // SAFETY: 0 is below any table's length.
    unsafe { topframe_entry::set_dispatch_limit(0) };
    ENTRY_WORK_CALLS.with(|cell| cell.store(0, Ordering::Relaxed));
    check_preserved(entry, 0, |_| 42);
    check_preserved(entry, 2, |_| (-38i64) as u64);
    assert_eq!(
        ENTRY_WORK_CALLS.with(|cell| cell.load(Ordering::Relaxed)),
        2 * patterns().len() as u64
    );
    assert_eq!(
        ENTRY_WORK_SAW_COMPLETE_FRAME.with(|cell| cell.load(Ordering::Relaxed)),
        1
    );
    REDIRECT_TO_MIX.with(|cell| cell.store(1, Ordering::Relaxed));
    check_preserved(entry, 0, |r| {
        mix(r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9) as u64
    });
    REDIRECT_TO_MIX.with(|cell| cell.store(0, Ordering::Relaxed));
    // SAFETY: the table's length.
    unsafe { topframe_entry::set_dispatch_limit(TABLE.len() as u32) };
    ENTRY_WORK_CALLS.with(|cell| cell.store(0, Ordering::Relaxed));
    check_preserved(entry, 0, |_| 42);
    assert_eq!(
        ENTRY_WORK_CALLS.with(|cell| cell.load(Ordering::Relaxed)),
        0,
        "no entry work at the full limit"
    );
    assert!(WORK.with(|work| work.get().is_empty()));
}

#[test]
fn complete_frame_twin_preserves_registers() {
    std::thread::spawn(|| run_all_checks(complete_twin, false))
        .join()
        .unwrap();
}

#[test]
fn lazy_top_of_stack_twin_preserves_registers() {
    std::thread::spawn(|| run_all_checks(lazy_twin, true))
        .join()
        .unwrap();
}
