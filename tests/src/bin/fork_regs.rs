//! The register contract of a fork-like `clone` (flags = SIGCHLD only, child stack 0), in
//! both processes: one assembly block loads every general register (RDI = SIGCHLD, RSI = 0,
//! the ignored arguments RDX, R10, R8 and all the others with distinct values), RFLAGS
//! (every arithmetic flag, DF and NT set) and XMM0-XMM15 with known values, executes
//! `syscall`, and right after stores every register into statics: each process stores into
//! its own copy. The child must see RAX = 0, RCX = the address after `syscall`, R11 = the
//! RFLAGS of the `syscall`, every other register (RSP included: it runs on its copy of the
//! stack) and XMM register as loaded, RFLAGS as loaded; the parent the same with RAX = the
//! child's PID. Memory is a private copy: the child sees a static as the parent set it
//! before the fork, changes it, and the parent's copy stays. The child ends with
//! exit_group(0) (a failed check prints FAIL and ends it with status 1), which `wait4(pid,
//! &status, 0, NULL)` must report. Then, with no child left, `wait4(-1, WNOHANG)` gives
//! -ECHILD, and `clone` with CLONE_THREAD but not CLONE_SIGHAND, or CLONE_SIGHAND but not
//! CLONE_VM, gives -EINVAL.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};

use topframe_abi_tests::errno::{ECHILD, EINVAL};
use topframe_abi_tests::process::{self, SIGCHLD, WNOHANG};
use topframe_abi_tests::registers::{Capture, Pattern, Registers, rflags};
use topframe_abi_tests::thread::{CLONE_SIGHAND, CLONE_THREAD, CLONE_VM};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, exit_group, fail, getpid, getppid, nr,
};

abi_test_main!(main);

/// What the parent stores in [`SHARED_BEFORE_FORK`] before the fork.
const PARENT_VALUE: u64 = 0x7a7a_0000_1111_2222;
/// What the child stores there.
const CHILD_VALUE: u64 = 0xc4c4_0000_3333_4444;

/// Set by the parent before the fork; the child's copy changes, the parent's must not.
static SHARED_BEFORE_FORK: AtomicU64 = AtomicU64::new(0);

// The assembly's data: only `fork_with_all_registers` touches them, in its asm block and
// right after it, in one thread.
/// The general registers and RFLAGS to load (RSP: filled in by the assembly; RFLAGS:
/// replaced by what the CPU accepted).
static mut LOADED: Registers = Registers::ZERO;
/// The general registers and RFLAGS right after the `syscall`.
static mut AFTER: Registers = Registers::ZERO;
/// XMM0-XMM15 to load, and right after the `syscall`.
static mut XMM_LOADED: [[u8; 16]; 16] = [[0; 16]; 16];
static mut XMM_AFTER: [[u8; 16]; 16] = [[0; 16]; 16];
/// The instruction after the `syscall`.
static mut RETURN_ADDRESS: u64 = 0;
/// RBX and RBP of the Rust code around the assembly (LLVM reserves them, so they cannot be
/// declared clobbered), restored after the `syscall`.
static mut SAVED_RBX: u64 = 0;
static mut SAVED_RBP: u64 = 0;

/// The registers around the fork, as one process saw them.
struct Fork {
    capture: Capture,
    xmm_loaded: [[u8; 16]; 16],
    xmm_after: [[u8; 16]; 16],
}

/// Loads `registers` (RSP kept) and `xmm`, executes `syscall` (which must be the fork),
/// and returns, in each process, what it saw.
fn fork_with_all_registers(registers: Registers, xmm: [[u8; 16]; 16]) -> Fork {
    // SAFETY: one thread, no signal handlers: nothing else touches the statics. The
    // syscall is clone(SIGCHLD, 0, ...): a child with a private copy of memory, which
    // continues after the `syscall` on its copy of this stack with the registers of this
    // thread (but RAX), exactly as the parent does. The assembly restores RBX and RBP
    // (saved in statics), leaves RSP as it was, clears DF, and declares every other
    // general register and XMM0-XMM15 clobbered; it pushes onto the stack only after the
    // `syscall` (no `nostack`).
    unsafe {
        LOADED = registers;
        XMM_LOADED = xmm;
        asm!(
            // Save the registers the Rust code around needs back and cannot declare.
            "mov [rip + {saved_rbx}], rbx",
            "mov [rip + {saved_rbp}], rbp",
            // The RSP at the `syscall`: the current one.
            "mov [rip + {loaded} + {rsp}], rsp",
            // RAX = the address of the instruction after the `syscall` (label 2)...
            "lea rax, [rip + 2f]",
            // ...which the `syscall` puts into RCX.
            "mov [rip + {return_address}], rax",
            // RFLAGS = the pattern: push it from memory...
            "push qword ptr [rip + {loaded} + {rflags}]",
            // ...and pop it into RFLAGS (user mode: IF, IOPL and the like stay).
            "popfq",
            // Read back what the CPU accepted: push RFLAGS...
            "pushfq",
            // ...and pop it into LOADED. From here to the `syscall` no instruction changes
            // a flag (mov, movdqu and pop do not).
            "pop qword ptr [rip + {loaded} + {rflags}]",
            // Load XMM0-XMM15.
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "movdqu xmm\\n, xmmword ptr [rip + {xmm_loaded} + 16 * \\n]", // XMMn = XMM_LOADED[n]
            ".endr",
            // Load the 15 general registers but RSP.
            "mov rax, [rip + {loaded} + {rax}]", // clone
            "mov rbx, [rip + {loaded} + {rbx}]",
            "mov rcx, [rip + {loaded} + {rcx}]",
            "mov rdx, [rip + {loaded} + {rdx}]", // parent_tid: ignored without PARENT_SETTID
            "mov rsi, [rip + {loaded} + {rsi}]", // child stack: 0, the same (copied) stack
            "mov rdi, [rip + {loaded} + {rdi}]", // flags: SIGCHLD
            "mov rbp, [rip + {loaded} + {rbp}]",
            "mov r8, [rip + {loaded} + {r8}]",   // tls: ignored without SETTLS
            "mov r9, [rip + {loaded} + {r9}]",
            "mov r10, [rip + {loaded} + {r10}]", // child_tid: ignored without CHILD_*TID
            "mov r11, [rip + {loaded} + {r11}]",
            "mov r12, [rip + {loaded} + {r12}]",
            "mov r13, [rip + {loaded} + {r13}]",
            "mov r14, [rip + {loaded} + {r14}]",
            "mov r15, [rip + {loaded} + {r15}]",
            // Fork. Both processes go on from label 2, each in its own memory.
            "syscall",
            "2:",
            // Store all 16 general registers as the kernel returned them.
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
            // RFLAGS as the kernel returned it (no flag changed since): push it...
            "pushfq",
            // ...and pop it into AFTER.
            "pop qword ptr [rip + {after} + {rflags}]",
            // Store XMM0-XMM15.
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "movdqu xmmword ptr [rip + {xmm_after} + 16 * \\n], xmm\\n", // XMM_AFTER[n] = XMMn
            ".endr",
            // DF = 0, as the Rust ABI requires (the pattern set it).
            "cld",
            // Restore the registers saved at the start.
            "mov rbx, [rip + {saved_rbx}]",
            "mov rbp, [rip + {saved_rbp}]",
            loaded = sym LOADED,
            after = sym AFTER,
            xmm_loaded = sym XMM_LOADED,
            xmm_after = sym XMM_AFTER,
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
        Fork {
            capture: Capture {
                loaded: LOADED,
                after: AFTER,
                return_address: RETURN_ADDRESS,
            },
            xmm_loaded: XMM_LOADED,
            xmm_after: XMM_AFTER,
        }
    }
}

/// Checks the registers `fork` saw against the syscall contract with RAX = `result`.
fn check_registers(who: &str, fork: &Fork, result: u64) {
    if let Some(mismatches) = fork.capture.syscall_contract_mismatches(result) {
        fail!("{who}: registers after the fork: {mismatches}");
    }
    for (register, (after, loaded)) in fork.xmm_after.iter().zip(&fork.xmm_loaded).enumerate() {
        check_eq!(
            u128::from_le_bytes(*after),
            u128::from_le_bytes(*loaded),
            "{who}: XMM{register} after the fork"
        );
    }
}

/// The child's side: checks, then exit_group(0).
fn child(fork: &Fork, parent: i64) -> ! {
    check_registers("child", fork, 0);
    check_eq!(getppid(), parent, "child: getppid");
    check!(
        getpid() != parent,
        "child: getpid {} is the parent's",
        getpid()
    );
    check_eq!(
        SHARED_BEFORE_FORK.load(Ordering::Relaxed),
        PARENT_VALUE,
        "child: the parent's value of a static set before the fork"
    );
    SHARED_BEFORE_FORK.store(CHILD_VALUE, Ordering::Relaxed);
    check_eq!(
        SHARED_BEFORE_FORK.load(Ordering::Relaxed),
        CHILD_VALUE,
        "child: the static after changing it"
    );
    exit_group(0)
}

/// `clone(flags, 0, ...)`, expected to fail. Should it create a child anyway, the child
/// exits at once with SYS_exit(0), before it touches memory (it may share this thread's
/// stack).
fn clone_expecting_failure(flags: u64) -> i64 {
    let result: i64;
    // SAFETY: if the clone fails, nothing happened. If it succeeds, the child runs only
    // register instructions and SYS_exit; the parent continues with RAX = its ID.
    unsafe {
        asm!(
            "syscall",            // clone(flags, 0, NULL, NULL, 0)
            "test rax, rax",      // 0: this is a (wrongly created) child
            "jnz 2f",             // the caller (result or -errno): leave the block
            "mov eax, {exit}",    // the child: RAX = exit
            "xor edi, edi",       // status 0
            "syscall",            // exit(0): ends the child
            "ud2",                // unreachable
            "2:",
            exit = const nr::EXIT,
            inlateout("rax") nr::CLONE => result,
            inlateout("rdi") flags => _,
            in("rsi") 0_u64,
            in("rdx") 0_u64,
            in("r10") 0_u64,
            in("r8") 0_u64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

fn main(_stack: &InitialStack) {
    let parent = getpid();
    SHARED_BEFORE_FORK.store(PARENT_VALUE, Ordering::Relaxed);
    let registers = Registers {
        rax: nr::CLONE,
        rdi: SIGCHLD,
        rsi: 0,
        ..Registers::with_pattern(Pattern::Distinct, rflags::LOUD)
    };
    let xmm = core::array::from_fn(|register| {
        core::array::from_fn(|byte| ((register * 16 + byte) as u8).wrapping_mul(37) ^ 0xa5)
    });
    let fork = fork_with_all_registers(registers, xmm);
    let pid = fork.capture.after.rax as i64;
    if pid == 0 {
        child(&fork, parent);
    }
    check!(pid > 0, "clone(SIGCHLD) returned {pid}");
    check_registers("parent", &fork, pid as u64);
    check_eq!(
        fork.capture.loaded.rflags & (rflags::DF | rflags::NT),
        rflags::DF | rflags::NT,
        "DF and NT in the loaded RFLAGS"
    );

    let (result, status) = process::wait4(pid, 0);
    check_eq!(result, pid, "wait4(child)");
    check_eq!(
        process::exit_status(status),
        Some(0),
        "the child's exit status (wait status {status:#x})"
    );
    check_eq!(
        SHARED_BEFORE_FORK.load(Ordering::Relaxed),
        PARENT_VALUE,
        "the parent's copy of the static after the child changed its own"
    );

    check_eq!(
        process::wait4(-1, WNOHANG).0,
        -ECHILD,
        "wait4(-1, WNOHANG) with no children"
    );
    check_eq!(
        process::wait4(-1, 0).0,
        -ECHILD,
        "wait4(-1, 0) with no children"
    );
    check_eq!(
        clone_expecting_failure(CLONE_VM | CLONE_THREAD),
        -EINVAL,
        "clone(CLONE_VM | CLONE_THREAD) without CLONE_SIGHAND"
    );
    check_eq!(
        clone_expecting_failure(CLONE_SIGHAND | SIGCHLD),
        -EINVAL,
        "clone(CLONE_SIGHAND | SIGCHLD) without CLONE_VM"
    );
    check_eq!(
        process::wait4(-1, WNOHANG).0,
        -ECHILD,
        "wait4(-1, WNOHANG) after the failed clones"
    );
}
