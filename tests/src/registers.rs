//! Every general-purpose register and RFLAGS around one trap into the kernel (`syscall`
//! or `int $0x80`): [`capture`] loads all 16 registers (RSP too, if asked) and RFLAGS with
//! chosen values, executes the instruction, and stores all of them right after; the
//! `*_contract_mismatches` methods compare the result with the ABI.
//!
//! The assembly addresses its data RIP-relative in statics, so no register (not even RSP)
//! is needed to reach memory between the loads and the stores. Not reentrant: one process,
//! one thread, no signal handlers.

use core::arch::asm;
use core::fmt;
use core::mem::offset_of;

/// RFLAGS bits that user mode can set with `popfq`.
pub mod rflags {
    /// Carry flag.
    pub const CF: u64 = 1 << 0;
    /// Bit 1 always reads as 1.
    pub const RESERVED_1: u64 = 1 << 1;
    /// Parity flag.
    pub const PF: u64 = 1 << 2;
    /// Auxiliary carry flag.
    pub const AF: u64 = 1 << 4;
    /// Zero flag.
    pub const ZF: u64 = 1 << 6;
    /// Sign flag.
    pub const SF: u64 = 1 << 7;
    /// Trap flag (single step).
    pub const TF: u64 = 1 << 8;
    /// Interrupt enable: always set in user mode, and `popfq` cannot change it there.
    pub const IF: u64 = 1 << 9;
    /// Direction flag.
    pub const DF: u64 = 1 << 10;
    /// Overflow flag.
    pub const OF: u64 = 1 << 11;
    /// Nested task: settable from user mode; IRET with it set would fault in the kernel,
    /// so the kernel must mask it on entry and give it back on return.
    pub const NT: u64 = 1 << 14;
    /// Resume: suppresses a debug fault at the next instruction; the CPU sets it in the
    /// frame of a fault, `pushfq` never shows it.
    pub const RF: u64 = 1 << 16;
    /// Alignment check: settable from user mode (it faults only misaligned accesses).
    pub const AC: u64 = 1 << 18;

    /// What user code normally runs with: nothing but IF (and the always-one bit).
    pub const QUIET: u64 = IF | RESERVED_1;
    /// Every arithmetic status flag, DF and NT set.
    pub const LOUD: u64 = QUIET | CF | PF | AF | ZF | SF | OF | DF | NT;
}

/// The 16 general-purpose registers and RFLAGS.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rflags: u64,
}

/// The register names, in [`Registers`] order.
const NAMES: [&str; 17] = [
    "RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP", "R8", "R9", "R10", "R11", "R12", "R13",
    "R14", "R15", "RFLAGS",
];

impl Registers {
    /// Every register and RFLAGS 0 (a placeholder: RFLAGS bit 1 always reads as 1).
    // SAFETY: all-zero bits are a valid `Registers` (17 integers).
    pub const ZERO: Self = unsafe { core::mem::zeroed() };

    /// Every register (RSP and RFLAGS included) set to `value(index)`, index in field
    /// order (RAX = 0 ... R15 = 15, RFLAGS = 16).
    fn filled(value: fn(usize) -> u64) -> Self {
        Self {
            rax: value(0),
            rbx: value(1),
            rcx: value(2),
            rdx: value(3),
            rsi: value(4),
            rdi: value(5),
            rbp: value(6),
            rsp: value(7),
            r8: value(8),
            r9: value(9),
            r10: value(10),
            r11: value(11),
            r12: value(12),
            r13: value(13),
            r14: value(14),
            r15: value(15),
            rflags: value(16),
        }
    }

    /// The registers loaded with `pattern`, RFLAGS with `rflags` (RSP's value matters only
    /// with [`StackPointer::Set`], which replaces it).
    pub fn with_pattern(pattern: Pattern, rflags: u64) -> Self {
        let mut registers = Self::filled(match pattern {
            Pattern::Zero => |_| 0,
            Pattern::AllOnes => |_| u64::MAX,
            Pattern::Fives => |_| 0x5555_5555_5555_5555,
            Pattern::Tens => |_| 0xaaaa_aaaa_aaaa_aaaa,
            // A different value in every register and in every nibble of it.
            Pattern::Distinct => |index| 0x0123_4567_89ab_cdef_u64.rotate_left(4 * index as u32),
        });
        registers.rflags = rflags;
        registers
    }

    fn values(&self) -> [u64; 17] {
        [
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.rsp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rflags,
        ]
    }
}

/// Bit patterns to load into every register.
#[derive(Clone, Copy, Debug)]
pub enum Pattern {
    Zero,
    AllOnes,
    /// 0x5555...
    Fives,
    /// 0xaaaa...
    Tens,
    /// Different in every register.
    Distinct,
}

impl Pattern {
    pub const ALL: [Self; 5] = [
        Self::Zero,
        Self::AllOnes,
        Self::Fives,
        Self::Tens,
        Self::Distinct,
    ];
}

/// The instruction that enters the kernel.
#[derive(Clone, Copy, Debug)]
pub enum Trap {
    /// `syscall`: 64-bit system call.
    Syscall,
    /// `int $0x80`: the i386 system call gate, used from 64-bit code.
    Int80,
}

/// RSP during the trap.
#[derive(Clone, Copy, Debug)]
pub enum StackPointer {
    /// The program's own stack pointer.
    Unchanged,
    /// This value, whatever it points at (restored from memory afterwards).
    Set(u64),
}

/// The registers as loaded and as found right after the trap.
#[derive(Clone, Copy, Debug)]
pub struct Capture {
    /// As loaded; `rsp` is the RSP actually used and `rflags` what the CPU accepted from
    /// `popfq` (read back with `pushfq`).
    pub loaded: Registers,
    /// Right after the trap instruction. `rflags` comes from a `pushfq` after the stores:
    /// `mov` changes no flag, so it is RFLAGS as the kernel returned it.
    pub after: Registers,
    /// The address of the instruction after the trap (where `syscall` puts RCX).
    pub return_address: u64,
}

/// Registers that differ from what the ABI says.
#[derive(Debug)]
pub struct Mismatches {
    /// For each register in [`Registers`] order: `Some((got, expected))` if it differs.
    differences: [Option<(u64, u64)>; 17],
}

impl fmt::Display for Mismatches {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        let mut separator = "";
        for (name, difference) in NAMES.iter().zip(self.differences) {
            if let Some((got, expected)) = difference {
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

impl Capture {
    /// The `syscall` contract: RAX = `result`, RCX = the return address, R11 = RFLAGS at
    /// the `syscall`, RFLAGS unchanged, every other register (RSP included) unchanged.
    pub fn syscall_contract_mismatches(&self, result: u64) -> Option<Mismatches> {
        let expected = Registers {
            rax: result,
            rcx: self.return_address,
            r11: self.loaded.rflags,
            ..self.loaded
        };
        compare(&self.after, &expected)
    }

    /// The `int $0x80` contract: RAX = `result`, every other register and RFLAGS
    /// unchanged.
    pub fn int80_contract_mismatches(&self, result: u64) -> Option<Mismatches> {
        let expected = Registers {
            rax: result,
            ..self.loaded
        };
        compare(&self.after, &expected)
    }
}

fn compare(got: &Registers, expected: &Registers) -> Option<Mismatches> {
    let mut differences = [None; 17];
    for ((difference, got), expected) in differences
        .iter_mut()
        .zip(got.values())
        .zip(expected.values())
    {
        if got != expected {
            *difference = Some((got, expected));
        }
    }
    if differences.iter().all(Option::is_none) {
        None
    } else {
        Some(Mismatches { differences })
    }
}

// The assembly's data. Only `capture` touches them, between its asm block and the reads
// right after it.
/// The values to load (RSP filled in by the assembly with `StackPointer::Unchanged`,
/// RFLAGS replaced by what the CPU accepted).
static mut LOADED: Registers = Registers::ZERO;
/// The values right after the trap.
static mut AFTER: Registers = Registers::ZERO;
/// The instruction after the trap.
static mut RETURN_ADDRESS: u64 = 0;
/// RBX, RBP and RSP of the Rust code around the assembly (LLVM reserves RBX and RBP, so
/// they cannot be declared clobbered), restored after the trap.
static mut SAVED_RBX: u64 = 0;
static mut SAVED_RBP: u64 = 0;
static mut SAVED_RSP: u64 = 0;

/// The assembly of [`capture`] around the trap instruction `$trap`; `$keep_stack_pointer`
/// (nonzero: keep RSP as it is) is an input in RDI.
macro_rules! trap_with_all_registers {
    ($trap:literal, $keep_stack_pointer:expr) => {
        asm!(
            // Save the registers the Rust code around needs back and cannot declare.
            "mov [rip + {saved_rbx}], rbx",
            "mov [rip + {saved_rbp}], rbp",
            "mov [rip + {saved_rsp}], rsp",
            // RAX = address of the instruction after the trap (label 2)...
            "lea rax, [rip + 2f]",
            // ...which syscall will put into RCX.
            "mov [rip + {return_address}], rax",
            // Keep RSP (RDI != 0)? Then the RSP to load is the current one.
            "test rdi, rdi",
            // RDI == 0: RSP's value is already in LOADED.
            "jz 3f",
            // Store the current RSP as the value to load.
            "mov [rip + {loaded} + {rsp}], rsp",
            "3:",
            // RFLAGS = the pattern: push it from memory...
            "push qword ptr [rip + {loaded} + {rflags}]",
            // ...and pop it into RFLAGS (user mode: IF, IOPL and the like stay).
            "popfq",
            // Read back what the CPU accepted: push RFLAGS...
            "pushfq",
            // ...and pop it into LOADED. From here to the trap no instruction changes a
            // flag (mov and pop do not).
            "pop qword ptr [rip + {loaded} + {rflags}]",
            // Load all 16 registers, RSP last: from here no instruction uses the stack.
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
            "mov rsp, [rip + {loaded} + {rsp}]",
            // Enter the kernel.
            $trap,
            // The return address recorded above.
            "2:",
            // Store all 16 registers as the kernel returned them.
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
            // Back to the program's stack.
            "mov rsp, [rip + {saved_rsp}]",
            // RFLAGS as the kernel returned it (no flag changed since): push it...
            "pushfq",
            // ...and pop it into AFTER.
            "pop qword ptr [rip + {after} + {rflags}]",
            // DF = 0, as the Rust ABI requires (the pattern may have set it).
            "cld",
            // Restore the registers saved at the start.
            "mov rbx, [rip + {saved_rbx}]",
            "mov rbp, [rip + {saved_rbp}]",
            loaded = sym LOADED,
            after = sym AFTER,
            return_address = sym RETURN_ADDRESS,
            saved_rbx = sym SAVED_RBX,
            saved_rbp = sym SAVED_RBP,
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
            inout("rdi") $keep_stack_pointer => _,
            out("rax") _,
            out("rcx") _,
            out("rdx") _,
            out("rsi") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
        )
    };
}

/// Loads `registers` (RSP per `stack_pointer`, RFLAGS through `popfq`), executes `trap`,
/// and returns every register as it was right after it.
///
/// # Safety
/// The trap, with these register values as its number and arguments, only touches memory
/// the caller may touch and leaves the process sound (e.g. getpid, an invalid number).
pub unsafe fn capture(trap: Trap, registers: Registers, stack_pointer: StackPointer) -> Capture {
    let (keep_stack_pointer, loaded_stack_pointer) = match stack_pointer {
        StackPointer::Unchanged => (1_u64, 0),
        StackPointer::Set(value) => (0, value),
    };
    // SAFETY: one thread, no signal handlers: nothing else touches the statics. The trap
    // is the caller's promise. The assembly restores RBX, RBP and RSP, clears DF, and
    // declares every other register clobbered.
    unsafe {
        LOADED = Registers {
            rsp: loaded_stack_pointer,
            ..registers
        };
        match trap {
            Trap::Syscall => trap_with_all_registers!("syscall", keep_stack_pointer),
            Trap::Int80 => trap_with_all_registers!("int 0x80", keep_stack_pointer),
        }
        Capture {
            loaded: LOADED,
            after: AFTER,
            return_address: RETURN_ADDRESS,
        }
    }
}
