//! Threads without libc: [`spawn`] a `fn(u64)` on an mmap'ed [`Stack`] with a raw
//! `clone`, and [`Thread::join`] it through the kernel's `CLONE_CHILD_CLEARTID` futex.
//!
//! A thread shares everything with its creator (memory, files, signal handlers, thread
//! group): flags [`THREAD_FLAGS`]. It has no TLS (FS base 0, like every thread here): no
//! `CLONE_SETTLS`. The kernel stores the new thread's ID in the stack's tid word before
//! `clone` returns (`CLONE_PARENT_SETTID`) and, when the thread exits, writes 0 there and
//! does a (shared) FUTEX_WAKE on it (`CLONE_CHILD_CLEARTID`): once the word is 0 the
//! thread runs no more user code, and its stack may be reused or unmapped. A join that
//! waits a minute, or is not woken although the word was cleared, fails the program.
//!
//! The thread runs `entry(argument)` on its stack, then ends with [`exit`] (SYS_exit: this
//! thread only; the process lives on while it has threads). A panic or a failed check in
//! it ends the whole process (`exit_group`), as everywhere. Shared state lives in statics
//! (atomics): there is no heap.

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::errno::{EAGAIN, EINTR, ETIMEDOUT};
use crate::mman::{self, PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE};
use crate::runtime::fail_in_library;
use crate::syscall::syscall1;
use crate::time::{NANOSECONDS_PER_SECOND, Timespec};
use crate::{futex, nr};

/// Share the address space.
pub const CLONE_VM: u64 = 0x100;
/// Share the filesystem information (root, cwd, umask).
pub const CLONE_FS: u64 = 0x200;
/// Share the file descriptor table.
pub const CLONE_FILES: u64 = 0x400;
/// Share the signal handlers (needs CLONE_VM).
pub const CLONE_SIGHAND: u64 = 0x800;
/// Same thread group: same PID (needs CLONE_SIGHAND).
pub const CLONE_THREAD: u64 = 0x1_0000;
/// Share System V semaphore undo values.
pub const CLONE_SYSVSEM: u64 = 0x4_0000;
/// Store the new thread's ID at `parent_tid` (arg 3) before `clone` returns.
pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
/// At the new thread's exit, write 0 at `child_tid` (arg 4) and FUTEX_WAKE it.
pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;

/// The `clone` flags of [`spawn`]: a thread as glibc's `pthread_create` makes one, less
/// `CLONE_SETTLS`. The low byte (exit signal) is 0: a thread signals no one when it ends.
pub const THREAD_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID;

/// What the tid word holds before `clone`: no thread ID is this large (Linux's limit is
/// 2^22), so still finding it after `clone` means CLONE_PARENT_SETTID did not store.
const TID_UNSET: u32 = u32::MAX;

/// The bytes at the top of a stack mapping kept for the tid word (a cache line, so that
/// the thread's stack never shares one with it).
const CONTROL_SIZE: u64 = 64;

/// A thread stack: an anonymous mapping, with an inaccessible guard page at its bottom
/// (an overflow faults instead of writing over other memory) and the thread's tid word
/// at its top. Unmapped when dropped.
pub struct Stack {
    /// The mapping's start: the guard page.
    base: u64,
    /// The mapping's length, guard page included.
    length: u64,
}

impl Stack {
    /// The usable size of [`Stack::new`]: plenty for formatting and failing.
    pub const DEFAULT_SIZE: u64 = 64 * 1024;

    /// A stack of [`Stack::DEFAULT_SIZE`].
    pub fn new() -> Self {
        Self::with_size(Self::DEFAULT_SIZE)
    }

    /// A stack of at least `size` usable bytes (rounded up to whole pages); fails the
    /// program if it cannot be mapped.
    pub fn with_size(size: u64) -> Self {
        let length = size.next_multiple_of(PAGE_SIZE) + PAGE_SIZE;
        let base = mman::map_anonymous(length, PROT_READ | PROT_WRITE);
        if base <= 0 {
            fail_in_library(format_args!("mmap of a {length}-byte thread stack: {base}"));
        }
        let base = base as u64;
        // SAFETY: the lowest page of the fresh mapping, which nothing uses.
        let result = unsafe { mman::protect(base, PAGE_SIZE, PROT_NONE) };
        if result != 0 {
            fail_in_library(format_args!("mprotect of a stack guard page: {result}"));
        }
        Self { base, length }
    }

    /// The word the kernel stores the thread ID in and clears at the thread's exit.
    fn tid_word(&self) -> &AtomicU32 {
        // SAFETY: the first word of the control block at the mapping's top: mapped,
        // writable and 4-byte aligned while `self` lives, and only ever accessed
        // atomically (by this process's threads and the kernel).
        unsafe { AtomicU32::from_ptr((self.base + self.length - CONTROL_SIZE) as *mut u32) }
    }

    /// The initial stack pointer's upper bound: 16-byte aligned, below the control block.
    fn top(&self) -> u64 {
        self.base + self.length - CONTROL_SIZE
    }
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping is this stack's own; no thread runs on it (a `Thread` owns
        // its stack until the thread has exited).
        let result = unsafe { mman::unmap(self.base, self.length) };
        if result != 0 {
            fail_in_library(format_args!("munmap of a thread stack: {result}"));
        }
    }
}

/// A running (or exited but not yet joined) thread; owns its stack. Dropping it joins it.
pub struct Thread {
    /// The thread's stack; `None` only once joined.
    stack: Option<Stack>,
    /// The thread ID `clone` returned.
    tid: i64,
}

impl Thread {
    /// The thread's ID, as `clone` returned it (its `gettid`).
    pub fn tid(&self) -> i64 {
        self.tid
    }

    /// Whether the thread has exited (the kernel cleared its tid word).
    pub fn has_exited(&self) -> bool {
        self.stack
            .as_ref()
            .is_none_or(|stack| stack.tid_word().load(Ordering::Acquire) == 0)
    }

    /// Waits until the thread has exited; gives its stack back for another thread.
    pub fn join(mut self) -> Stack {
        let stack = self.stack.take().expect("a thread is joined once");
        wait_for_exit(&stack);
        stack
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        if let Some(stack) = self.stack.take() {
            wait_for_exit(&stack);
        }
    }
}

/// How long one FUTEX_WAIT of a join sleeps before it looks again.
const JOIN_WAIT: Timespec = Timespec::from_nanos(10 * NANOSECONDS_PER_SECOND);
/// How many [`JOIN_WAIT`]s a join waits before it reports a thread that does not end.
const JOIN_WAITS: u32 = 6;

/// Waits (shared FUTEX_WAIT: the kernel's wake at thread exit is a shared one) until the
/// thread on `stack` has exited, i.e. its tid word is 0. Fails the program if a wait times
/// out and finds the word cleared (the kernel cleared it but did not wake the waiter, or
/// did so only just then), or if the thread runs on for a minute.
fn wait_for_exit(stack: &Stack) {
    let word = stack.tid_word();
    let mut timeouts = 0;
    loop {
        let tid = word.load(Ordering::Acquire);
        if tid == 0 {
            return;
        }
        match futex::wait_shared(word, tid, Some(&JOIN_WAIT)) {
            0 => {}
            result if result == -EAGAIN || result == -EINTR => {}
            result if result == -ETIMEDOUT => {
                if word.load(Ordering::Acquire) == 0 {
                    fail_in_library(format_args!(
                        "thread {tid}: its tid word was cleared (CLONE_CHILD_CLEARTID) but the \
                         FUTEX_WAIT on it was not woken for {JOIN_WAIT:?}"
                    ));
                }
                timeouts += 1;
                if timeouts == JOIN_WAITS {
                    fail_in_library(format_args!(
                        "thread {tid} still runs (its tid word is not cleared) after {JOIN_WAITS} \
                         x {JOIN_WAIT:?}"
                    ));
                }
            }
            result => fail_in_library(format_args!(
                "FUTEX_WAIT on thread {tid}'s tid word returned {result}"
            )),
        }
    }
}

/// Starts a thread that runs `entry(argument)` on `stack`, then exits (SYS_exit, status 0).
/// Fails the program if `clone` fails or does not store the thread ID
/// (CLONE_PARENT_SETTID).
pub fn spawn(stack: Stack, entry: fn(u64), argument: u64) -> Thread {
    let word = stack.tid_word();
    word.store(TID_UNSET, Ordering::Relaxed);
    // The child's first stack pointer: `entry` and `argument` there, which it pops.
    let child_stack = stack.top() - 16;
    // SAFETY: the two words below the control block: mapped and writable, 8-byte aligned,
    // and no thread runs on the stack yet (the caller gave it up; a previous thread on it
    // has exited, as `join` made sure).
    unsafe {
        (child_stack as *mut u64).write(entry as usize as u64);
        ((child_stack + 8) as *mut u64).write(argument);
    }
    let result: i64;
    // SAFETY: clone with THREAD_FLAGS starts a thread that shares this address space. It
    // starts right after the `syscall`, with the registers of this thread except RAX = 0
    // and RSP = `child_stack`: it pops `entry` and `argument` and calls `thread_start`,
    // which never returns, so it never runs the code after this block nor touches this
    // thread's stack. The parent leaves the block with RAX = the thread ID (or -errno) and
    // every register but RAX, RCX and R11 preserved (the syscall contract). The kernel
    // writes the tid word (PARENT_SETTID; CHILD_CLEARTID at exit), an atomic.
    unsafe {
        asm!(
            "syscall",        // clone(flags, child_stack, &tid word, &tid word, tls 0)
            "test rax, rax",  // RAX = 0 in the new thread, its ID (or -errno) in the caller
            "jnz 2f",         // the caller: leave the block
            // The new thread, on its stack (RSP = child_stack, 16-byte aligned).
            "xor ebp, ebp",   // no caller frame: frame-pointer walks end here
            "pop rdi",        // argument 1 of thread_start: entry (was at child_stack)
            "pop rsi",        // argument 2: argument (was at child_stack + 8)
            "and rsp, -16",   // RSP = stack top, 16-byte aligned before the call (already)
            "call {start}",   // thread_start(entry, argument): never returns
            "ud2",            // unreachable: trap if it ever is reached
            "2:",
            start = sym thread_start,
            inlateout("rax") nr::CLONE => result,
            in("rdi") THREAD_FLAGS,
            in("rsi") child_stack,
            in("rdx") word.as_ptr(),
            in("r10") word.as_ptr(),
            in("r8") 0_u64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if result <= 0 {
        fail_in_library(format_args!("clone of a thread returned {result}"));
    }
    // The thread may have exited already (0), but not before the kernel stored its ID.
    let stored = word.load(Ordering::Acquire);
    if stored != result as u32 && stored != 0 {
        fail_in_library(format_args!(
            "clone returned thread ID {result}, CLONE_PARENT_SETTID stored {stored:#x}"
        ));
    }
    Thread {
        stack: Some(stack),
        tid: result,
    }
}

/// A new thread's first Rust code (called by [`spawn`]'s assembly on the thread's stack):
/// runs `entry(argument)`, then ends the thread.
/// `entry` is a `fn(u64)` as a plain address (a Rust-ABI function pointer is not an
/// `extern "C"` type).
extern "C" fn thread_start(entry: *const (), argument: u64) -> ! {
    // SAFETY: `spawn` stored a `fn(u64)` at the address the assembly popped into `entry`;
    // function pointers and data pointers have the same size and representation here.
    let entry = unsafe { core::mem::transmute::<*const (), fn(u64)>(entry) };
    entry(argument);
    exit(0)
}

/// Ends the calling thread (SYS_exit) with `status`; the other threads run on. (The
/// process ends when its last thread does, with the status of that thread's exit.)
pub fn exit(status: u8) -> ! {
    // SAFETY: exit ends this thread; nothing of it runs after the call, and the kernel
    // clears its tid word only once it runs no more user code.
    unsafe { syscall1(nr::EXIT, u64::from(status)) };
    unreachable!("exit returned")
}
