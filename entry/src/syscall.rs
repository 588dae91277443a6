//! The SYSCALL entry, generated from one source for both strategies and for both
//! privilege levels.
//!
//! [`syscall_entry!`](crate::syscall_entry) expands to a naked function holding the whole
//! path from LSTAR to SYSRETQ. Its assembly-time parameters are the strategy
//! ([`EntryStrategy::LAZY`]) and `privileged`: a kernel
//! instance executes SWAPGS, STI/CLI, SYSRETQ and IRETQ; the ring-3 twin (a host process
//! timing the same code) drops SWAPGS and STI/CLI and returns with `jmp rcx`. Everything
//! else is the same instructions.
//!
//! Fast path (no work flag, no TF/RF in the user's RFLAGS):
//! 1. SWAPGS; user RSP to per-CPU [`OLD_RSP`](crate::OLD_RSP); kernel stack from
//!    [`KERNEL_STACK_TOP`](crate::KERNEL_STACK_TOP).
//! 2. The top of the frame: CompleteFrame pushes SS, RSP, RFLAGS (R11) and CS;
//!    LazyTopOfStack skips the four slots. Then RIP (RCX), orig_rax and all 15 general
//!    registers, RAX's slot preset to -ENOSYS.
//! 3. Eight bytes of padding so calls into Rust see a 16-byte aligned stack; interrupts
//!    on; dispatch on the low 32 bits of RAX as an unsigned index (a negative `int` is
//!    out of range) below the per-CPU [`DISPATCH_LIMIT`](crate::DISPATCH_LIMIT);
//!    arguments RDI RSI RDX R10 R8 R9, R10 moved to RCX for the C ABI; the result stored
//!    in RAX's slot.
//! 4. Interrupts off; test the thread's work flags and the TF/RF bits of the saved R11
//!    (SYSRET with TF set would trap before the next user instruction).
//! 5. Pop all 15 registers (RCX and R11 come back as the user's RIP and RFLAGS: SYSCALL
//!    put them there and nothing has changed them, or a work flag would be set); RSP from
//!    `PtRegs.rsp` (complete) or [`OLD_RSP`](crate::OLD_RSP) (lazy); SWAPGS; SYSRETQ.
//!
//! Slow path (any work flag or TF/RF): `slow_exit`: the strategy completes the frame
//! (unless [`WorkFlags::FRAME_MODIFIED`](crate::WorkFlags::FRAME_MODIFIED) says it was
//! rewritten whole, by sigreturn say), the kernel's [`SyscallKernel::exit_work`] runs,
//! the strategy restores; then the checked exit: SYSRET only when RCX == RIP, R11 ==
//! RFLAGS, no TF/RF, CS and SS are the user selectors and RIP is canonical (Intel's
//! SYSRET raises #GP in ring 0 otherwise), else IRETQ through [`crate::interrupts`]' one
//! return-to-user sequence.
//!
//! Slow dispatch (a number at or above [`DISPATCH_LIMIT`](crate::DISPATCH_LIMIT)): when
//! the limit is not 0 the number is unassigned and the exit returns -ENOSYS (two
//! instructions more than a dispatch); a limit of 0 marks a thread with syscall-entry work
//! (tracing), and `slow_entry` completes the frame, runs [`SyscallKernel::entry_work`] and
//! dispatches from the frame. Either way the fast path's one compare is all it costs.

use crate::entry_block::current_work;
use crate::pt_regs::PtRegs;
use crate::strategy::EntryStrategy;
use crate::work::WorkFlags;

/// A system-call handler: the six argument registers in Linux's order; returns the value
/// for RAX (a negative errno on failure).
pub type SyscallHandler = extern "C" fn(u64, u64, u64, u64, u64, u64) -> i64;

/// What a kernel supplies to the syscall path.
pub trait SyscallKernel {
    /// Do the work the thread's flags ask for before it returns to user mode (reschedule,
    /// deliver signals, trace stops, ...). Runs with the frame complete; may enable
    /// interrupts and block, but returns with interrupts disabled and the thread's flags
    /// clear of anything but the persistent [`WorkFlags::SYSCALL_TRACE`](crate::WorkFlags::SYSCALL_TRACE)
    /// and [`WorkFlags::FRAME_MODIFIED`](crate::WorkFlags::FRAME_MODIFIED), which the
    /// slow exit consumes.
    fn exit_work(regs: &mut PtRegs);

    /// The syscall-entry work of a thread whose [`DISPATCH_LIMIT`](crate::DISPATCH_LIMIT)
    /// is 0 (Linux's tracesys: a tracer's syscall-entry stop), before the syscall in
    /// `regs.orig_rax` is dispatched. Runs with interrupts on and the frame complete; may
    /// block and rewrite the frame (the dispatch reads the number and the arguments from
    /// it afterwards). Returns false to skip the syscall: RAX then keeps the frame's value
    /// (-ENOSYS unless changed).
    fn entry_work(regs: &mut PtRegs) -> bool {
        let _ = regs;
        true
    }
}

/// Bytes below the frame while Rust code is called: `PtRegs` is 21 words under a
/// 16-byte aligned stack top, so without this the callee would see a stack misaligned
/// by 8, which Rust's code generation may rely on not happening.
pub const CALL_ALIGNMENT_PAD: usize = 8;
const _: () = assert!((crate::offsets::SIZE + CALL_ALIGNMENT_PAD).is_multiple_of(16));

/// `-ENOSYS`, what an unassigned number returns.
pub const ENOSYS_RETURN: i64 = -38;

/// RFLAGS.TF | RFLAGS.RF: either sends the return through IRETQ.
pub const RFLAGS_TF_RF: u32 = (1 << 8) | (1 << 16);

/// Number of entries of a syscall table (for the entry's range check).
pub const fn table_len<const N: usize>(_table: &[SyscallHandler; N]) -> usize {
    N
}

/// The slow part of a syscall exit, shared by both strategies: complete the frame (unless
/// it was rewritten as a whole already: [`WorkFlags::FRAME_MODIFIED`]), do the kernel's
/// exit work, write back what the strategy keeps outside the frame.
pub extern "C" fn slow_exit<S: EntryStrategy, K: SyscallKernel>(regs: &mut PtRegs) {
    let work = current_work();
    if !work
        .take(WorkFlags::FRAME_MODIFIED)
        .contains(WorkFlags::FRAME_MODIFIED)
    {
        S::fixup_top_of_stack(regs);
    }
    K::exit_work(regs);
    work.take(WorkFlags::FRAME_MODIFIED);
    S::restore_top_of_stack(regs);
}

/// The slow dispatch of a thread with syscall-entry work (its
/// [`DISPATCH_LIMIT`](crate::DISPATCH_LIMIT) is 0): complete the frame, run the kernel's
/// entry work, then dispatch what the frame asks for (a tracer may have changed it).
/// The frame stays the authority until the exit ([`WorkFlags::FRAME_MODIFIED`]).
///
/// # Safety
/// `table` and `len` are a syscall table and its length (what [`syscall_entry!`]
/// passes).
///
/// [`syscall_entry!`]: crate::syscall_entry
pub unsafe extern "C" fn slow_entry<S: EntryStrategy, K: SyscallKernel>(
    regs: &mut PtRegs,
    table: *const SyscallHandler,
    len: usize,
) {
    S::fixup_top_of_stack(regs);
    current_work().set(WorkFlags::FRAME_MODIFIED);
    let dispatch = K::entry_work(regs);
    // Handlers of the lazy strategy may read the user RSP from the per-CPU slot.
    S::restore_top_of_stack(regs);
    // SAFETY: the caller passes a table and its length.
    let table = unsafe { core::slice::from_raw_parts(table, len) };
    let handler = usize::try_from(regs.orig_rax)
        .ok()
        .and_then(|number| table.get(number));
    if dispatch && let Some(handler) = handler {
        let result = handler(regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9);
        regs.rax = result as u64;
    }
}

/// Define the SYSCALL entry point (the function whose address goes into IA32_LSTAR).
///
/// ```ignore
/// topframe_entry::syscall_entry! {
///     /// The LSTAR target.
///     pub unsafe fn entry_syscall_64;
///     strategy: topframe_entry::Selected,
///     kernel: MyKernel,                 // impl SyscallKernel
///     table: SYSCALL_TABLE,             // static [SyscallHandler; N]
///     privileged: true,
/// }
/// ```
/// `privileged: false` builds the ring-3 twin: no SWAPGS, STI, CLI; `jmp rcx` for
/// SYSRETQ; the table reached RIP-relative (a PIE host binary cannot use the kernel's
/// 32-bit absolute addressing). Every other instruction is the kernel's.
#[macro_export]
macro_rules! syscall_entry {
    (
        $(#[$attr:meta])*
        $vis:vis unsafe fn $name:ident;
        strategy: $strategy:ty,
        kernel: $kernel:ty,
        table: $table:path,
        privileged: $privileged:literal $(,)?
    ) => {
        $(#[$attr])*
        #[unsafe(naked)]
        $vis unsafe extern "C" fn $name() -> ! {
            core::arch::naked_asm!(
                // Entry: no usable stack, GS is the user's.
                ".if {privileged}",
                "swapgs",                                   // kernel GS base
                ".endif",
                "mov gs:[rip + {old_rsp}], rsp",            // user RSP aside
                "mov rsp, gs:[rip + {stack_top}]",          // the thread's kernel stack
                ".if {lazy}",
                "sub rsp, {top_slots}",                     // SS, RSP, RFLAGS, CS: unwritten
                ".else",
                "push {user_ds}",                           // SS
                "push qword ptr gs:[rip + {old_rsp}]",      // RSP
                "push r11",                                 // RFLAGS (SYSCALL saved it in R11)
                "push {user_cs}",                           // CS
                ".endif",
                "push rcx",                                 // RIP (SYSCALL saved it in RCX)
                "push rax",                                 // orig_rax: the number, all 64 bits
                "push rdi",                                 // the 15 general registers,
                "push rsi",                                 // in PtRegs order from the top
                "push rdx",
                "push rcx",
                "push {enosys}",                            // RAX: -ENOSYS until a handler runs
                "push r8",
                "push r9",
                "push r10",
                "push r11",
                "push rbx",
                "push rbp",
                "push r12",
                "push r13",
                "push r14",
                "push r15",                                 // RSP = &PtRegs
                "sub rsp, {pad}",                           // 16-byte aligned calls (PtRegs is 21 words)
                ".if {privileged}",
                "sti",                                      // handlers run with interrupts on
                ".endif",
                "cmp eax, gs:[rip + {dispatch_limit}]",     // low 32 bits, unsigned (a negative int is
                "jae 6f",                                   // out of range too) -> slow dispatch
                "mov eax, eax",                             // zero-extend the index
                "mov rcx, r10",                             // 4th argument: Linux's R10, C's RCX
                ".if {privileged}",
                "call [8 * rax + {table}]",                 // handler(rdi, rsi, rdx, rcx, r8, r9)
                ".else",
                "lea r11, [rip + {table}]",                 // (PIE host: table RIP-relative)
                "call [r11 + 8 * rax]",
                ".endif",
                "mov [rsp + {pad} + {rax}], rax",           // the result, in RAX's slot
                "2:",
                ".if {privileged}",
                "cli",                                      // no interrupt between check and SYSRET
                ".endif",
                "mov r11, gs:[rip + {work_flags}]",         // the thread's work flags
                "test dword ptr [r11], {work_mask}",        // any work?
                "jnz 3f",                                   // -> slow path
                "test dword ptr [rsp + {pad} + {r11}], {tf_rf}", // the user set TF or RF?
                "jnz 3f",                                   // -> slow path (IRETQ)
                // Fast exit: the frame is as SYSCALL left it.
                "add rsp, {pad}",                           // RSP = &PtRegs again
                // The SYSRET exit, also the checked exit's once its checks pass.
                "5:",
                "pop r15",
                "pop r14",
                "pop r13",
                "pop r12",
                "pop rbp",
                "pop rbx",
                "pop r11",                                  // = the user's RFLAGS
                "pop r10",
                "pop r9",
                "pop r8",
                "pop rax",                                  // the result
                "pop rcx",                                  // = the user's RIP
                "pop rdx",
                "pop rsi",
                "pop rdi",                                  // RSP -> orig_rax
                ".if {lazy}",
                "mov rsp, gs:[rip + {old_rsp}]",            // user RSP from the per-CPU slot
                ".else",
                "mov rsp, [rsp + {rsp_above_orig_rax}]",    // user RSP from the frame
                ".endif",
                ".if {privileged}",
                "swapgs",                                   // user GS base
                "sysretq",                                  // RIP = RCX, RFLAGS = R11, CPL 3
                ".else",
                "jmp rcx",                                  // twin: back to the caller
                ".endif",

                // Slow path: exit work with a complete frame, then the checked exit.
                "3:",
                "lea rdi, [rsp + {pad}]",                   // &mut PtRegs
                "call {slow_exit}",                         // fixup, exit work, restore
                "add rsp, {pad}",                           // RSP = &PtRegs again
                "mov rcx, [rsp + {rip}]",                   // SYSRET only if it restores the frame:
                "cmp rcx, [rsp + {rcx}]",                   //   RCX == RIP
                "jne 4f",
                "shl rcx, 16",                              //   RIP canonical (sign-extend bit 47
                "sar rcx, 16",                              //   and compare: Intel's SYSRET #GPs
                "cmp rcx, [rsp + {rip}]",                   //   in ring 0 on a non-canonical RCX)
                "jne 4f",
                "mov r11, [rsp + {r11}]",                   //   R11 == RFLAGS
                "cmp r11, [rsp + {eflags}]",
                "jne 4f",
                "test r11d, {tf_rf}",                       //   no TF, no RF
                "jnz 4f",
                "cmp qword ptr [rsp + {cs}], {user_cs}",    //   the user code selector
                "jne 4f",
                "cmp qword ptr [rsp + {ss}], {user_ds}",    //   the user stack selector
                "jne 4f",
                // SYSRET is safe and exact: take the fast exit's tail. Its RSP source is
                // right here too: the strategy's restore_top_of_stack made OLD_RSP equal the
                // frame's RSP (lazy), and complete reads the frame itself.
                "jmp 5b",
                "4:",                                       // anything else: IRETQ
                ".if {privileged}",
                "jmp {iret_to_user}",
                ".else",
                "ud2",                                      // the twin never leaves this way
                ".endif",

                // Slow dispatch: a number at or above the per-CPU limit.
                "6:",
                "cmp dword ptr gs:[rip + {dispatch_limit}], 0", // limit 0: syscall-entry work
                "jne 2b",                                   // else an unassigned number: -ENOSYS
                "lea rdi, [rsp + {pad}]",                   // &mut PtRegs
                "lea rsi, [rip + {table}]",                 // the table
                "mov edx, {count}",                         // and its length
                "call {slow_entry}",                        // entry work, then the dispatch
                "jmp 2b",                                   // the exit (its checks see FRAME_MODIFIED)

                privileged = const $privileged as u8,
                pad = const $crate::syscall::CALL_ALIGNMENT_PAD,
                lazy = const <$strategy as $crate::EntryStrategy>::LAZY as u8,
                old_rsp = sym $crate::OLD_RSP,
                stack_top = sym $crate::KERNEL_STACK_TOP,
                work_flags = sym $crate::WORK_FLAGS,
                work_mask = const $crate::EXIT_WORK_MASK,
                tf_rf = const $crate::syscall::RFLAGS_TF_RF,
                top_slots = const $crate::offsets::SIZE - $crate::offsets::RIP - 8,
                user_cs = const $crate::USER_CS,
                user_ds = const $crate::USER_DS,
                enosys = const $crate::syscall::ENOSYS_RETURN,
                count = const $crate::syscall::table_len(&$table),
                table = sym $table,
                slow_exit = sym $crate::syscall::slow_exit::<$strategy, $kernel>,
                slow_entry = sym $crate::syscall::slow_entry::<$strategy, $kernel>,
                dispatch_limit = sym $crate::DISPATCH_LIMIT,
                iret_to_user = sym $crate::__topframe_entry_iret_to_user,
                rsp_above_orig_rax = const $crate::offsets::RSP - $crate::offsets::ORIG_RAX,
                rax = const $crate::offsets::RAX,
                rcx = const $crate::offsets::RCX,
                r11 = const $crate::offsets::R11,
                rip = const $crate::offsets::RIP,
                cs = const $crate::offsets::CS,
                eflags = const $crate::offsets::EFLAGS,
                ss = const $crate::offsets::SS,
            )
        }
    };
}
