//! IDT entry stubs for all 256 vectors, building a [`PtRegs`](crate::PtRegs) and calling the kernel.
//!
//! Each vector has a 16-byte stub at `stub_address(vector)`: `cld`, `push $-1` into the
//! `orig_rax` slot when the CPU pushed no error code (the error code lands there
//! otherwise), `push %rdi` into the `rdi` slot, the vector into EDI, and a jump to the
//! common code, which clears AC (CLAC: SMAP protects user memory even when the
//! interrupted code was copying from it; see [`crate::smap`]), stores the other fourteen
//! registers at their [`offsets`], calls the handler with `(&mut PtRegs, vector)` and
//! returns with IRETQ.
//!
//! GS: an entry from user mode (CPL 3 in the saved CS) executes SWAPGS on the way in,
//! and so does a fault on the IRETQ to user mode (ring 0, but the user's GS is live); a
//! return to user mode leaves through [`crate::__topframe_entry_iret_to_user`]. A handler
//! that gets a fault on that IRETQ must not return to the faulting frame unchanged: it
//! either rewrites the frame into a user-mode one or never returns (kills the task).
//!
//! The vectors on IST stacks (#DB, NMI, #DF, #MC) can arrive anywhere,
//! including between SYSCALL and its SWAPGS, so their "paranoid" entry decides from the
//! GS base MSR instead: the kernel's per-CPU GS bases are negative (kernel half), user
//! GS bases never are (the kernel refuses them and does not enable FSGSBASE), so a
//! non-negative base means user GS is loaded and needs a SWAPGS, undone on exit.
//!
//! The kernel supplies the handler with [`set_interrupt_handler!`](crate::set_interrupt_handler).

use crate::pt_regs::offsets;

/// Bytes between consecutive stubs.
pub const STUB_STRIDE: usize = 16;

/// Vectors for which the CPU pushes an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Vectors that take the paranoid entry (they run on IST stacks).
pub const fn is_paranoid(vector: u8) -> bool {
    matches!(vector, 1 | 2 | 8 | 18)
}

/// The debug exception (#DB): paranoid from kernel mode, an ordinary entry from user mode.
pub const DEBUG_VECTOR: u8 = 1;

/// True when an entry from user mode through `vector` runs its handler on the thread's
/// kernel stack, with the frame at its top like any entry from user mode (so the handler
/// may run the exit work, block and deliver signals): every vector but the IST ones;
/// of those, #DB moves its frame there from the IST stack (a single-step trap in user
/// mode is an ordinary user event), while NMI, #DF and #MC stay on their stacks.
pub const fn runs_on_thread_stack_from_user(vector: u8) -> bool {
    !is_paranoid(vector) || vector == DEBUG_VECTOR
}

/// Address of the entry stub for `vector`, for the IDT.
pub fn stub_address(vector: u8) -> u64 {
    unsafe extern "C" {
        static __topframe_entry_stubs: u8;
    }
    let base = &raw const __topframe_entry_stubs as u64;
    base + u64::from(vector) * STUB_STRIDE as u64
}

/// Install `handler` as the function every interrupt and exception stub calls:
/// `fn(&mut PtRegs, vector: u8)`, run with interrupts off on the stack the CPU chose.
#[macro_export]
macro_rules! set_interrupt_handler {
    ($handler:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn __topframe_entry_interrupt(regs: &mut $crate::PtRegs, vector: u64) {
            let handler: fn(&mut $crate::PtRegs, u8) = $handler;
            handler(regs, vector as u8)
        }
    };
}

unsafe extern "C" {
    /// Defined by [`set_interrupt_handler!`].
    fn __topframe_entry_interrupt(regs: &mut crate::PtRegs, vector: u64);
}

// The 256 stubs, STUB_STRIDE bytes apart (AT&T syntax: `$vector` is unambiguously an
// immediate inside `.rept`).
core::arch::global_asm!(
    ".pushsection .text.topframe_entry, \"ax\"",
    ".p2align 4",
    ".global __topframe_entry_stubs",
    "__topframe_entry_stubs:",
    ".set vector, 0",
    ".rept 256",
    // Each stub starts exactly STUB_STRIDE bytes after the previous one (the assembler
    // refuses to move backwards, so an overlong stub fails the build).
    ".org __topframe_entry_stubs + vector * {stride}, 0xcc",
    "cld",                                  // the kernel's string ops count upwards
    // No error code from the CPU: fill the orig_rax slot with -1 ourselves.
    ".if !((vector == 8) || (vector >= 10 && vector <= 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30))",
    "pushq $-1",                            // orig_rax = -1
    ".endif",
    "pushq %rdi",                           // the interrupted RDI, in its PtRegs slot
    "movl $vector, %edi",                   // the vector, for the common code
    ".if (vector == 1) || (vector == 2) || (vector == 8) || (vector == 18)",
    "jmp __topframe_entry_paranoid",        // IST vectors: decide SWAPGS from the MSR
    ".else",
    "jmp __topframe_entry_common",          // everything else: decide from the saved CS
    ".endif",
    ".set vector, vector + 1",
    ".endr",
    ".org __topframe_entry_stubs + 256 * {stride}, 0xcc", // the last stub fits too
    ".popsection",
    stride = const STUB_STRIDE,
    options(att_syntax),
);

// The common code: save, call the handler, restore, IRETQ.
core::arch::global_asm!(
    ".pushsection .text.topframe_entry, \"ax\"",

    // Common entry: RSP points at the rdi slot.
    "__topframe_entry_common:",
    "2: clac",                              // user memory off limits (SMAP), even if the
    ".pushsection topframe_smap_sites, \"a\"", // interrupted code was copying from user
    ".quad 2b",
    ".popsection",
    "sub rsp, {rdi}",                       // RSP = start of PtRegs
    "mov [rsp + {rsi}], rsi",               // save the 14 registers not yet saved
    "mov [rsp + {rdx}], rdx",
    "mov [rsp + {rcx}], rcx",
    "mov [rsp + {rax}], rax",
    "mov [rsp + {r8}], r8",
    "mov [rsp + {r9}], r9",
    "mov [rsp + {r10}], r10",
    "mov [rsp + {r11}], r11",
    "mov [rsp + {rbx}], rbx",
    "mov [rsp + {rbp}], rbp",
    "mov [rsp + {r12}], r12",
    "mov [rsp + {r13}], r13",
    "mov [rsp + {r14}], r14",
    "mov [rsp + {r15}], r15",
    "test byte ptr [rsp + {cs}], 3",        // from user mode (CPL 3)?
    "jnz .Lcommon_from_user",               // yes: user GS is live
    "lea rax, [rip + {iretq_to_user}]",     // a fault on the IRETQ to user mode also
    "cmp [rsp + {rip}], rax",               // arrives in ring 0 with user GS live
    "jne .Lcommon_gs_ready",                // neither: kernel GS is already loaded
    ".Lcommon_from_user:",
    "swapgs",                               // switch to the kernel's GS base
    ".Lcommon_gs_ready:",
    "mov esi, edi",                         // arg 1: vector
    "mov rdi, rsp",                         // arg 0: &mut PtRegs
    "sub rsp, {pad}",                       // 16-byte aligned call (PtRegs is 21 words)
    "call {handler}",
    "add rsp, {pad}",                       // RSP = &PtRegs again
    "test byte ptr [rsp + {cs}], 3",        // returning to user mode?
    "jnz {iret_to_user}",                   // yes: the one IRETQ to user mode
    "jmp .Lrestore_and_iret",               // no: back into the kernel

    // Paranoid entry (IST vectors): RSP points at the rdi slot.
    "__topframe_entry_paranoid:",
    "2: clac",                              // user memory off limits (SMAP)
    ".pushsection topframe_smap_sites, \"a\"",
    ".quad 2b",
    ".popsection",
    "sub rsp, {rdi}",                       // RSP = start of PtRegs
    "mov [rsp + {rsi}], rsi",               // save the 14 registers not yet saved
    "mov [rsp + {rdx}], rdx",
    "mov [rsp + {rcx}], rcx",
    "mov [rsp + {rax}], rax",
    "mov [rsp + {r8}], r8",
    "mov [rsp + {r9}], r9",
    "mov [rsp + {r10}], r10",
    "mov [rsp + {r11}], r11",
    "mov [rsp + {rbx}], rbx",
    "mov [rsp + {rbp}], rbp",
    "mov [rsp + {r12}], r12",
    "mov [rsp + {r13}], r13",
    "mov [rsp + {r14}], r14",
    "mov [rsp + {r15}], r15",
    "cmp edi, {debug_vector}",              // #DB ...
    "jne .Lparanoid_decide_gs",
    "test byte ptr [rsp + {cs}], 3",        // ... from user mode (CPL 3, user GS live):
    "jz .Lparanoid_decide_gs",              // an ordinary entry from user mode
    "swapgs",                               // kernel GS base
    "mov edx, edi",                         // keep the vector
    "mov rsi, rsp",                         // copy the frame from the IST stack
    "mov rdi, gs:[rip + {stack_top}]",      // to the top of the thread's kernel stack,
    "sub rdi, {frame_size}",                // where every user-mode frame lies
    "mov rsp, rdi",                         // and go on there
    "mov ecx, {frame_words}",               // PtRegs in quadwords
    "rep movsq",                            // [RDI] <- [RSI], RCX times (DF clear: cld)
    "mov edi, edx",                         // the vector again
    "jmp .Lcommon_gs_ready",                // the common path: handler, IRETQ to user
    ".Lparanoid_decide_gs:",
    "mov ecx, {msr_gs_base}",               // which GS base is live?
    "rdmsr",                                // EDX:EAX = IA32_GS_BASE
    "xor ebx, ebx",                         // EBX = 0: no SWAPGS to undo (callee-saved)
    "test edx, edx",                        // kernel bases are negative (bit 63 set)
    "js .Lparanoid_gs_ready",               // kernel GS already live
    "swapgs",                               // user GS was live: load the kernel's
    "mov ebx, 1",                           // and undo it on the way out
    ".Lparanoid_gs_ready:",
    "mov esi, edi",                         // arg 1: vector
    "mov rdi, rsp",                         // arg 0: &mut PtRegs
    "sub rsp, {pad}",                       // 16-byte aligned call (PtRegs is 21 words)
    "call {handler}",
    "add rsp, {pad}",                       // RSP = &PtRegs again
    "test ebx, ebx",                        // did the entry SWAPGS?
    "jz .Lrestore_and_iret",                // no
    "swapgs",                               // yes: restore the GS that was live
    // Fall through.

    // Restore the 15 general registers and return to the interrupted context.
    ".Lrestore_and_iret:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rax",
    "pop rcx",
    "pop rdx",
    "pop rsi",
    "pop rdi",
    "add rsp, {orig_rax_size}",             // drop orig_rax: RSP at RIP
    "iretq",                                // RIP, CS, RFLAGS, RSP, SS from the frame
    ".popsection",

    handler = sym __topframe_entry_interrupt,
    pad = const crate::syscall::CALL_ALIGNMENT_PAD,
    iret_to_user = sym crate::return_to_user::__topframe_entry_iret_to_user,
    iretq_to_user = sym crate::return_to_user::__topframe_entry_iret_to_user_iretq,
    msr_gs_base = const 0xc000_0101u32,
    debug_vector = const DEBUG_VECTOR as u32,
    stack_top = sym crate::KERNEL_STACK_TOP,
    frame_size = const offsets::SIZE,
    frame_words = const offsets::SIZE / 8,
    orig_rax_size = const offsets::RIP - offsets::ORIG_RAX,
    r15 = const offsets::R15,
    r14 = const offsets::R14,
    r13 = const offsets::R13,
    r12 = const offsets::R12,
    rbp = const offsets::RBP,
    rbx = const offsets::RBX,
    r11 = const offsets::R11,
    r10 = const offsets::R10,
    r9 = const offsets::R9,
    r8 = const offsets::R8,
    rax = const offsets::RAX,
    rcx = const offsets::RCX,
    rdx = const offsets::RDX,
    rsi = const offsets::RSI,
    rdi = const offsets::RDI,
    rip = const offsets::RIP,
    cs = const offsets::CS,
);
