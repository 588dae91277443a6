//! ptrace's memory and `struct user` accessors on a fork child that called PTRACE_TRACEME
//! and stopped itself with `tgkill(self, SIGSTOP)` from an assembly block with R12 =
//! a known value. At that stop the parent (tracer) checks:
//! - PEEKDATA and PEEKTEXT of a static read the child's copy (which the child changed
//!   after the fork, so it differs from the parent's); PEEKDATA works at an unaligned
//!   address across a page boundary; POKEDATA writes the child's copy of a static (one the
//!   child changed, one on a page the child never wrote, and one word straddling two
//!   pages); untouched anonymous memory reads as 0; a PROT_NONE page can be read and
//!   written (Linux's FOLL_FORCE);
//! - POKETEXT patches the immediate of `mov eax, imm32; ret` in the child's (read-only)
//!   code;
//! - PEEKDATA of unmapped (address 8, a munmapped page, a read that runs into it),
//!   non-canonical and kernel addresses, and POKEDATA of an unmapped one, give -EIO;
//! - PEEKUSER of every `user_regs_struct` word matches GETREGS (RAX = 0, tgkill's result;
//!   ORIG_RAX = tgkill; R12 as loaded; CS/SS the user selectors; FS base and the data
//!   selectors 0); PEEKUSER past the registers but inside `struct user` gives 0 (FPU word,
//!   debug registers, and `error_code` and `fault_address` at 912 and 920: the kernel's
//!   `struct user` is 928 bytes), an unaligned offset or one at or past 928 -EIO; POKEUSER
//!   of an unaligned or out-of-range offset, or of a word that is neither a register nor a
//!   debug register (FPU word, `error_code`, `fault_address`), -EIO;
//! - POKEUSER of CS or SS with a null or non-RPL-3 selector gives -EIO and changes
//!   nothing, of the right one 0; of an FS base past the user half -EIO; of `eflags` keeps
//!   only the flags a tracer may change (CF PF AF ZF SF TF DF OF NT RF AC), IF and bit 1
//!   stay;
//! - POKEUSER of RAX and R12, then PTRACE_CONT (signal 0: the SIGSTOP is discarded).
//!
//! The child, resumed, checks that its `syscall` returned the poked RAX, R12 holds the
//! poked value, every poked static holds what the parent wrote, and the patched function
//! returns the new constant; it exits 0 (a failed check prints FAIL, exit 1). Then the
//! parent checks that its own copies of the statics and its own code are unchanged, and
//! that ptrace of the reaped child gives -ESRCH.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::{asm, naked_asm};
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::errno::EIO;
use topframe_abi_tests::errno::ESRCH;
use topframe_abi_tests::mman::{self, PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE};
use topframe_abi_tests::process;
use topframe_abi_tests::ptrace::{
    self, PTRACE_CONT, PTRACE_PEEKDATA, PTRACE_PEEKTEXT, PTRACE_PEEKUSER, PTRACE_POKEDATA,
    PTRACE_POKETEXT, PTRACE_POKEUSER, PTRACE_TRACEME, UserRegs,
};
use topframe_abi_tests::registers::rflags;
use topframe_abi_tests::registers::rflags::AC;
use topframe_abi_tests::registers::rflags::RF;
use topframe_abi_tests::signal::{SIGSTOP, USER_CS, USER_DS};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, getpid, gettid, nr,
};

abi_test_main!(main);

/// `sizeof(struct user)` on x86_64, as the kernel declares it (`<asm/user_64.h>`): after the
/// debug registers come `error_code` and `fault_address` (glibc's copy stops before them,
/// at 912).
const USER_AREA_SIZE: u64 = 928;
/// `offsetof(struct user, error_code)` and `offsetof(struct user, fault_address)`.
const ERROR_CODE_OFFSET: u64 = 912;
const FAULT_ADDRESS_OFFSET: u64 = 920;
/// `offsetof(struct user, u_fpvalid)`: the first word after the registers.
const FPVALID_OFFSET: u64 = 216;
/// `offsetof(struct user, u_debugreg)`: DR0..DR7.
const DEBUGREG_OFFSET: u64 = 848;
/// `offsetof(struct user, u_debugreg[7])`.
const DR7_OFFSET: u64 = DEBUGREG_OFFSET + 7 * 8;

/// The RFLAGS bits a tracer may change (Linux's FLAG_MASK, that is FLAG_MASK_32).
const TRACER_FLAGS: u64 = rflags::CF
    | rflags::PF
    | rflags::AF
    | rflags::ZF
    | rflags::SF
    | rflags::TF
    | rflags::DF
    | rflags::OF
    | rflags::NT
    | RF
    | AC;

/// [`DATA`] in the parent (and in the child until it changes it).
const PARENT_VALUE: u64 = 0x7a7a_0000_1111_2222;
/// What the child stores in [`DATA`] after the fork.
const CHILD_VALUE: u64 = 0xc4c4_0000_3333_4444;
/// What the parent pokes into the child's [`DATA`].
const POKED_VALUE: u64 = 0x9090_5555_6666_7777;
/// [`UNTOUCHED`]'s first word; what the parent pokes there.
const UNTOUCHED_VALUE: u64 = 0x0123_4567_89ab_cdef;
const POKED_UNTOUCHED: u64 = 0xfedc_ba98_7654_3210;
/// What the child stores in the last word of [`STRADDLE`]'s first page and the first of
/// its second; what the parent pokes across them (4 bytes in each).
const CHILD_LOW_PAGE: u64 = 0x1111_2222_3333_4444;
const CHILD_HIGH_PAGE: u64 = 0x5555_6666_7777_8888;
const POKED_STRADDLE: u64 = 0xaaaa_bbbb_cccc_dddd;
/// What the PROT_NONE page gets.
const POKED_PROT_NONE: u64 = 0x0bad_cafe_f00d_0001;
/// R12 at the stop, and what the parent pokes there and into RAX.
const R12_BEFORE: u64 = 0x1212_1212_0000_0012;
const R12_POKED: u64 = 0x1212_1212_0000_0099;
const RAX_POKED: u64 = 0x4242_4242_0000_0042;
/// The constant [`constant`] returns, and the one the parent patches in.
const ORIGINAL_CONSTANT: u32 = 0x1357_9bdf;
const POKED_CONSTANT: u32 = 0x2468_ace0;
/// `mov eax, imm32` and `ret`.
const MOV_EAX_OPCODE: u8 = 0xb8;
const RET_OPCODE: u8 = 0xc3;

static DATA: AtomicU64 = AtomicU64::new(PARENT_VALUE);

/// Page-aligned words.
#[repr(C, align(4096))]
struct Pages<const WORDS: usize>([AtomicU64; WORDS]);

/// A page the child never writes.
static UNTOUCHED: Pages<512> = Pages([const { AtomicU64::new(UNTOUCHED_VALUE) }; 512]);
/// Two pages; the child writes the two words around the boundary.
static STRADDLE: Pages<1024> = Pages([const { AtomicU64::new(0) }; 1024]);
/// The index of the last word of [`STRADDLE`]'s first page.
const LAST_LOW: usize = 511;

/// Returns [`ORIGINAL_CONSTANT`] with one `mov eax, imm32` (unless patched).
#[unsafe(naked)]
extern "C" fn constant() -> u32 {
    naked_asm!(
        "mov eax, {value}", // the return value
        "ret",              // to the caller
        value = const ORIGINAL_CONSTANT,
    )
}

/// The address of `word`.
fn address(word: &AtomicU64) -> u64 {
    word.as_ptr() as u64
}

/// Stops this process with `tgkill(self, SIGSTOP)` with R12 = [`R12_BEFORE`]; returns
/// (RAX, R12) as they are after the `syscall`: the tracer may change both.
fn stop_with_r12() -> (u64, u64) {
    let result: u64;
    let r12: u64;
    // SAFETY: tgkill touches no memory of this process; the tracer may change memory
    // while this thread is stopped (the block is not `nomem`) and RAX and R12, which are
    // outputs. No stack use.
    unsafe {
        asm!(
            "syscall", // tgkill(pid, tid, SIGSTOP): the tracer's stop
            inlateout("rax") nr::TGKILL => result,
            in("rdi") getpid(),
            in("rsi") gettid(),
            in("rdx") u64::from(SIGSTOP),
            inout("r12") R12_BEFORE => r12,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (result, r12)
}

/// The traced child: changes its statics, stops, then checks what the tracer changed.
fn child() -> ! {
    check_eq!(
        ptrace::request(PTRACE_TRACEME, 0, 0, 0),
        0,
        "child: PTRACE_TRACEME"
    );
    DATA.store(CHILD_VALUE, Ordering::Relaxed);
    STRADDLE.0[LAST_LOW].store(CHILD_LOW_PAGE, Ordering::Relaxed);
    STRADDLE.0[LAST_LOW + 1].store(CHILD_HIGH_PAGE, Ordering::Relaxed);
    check_eq!(constant(), ORIGINAL_CONSTANT, "child: constant() before");

    let (result, r12) = stop_with_r12();

    check_eq!(result, RAX_POKED, "child: RAX after the stop");
    check_eq!(r12, R12_POKED, "child: R12 after the stop");
    check_eq!(DATA.load(Ordering::Relaxed), POKED_VALUE, "child: DATA");
    check_eq!(
        UNTOUCHED.0[0].load(Ordering::Relaxed),
        POKED_UNTOUCHED,
        "child: UNTOUCHED[0]"
    );
    check_eq!(
        UNTOUCHED.0[1].load(Ordering::Relaxed),
        UNTOUCHED_VALUE,
        "child: UNTOUCHED[1] (not poked)"
    );
    check_eq!(
        STRADDLE.0[LAST_LOW].load(Ordering::Relaxed),
        (CHILD_LOW_PAGE & 0xffff_ffff) | (POKED_STRADDLE << 32),
        "child: the last word of the first page after the straddling poke"
    );
    check_eq!(
        STRADDLE.0[LAST_LOW + 1].load(Ordering::Relaxed),
        (CHILD_HIGH_PAGE & !0xffff_ffff) | (POKED_STRADDLE >> 32),
        "child: the first word of the second page after the straddling poke"
    );
    check_eq!(
        constant(),
        POKED_CONSTANT,
        "child: constant() after POKETEXT"
    );
    exit_group(0)
}

/// PEEKUSER at `offset`.
fn peek_user(pid: i64, offset: usize) -> Result<u64, i64> {
    ptrace::peek(PTRACE_PEEKUSER, pid, offset as u64)
}

/// POKEUSER of `value` at `offset`.
fn poke_user(pid: i64, offset: usize, value: u64) -> i64 {
    ptrace::request(PTRACE_POKEUSER, pid, offset as u64, value)
}

/// The memory checks at the stop.
fn check_memory(pid: i64, prot_none: u64, hole: u64) {
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, address(&DATA)),
        Ok(CHILD_VALUE),
        "PEEKDATA of the child's DATA"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKTEXT, pid, address(&DATA)),
        Ok(CHILD_VALUE),
        "PEEKTEXT of the child's DATA"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, address(&UNTOUCHED.0[0])),
        Ok(UNTOUCHED_VALUE),
        "PEEKDATA of the child's UNTOUCHED[0]"
    );
    let straddle = address(&STRADDLE.0[LAST_LOW]) + 4;
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, straddle),
        Ok((CHILD_LOW_PAGE >> 32) | (CHILD_HIGH_PAGE << 32)),
        "PEEKDATA of 8 bytes across a page boundary at {straddle:#x}"
    );

    check_eq!(
        ptrace::request(PTRACE_POKEDATA, pid, address(&DATA), POKED_VALUE),
        0,
        "POKEDATA of DATA"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, address(&DATA)),
        Ok(POKED_VALUE),
        "PEEKDATA of DATA after POKEDATA"
    );
    check_eq!(
        ptrace::request(
            PTRACE_POKEDATA,
            pid,
            address(&UNTOUCHED.0[0]),
            POKED_UNTOUCHED
        ),
        0,
        "POKEDATA of UNTOUCHED[0]"
    );
    check_eq!(
        ptrace::request(PTRACE_POKEDATA, pid, straddle, POKED_STRADDLE),
        0,
        "POKEDATA across a page boundary"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, straddle),
        Ok(POKED_STRADDLE),
        "PEEKDATA across the page boundary after POKEDATA"
    );

    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, hole - 8),
        Ok(0),
        "PEEKDATA of untouched anonymous memory"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, prot_none),
        Ok(0),
        "PEEKDATA of a PROT_NONE page"
    );
    check_eq!(
        ptrace::request(PTRACE_POKEDATA, pid, prot_none, POKED_PROT_NONE),
        0,
        "POKEDATA of a PROT_NONE page"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, prot_none),
        Ok(POKED_PROT_NONE),
        "PEEKDATA of a PROT_NONE page after POKEDATA"
    );

    for unreadable in [
        8,
        hole,
        hole + PAGE_SIZE - 8,
        hole - 4, // 4 readable bytes, then the hole
        0x8000_0000_0000_0000,
        0xffff_8000_0000_0000,
        0xffff_ffff_8000_0000,
    ] {
        check_eq!(
            ptrace::peek(PTRACE_PEEKDATA, pid, unreadable),
            Err(-EIO),
            "PEEKDATA at {unreadable:#x}"
        );
    }
    check_eq!(
        ptrace::peek(PTRACE_PEEKTEXT, pid, 8),
        Err(-EIO),
        "PEEKTEXT at 8"
    );
    for unwritable in [8, hole, 0xffff_ffff_8000_0000] {
        check_eq!(
            ptrace::request(PTRACE_POKEDATA, pid, unwritable, 1),
            -EIO,
            "POKEDATA at {unwritable:#x}"
        );
    }
}

/// POKETEXT of [`constant`]'s immediate in the child.
fn patch_constant(pid: i64) {
    let function = constant as *const () as u64;
    let word = match ptrace::peek(PTRACE_PEEKTEXT, pid, function) {
        Ok(word) => word,
        Err(error) => fail!("PEEKTEXT of constant() at {function:#x}: {error}"),
    };
    let bytes = word.to_le_bytes();
    // SAFETY: the first 6 bytes of this process's (readable) code of `constant`.
    let own = unsafe { core::ptr::read_unaligned(function as *const [u8; 6]) };
    check_eq!(
        bytes[..6],
        own,
        "PEEKTEXT of constant() against this process's code"
    );
    check_eq!(
        bytes[0],
        MOV_EAX_OPCODE,
        "constant() starts with mov eax, imm32"
    );
    check_eq!(
        u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]),
        ORIGINAL_CONSTANT,
        "the immediate of constant()"
    );
    check_eq!(bytes[5], RET_OPCODE, "constant()'s ret");
    let mut patched = bytes;
    patched[1..5].copy_from_slice(&POKED_CONSTANT.to_le_bytes());
    let patched = u64::from_le_bytes(patched);
    check_eq!(
        ptrace::request(PTRACE_POKETEXT, pid, function, patched),
        0,
        "POKETEXT of constant()"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKTEXT, pid, function),
        Ok(patched),
        "PEEKTEXT of constant() after POKETEXT"
    );
}

/// The `struct user` checks at the stop; pokes RAX and R12.
fn check_user_area(pid: i64) {
    let registers = match ptrace::get_registers(pid) {
        Ok(registers) => registers,
        Err(error) => fail!("PTRACE_GETREGS: {error}"),
    };
    let words: [u64; 27] = user_words(&registers);
    for (index, word) in words.iter().enumerate() {
        check_eq!(
            peek_user(pid, index * 8),
            Ok(*word),
            "PEEKUSER at {} against GETREGS",
            index * 8
        );
    }
    check_eq!(registers.rax, 0, "RAX at the stop (tgkill's result)");
    check_eq!(registers.orig_rax, nr::TGKILL, "ORIG_RAX at the stop");
    check_eq!(registers.r12, R12_BEFORE, "R12 at the stop");
    check_eq!(registers.rdi, pid as u64, "RDI at the stop");
    check_eq!(registers.rdx, u64::from(SIGSTOP), "RDX at the stop");
    check_eq!(registers.cs, u64::from(USER_CS), "CS at the stop");
    check_eq!(registers.ss, u64::from(USER_DS), "SS at the stop");
    check_eq!(registers.fs_base, 0, "FS base at the stop");
    check_eq!(
        [registers.ds, registers.es, registers.fs, registers.gs],
        [0; 4],
        "DS, ES, FS, GS at the stop"
    );

    for offset in [
        FPVALID_OFFSET,
        DEBUGREG_OFFSET,
        DR7_OFFSET,
        ERROR_CODE_OFFSET,
        FAULT_ADDRESS_OFFSET,
    ] {
        check_eq!(
            peek_user(pid, offset as usize),
            Ok(0),
            "PEEKUSER at {offset} (past the registers)"
        );
    }
    for offset in [1, 4, 7, 0x89, USER_AREA_SIZE, 0x1000, !7] {
        check_eq!(
            ptrace::peek(PTRACE_PEEKUSER, pid, offset),
            Err(-EIO),
            "PEEKUSER at {offset:#x}"
        );
    }
    for offset in [
        1,
        0x89,
        USER_AREA_SIZE,
        !7,
        FPVALID_OFFSET,
        ERROR_CODE_OFFSET,
        FAULT_ADDRESS_OFFSET,
    ] {
        check_eq!(
            ptrace::request(PTRACE_POKEUSER, pid, offset, 0),
            -EIO,
            "POKEUSER at {offset:#x}"
        );
    }
    check_eq!(
        poke_user(pid, DR7_OFFSET as usize, 0),
        0,
        "POKEUSER of DR7 = 0"
    );

    let cs = offset_of!(UserRegs, cs);
    let ss = offset_of!(UserRegs, ss);
    for (offset, name, bad) in [(cs, "CS", [0, 0x30, 0x32]), (ss, "SS", [0, 0x28, 0x29])] {
        for value in bad {
            check_eq!(
                poke_user(pid, offset, value),
                -EIO,
                "POKEUSER of {name} = {value:#x}"
            );
        }
    }
    check_eq!(
        peek_user(pid, cs),
        Ok(u64::from(USER_CS)),
        "CS after the bad pokes"
    );
    check_eq!(
        peek_user(pid, ss),
        Ok(u64::from(USER_DS)),
        "SS after the bad pokes"
    );
    check_eq!(
        poke_user(pid, cs, u64::from(USER_CS)),
        0,
        "POKEUSER of CS = 0x33"
    );
    check_eq!(
        poke_user(pid, ss, u64::from(USER_DS)),
        0,
        "POKEUSER of SS = 0x2b"
    );
    check_eq!(
        poke_user(pid, offset_of!(UserRegs, fs_base), 1 << 47),
        -EIO,
        "POKEUSER of FS base = 1 << 47"
    );

    let eflags = offset_of!(UserRegs, eflags);
    let original = registers.eflags;
    for (value, expected) in [
        (u64::MAX, (original & !TRACER_FLAGS) | TRACER_FLAGS),
        (0, original & !TRACER_FLAGS),
        (original, original),
    ] {
        check_eq!(
            poke_user(pid, eflags, value),
            0,
            "POKEUSER of eflags = {value:#x}"
        );
        check_eq!(
            peek_user(pid, eflags),
            Ok(expected),
            "eflags after POKEUSER of {value:#x} (was {original:#x})"
        );
    }
    check!(
        original & (rflags::IF | rflags::RESERVED_1) == rflags::IF | rflags::RESERVED_1,
        "eflags {original:#x} without IF or bit 1"
    );

    let r12 = offset_of!(UserRegs, r12);
    let rax = offset_of!(UserRegs, rax);
    check_eq!(poke_user(pid, r12, R12_POKED), 0, "POKEUSER of R12");
    check_eq!(poke_user(pid, rax, RAX_POKED), 0, "POKEUSER of RAX");
    check_eq!(peek_user(pid, r12), Ok(R12_POKED), "R12 after POKEUSER");
    check_eq!(peek_user(pid, rax), Ok(RAX_POKED), "RAX after POKEUSER");
}

/// The 27 words of `registers`, in `user_regs_struct` order.
fn user_words(registers: &UserRegs) -> [u64; 27] {
    // SAFETY: `UserRegs` is `repr(C)`, 27 u64 fields without padding (checked in ptrace.rs).
    unsafe { core::mem::transmute::<UserRegs, [u64; 27]>(*registers) }
}

fn main(_stack: &InitialStack) {
    // The mappings, made before the fork so that the child has the same: a PROT_NONE page,
    // and a read-write page followed by an unmapped one (the hole).
    let prot_none = mman::map_anonymous(PAGE_SIZE, PROT_NONE);
    check!(prot_none > 0, "mmap(PROT_NONE) returned {prot_none}");
    let pair = mman::map_anonymous(2 * PAGE_SIZE, PROT_READ | PROT_WRITE);
    check!(pair > 0, "mmap(2 pages) returned {pair}");
    let hole = pair as u64 + PAGE_SIZE;
    // SAFETY: nothing uses the second page of the fresh mapping.
    let unmapped = unsafe { mman::unmap(hole, PAGE_SIZE) };
    check_eq!(unmapped, 0, "munmap of the second page");

    let pid = process::fork();
    if pid == 0 {
        child();
    }
    check!(pid > 0, "fork returned {pid}");
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "wait4 for the stop");
    check_eq!(
        ptrace::stopped_by(status),
        Some(SIGSTOP as u8),
        "the child's stop (wait status {status:#x})"
    );

    check_memory(pid, prot_none as u64, hole);
    patch_constant(pid);
    check_user_area(pid);

    check_eq!(ptrace::request(PTRACE_CONT, pid, 0, 0), 0, "PTRACE_CONT");
    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "wait4 for the child's end");
    check_eq!(
        process::exit_status(status),
        Some(0),
        "the child's end (wait status {status:#x})"
    );

    check_eq!(
        DATA.load(Ordering::Relaxed),
        PARENT_VALUE,
        "this process's DATA"
    );
    check_eq!(
        UNTOUCHED.0[0].load(Ordering::Relaxed),
        UNTOUCHED_VALUE,
        "this process's UNTOUCHED[0]"
    );
    check_eq!(
        [
            STRADDLE.0[LAST_LOW].load(Ordering::Relaxed),
            STRADDLE.0[LAST_LOW + 1].load(Ordering::Relaxed)
        ],
        [0, 0],
        "this process's STRADDLE"
    );
    check_eq!(
        constant(),
        ORIGINAL_CONSTANT,
        "this process's constant() after the child's was patched"
    );
    check_eq!(
        ptrace::peek(PTRACE_PEEKDATA, pid, address(&DATA)),
        Err(-ESRCH),
        "PEEKDATA of the reaped child"
    );
}
