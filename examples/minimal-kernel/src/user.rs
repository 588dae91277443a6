//! User mode: the user region (one 2 MiB page at [`USER_BASE`], the only memory with the
//! U bit, see [`crate::boot`]), the program, and a new task's first register frame.
//!
//! The program is machine code assembled into this crate and copied to [`USER_BASE`];
//! it speaks this kernel's two system calls ([`crate::syscall`]). Run as task `n`
//! (RDI = n), it checks that an unassigned number returns -ENOSYS and a bad buffer
//! -EFAULT, writes `hello from CPU <n>` in one `write`, and exits with status 0 (1 if a
//! check failed).

use crate::syscall::{SYS_EXIT, SYS_WRITE};
use core::cell::UnsafeCell;
use topframe_entry::{PtRegs, USER_CS, USER_DS};
use x86_64::registers::rflags::RFlags;

/// Where user mode sees the user region.
pub const USER_BASE: u64 = 1 << 30;
/// Its size: one 2 MiB page.
pub const USER_SIZE: u64 = 2 << 20;
/// Each task's user stack, carved from the top of the region down.
const USER_STACK_SIZE: u64 = 16 << 10;

/// The user region's memory: a 2 MiB-aligned static in .bss, which boot.rs maps at
/// [`USER_BASE`] with the U bit.
#[repr(C, align(0x200000))]
pub struct UserRegion(UnsafeCell<[u8; USER_SIZE as usize]>);

// SAFETY: the kernel writes it once, in `load_program`, before any task runs; afterwards
// only user mode and `console::write_user_bytes` (volatile reads) touch it.
unsafe impl Sync for UserRegion {}

pub static USER_REGION: UserRegion = UserRegion(UnsafeCell::new([0; USER_SIZE as usize]));

core::arch::global_asm!(
    ".pushsection .rodata.user_program, \"a\", @progbits",
    ".global user_program_start",
    ".global user_program_end",
    "user_program_start:",
    "mov %rdi, %rbx",                           // RBX = this task's number (syscalls keep it)
    "mov $1000, %eax",                          // a number the table does not have ...
    "syscall",                                  // ... called
    "cmp $-38, %rax",                           // -ENOSYS?
    "jne 3f",                                   // no: fail
    "mov ${write}, %eax",                       // write(1, NULL, 1): ...
    "mov $1, %edi",                             // ... fd 1 ...
    "xor %esi, %esi",                           // ... a buffer outside user memory ...
    "mov $1, %edx",                             // ... of 1 byte ...
    "syscall",                                  // ... called
    "cmp $-14, %rax",                           // -EFAULT?
    "jne 3f",                                   // no: fail
    "sub $32, %rsp",                            // room for the line, on the stack
    "mov %rsp, %rdi",                           // where the line goes
    "lea 5f(%rip), %rsi",                       // "hello from CPU "
    "mov $(6f - 5f), %ecx",                     // its length
    "rep movsb",                                // copy it; RDI moves past it
    "mov %ebx, %eax",                           // AX = the number, below 100
    "mov $10, %cl",                             // the divisor
    "div %cl",                                  // AL = tens, AH = ones
    "test %al, %al",                            // a tens digit?
    "jz 1f",                                    // no: only the ones
    "add $0x30, %al",                           // the tens as an ASCII digit
    "stosb",                                    // appended
    "1:",
    "mov %ah, %al",                             // the ones ...
    "add $0x30, %al",                           // ... as an ASCII digit ...
    "stosb",                                    // ... appended
    "movb $0x0a, (%rdi)",                       // and a newline
    "lea 1(%rdi), %rdx",                        // the line's end ...
    "sub %rsp, %rdx",                           // ... minus its start: its length
    "mov %rsp, %rsi",                           // the line
    "mov $1, %edi",                             // fd 1: the console
    "mov ${write}, %eax",                       // write(1, line, length) ...
    "syscall",                                  // ... called
    "cmp %rdx, %rax",                           // all written? (RDX survives the call)
    "jne 3f",                                   // no: fail
    "xor %edi, %edi",                           // status 0
    "jmp 4f",                                   // to the exit
    "3:",
    "mov $1, %edi",                             // status 1: a check failed
    "4:",
    "mov ${exit}, %eax",                        // exit(status) ...
    "syscall",                                  // ... which does not return
    "ud2",                                      // (not reached)
    "5:",
    ".ascii \"hello from CPU \"",
    "6:",
    "user_program_end:",
    ".popsection",
    write = const SYS_WRITE,
    exit = const SYS_EXIT,
    options(att_syntax),
);

unsafe extern "C" {
    static user_program_start: u8;
    static user_program_end: u8;
}

/// Copy the program to the start of the user region.
pub fn load_program() {
    let start = &raw const user_program_start;
    let length = (&raw const user_program_end).addr() - start.addr();
    assert!(
        (length as u64) < USER_SIZE - crate::smp::MAX_CPUS as u64 * USER_STACK_SIZE,
        "the program overlaps the user stacks"
    );
    // SAFETY: the program's bytes are in .rodata; no task runs yet, so nothing else uses
    // the region.
    unsafe {
        core::ptr::copy_nonoverlapping(start, USER_REGION.0.get().cast::<u8>(), length);
    }
}

/// True when `address..address + length` lies in the user region.
pub fn contains(address: u64, length: u64) -> bool {
    address >= USER_BASE && length <= USER_SIZE && address - USER_BASE <= USER_SIZE - length
}

/// Task `number`'s first user-mode registers: the program's start, its own stack,
/// interrupts on, RDI = `number`.
pub fn initial_frame(number: usize) -> PtRegs {
    PtRegs {
        rip: USER_BASE,
        cs: USER_CS,
        eflags: RFlags::INTERRUPT_FLAG.bits(),
        rsp: USER_BASE + USER_SIZE - number as u64 * USER_STACK_SIZE,
        ss: USER_DS,
        rdi: number as u64,
        orig_rax: u64::MAX, // not a system call
        ..PtRegs::default()
    }
}
