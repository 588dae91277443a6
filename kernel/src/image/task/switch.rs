//! The context switch: everything that changes when a CPU moves from one task (or its
//! idle context) to another, and the first steps of a new task.

use super::{CURRENT_PROCESS, CURRENT_TASK, Mm, Task};
use core::sync::atomic::{AtomicU64, Ordering};
use topframe_entry::{EntryStrategy, PtRegs, Selected, UserEntryState};
use topframe_kernel::MAX_CPUS;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{FsBase, KernelGsBase};

topframe_percpu::per_cpu! {
    /// The memory whose page tables this CPU has loaded (null: the kernel's own).
    static LOADED_MM: *const Mm = core::ptr::null();
}

/// Each CPU's idle context's saved RSP while a task runs there.
static IDLE_RSP: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Switch this CPU from `previous` to `next` (None: the CPU's idle context, which is the
/// context it booted in). Returns when some CPU switches back to `previous`; the caller
/// then finishes that switch (the scheduler's `finish_switch`) before anything else.
///
/// In order: the outgoing task's x87/SSE/AVX registers are saved and the strategy's hook
/// swaps the per-CPU entry state (the lazy strategy's OLD_RSP); the incoming task's
/// kernel stack goes into TSS.RSP0 and the entry block, its page tables into CR3 when
/// they differ (the idle context and kernel threads use the kernel's), its FS and GS
/// bases and FPU registers are loaded; then the stacks switch.
///
/// # Safety
/// Interrupts are off. `previous` is the task running on this CPU (None in the idle
/// context); `next` is the task the scheduler picked for this CPU (it keeps a handle to
/// it while it runs), not running anywhere.
pub unsafe fn context_switch(previous: Option<&Task>, next: Option<&Task>) {
    let cpu = topframe_percpu::cpu_id();
    let mut idle_entry_state = UserEntryState::default();
    let outgoing = match previous {
        Some(task) if task.is_user() => {
            // SAFETY: `previous` runs here and is being switched out: its FPU area and
            // entry state are this CPU's to write.
            unsafe { task.fpu.save() };
            task.entry_state.get()
        }
        _ => &raw mut idle_entry_state,
    };
    let incoming = match next {
        Some(task) => task.entry_state.get().cast_const(),
        None => &raw const idle_entry_state,
    };
    // SAFETY: both point at live states that nothing else touches now (see above; the
    // incoming task is off every CPU).
    unsafe { Selected::switch_user_state(&mut *outgoing, &*incoming) };

    load_page_tables(next.and_then(|task| task.mm.as_deref()));
    match next {
        Some(task) => {
            // SAFETY: the task's stack and work flags live as long as the task, which the
            // scheduler keeps alive while it runs here.
            // The dispatch limit is 0 or the table's length.
            unsafe {
                topframe_entry::install_thread(
                    task.stack_top(),
                    &task.work,
                    crate::ptrace::dispatch_limit(task),
                )
            };
            crate::gdt::set_kernel_stack(task.stack_top());
            if task.is_user() {
                FsBase::write(VirtAddr::new(task.fs_base.load(Ordering::Relaxed)));
                // In the kernel the user's GS base waits in KERNEL_GS_BASE for SWAPGS.
                KernelGsBase::write(VirtAddr::new(task.gs_base.load(Ordering::Relaxed)));
                // SAFETY: the area holds the task's saved (or initial) registers.
                unsafe { task.fpu.restore() };
            }
            CURRENT_TASK.write(task);
            CURRENT_PROCESS.write(&*task.process);
        }
        None => {
            CURRENT_TASK.write(core::ptr::null());
            CURRENT_PROCESS.write(core::ptr::null());
        }
    }

    let save_to = match previous {
        Some(task) => task.saved_rsp.get(),
        None => IDLE_RSP[cpu].as_ptr(),
    };
    let resume_from = match next {
        // SAFETY: written when the task was switched out (or built for its first run),
        // before the scheduler let this CPU pick it.
        Some(task) => unsafe { *task.saved_rsp.get() },
        None => IDLE_RSP[cpu].load(Ordering::Relaxed),
    };
    // SAFETY: `resume_from` is a stack saved by switch_stacks (or built like one) that
    // nothing else runs on; `save_to` belongs to the context being left.
    unsafe { switch_stacks(save_to, resume_from) };
}

/// Load `mm`'s page tables (the kernel's for None) unless this CPU has them already.
fn load_page_tables(mm: Option<&Mm>) {
    let wanted = mm.map_or(core::ptr::null(), |mm| mm as *const Mm);
    let loaded = LOADED_MM.read();
    if loaded == wanted {
        return;
    }
    match mm {
        Some(mm) => mm.space.activate(),
        None => crate::memory::paging::activate_kernel_tables(),
    }
    // SAFETY: LOADED_MM is set only here to memory that its tasks keep alive while any
    // CPU has it loaded: a task leaves its memory only after `leave_memory` unloaded it.
    if let Some(previous) = unsafe { loaded.as_ref() } {
        previous.space.deactivate();
    }
    LOADED_MM.write(wanted);
}

/// The exiting task stops using its memory: this CPU loads the kernel's page tables, so
/// the memory may be freed whatever this task does next.
pub fn leave_memory(mm: &Mm) {
    if core::ptr::eq(LOADED_MM.read(), mm) {
        load_page_tables(None);
    }
}

/// Save the callee-saved registers and RSP (into `*save_to`), continue on the stack
/// `resume_from` (saved the same way) with its callee-saved registers, and return there.
#[unsafe(naked)]
unsafe extern "C" fn switch_stacks(save_to: *mut u64, resume_from: u64) {
    core::arch::naked_asm!(
        "push rbp", // the callee-saved registers of the context we leave
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi], rsp", // its stack pointer, for the switch back
        "mov rsp, rsi",   // the stack of the context we resume
        "pop r15",        // its callee-saved registers
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret", // into its switch_stacks call, or a start routine
    )
}

/// Words switch_stacks pops before its `ret`: r15, r14, r13, r12, rbx, rbp.
const SAVED_REGISTERS: usize = 6;

/// Build the stack of a task that has not run yet, so that switch_stacks "returns" into
/// `start` with RBX = `argument` and R12 = `function`, and RSP = `stack_pointer`. Returns
/// the saved RSP to give switch_stacks.
///
/// # Safety
/// `stack_pointer` is inside a mapped, unused kernel stack with room for the 7 words.
unsafe fn build_start_frame(stack_pointer: u64, start: u64, function: u64, argument: u64) -> u64 {
    let words = [0, 0, 0, function, argument, 0, start]; // r15 r14 r13 r12 rbx rbp ret
    let saved_rsp = stack_pointer - (SAVED_REGISTERS as u64 + 1) * 8;
    // SAFETY: the caller guarantees the room.
    unsafe {
        core::ptr::copy_nonoverlapping(words.as_ptr(), saved_rsp as *mut u64, words.len());
    }
    saved_rsp
}

impl Task {
    /// Prepare a user task's first run: it returns to user mode through `frame` (placed
    /// at the top of its kernel stack, where a syscall or interrupt frame would be).
    pub(super) fn prepare_user_start(&self, frame: PtRegs) {
        let frame_address = topframe_entry::frame_address_for(self.stack_top());
        // SAFETY: the task's fresh stack is mapped and unused; the frame sits at its top
        // and the start words just below it.
        unsafe {
            (frame_address as *mut PtRegs).write(frame);
            *self.saved_rsp.get() = build_start_frame(
                frame_address,
                first_return_to_user as *const () as u64,
                0,
                0,
            );
        }
    }

    /// Prepare a kernel thread's first run: `function(argument)` on its stack.
    pub(super) fn prepare_kernel_start(&self, function: fn(u64) -> !, argument: u64) {
        // SAFETY: the task's fresh stack is mapped and unused.
        unsafe {
            *self.saved_rsp.get() = build_start_frame(
                self.stack_top(),
                kernel_thread_start as *const () as u64,
                function as *const () as u64,
                argument,
            );
        }
    }
}

/// Where a new user task's first switch lands, with RSP at its user frame: finish the
/// switch, then return to user mode through the frame (IRETQ).
#[unsafe(naked)]
pub unsafe extern "C" fn first_return_to_user() -> ! {
    core::arch::naked_asm!(
        "mov rdi, rsp",             // &mut PtRegs: the frame above us
        "sub rsp, {pad}",           // 16-byte aligned call (PtRegs is 21 words)
        "call {first_run}",         // finish the switch, exit work; interrupts stay off
        "add rsp, {pad}",           // RSP = &PtRegs again
        "jmp {iret_to_user}",       // restore every register, SWAPGS, IRETQ
        pad = const topframe_entry::CALL_ALIGNMENT_PAD,
        first_run = sym super::clone::first_run_of_user_task,
        iret_to_user = sym topframe_entry::__topframe_entry_iret_to_user,
    )
}

/// Where a new kernel thread's first switch lands: finish the switch, then call
/// `function(argument)` (R12, RBX), which never returns.
#[unsafe(naked)]
pub unsafe extern "C" fn kernel_thread_start() -> ! {
    core::arch::naked_asm!(
        "xor ebp, ebp",             // the end of frame-pointer walks
        "and rsp, -16",             // 16-byte aligned calls
        "call {first_run}",         // finish the switch, interrupts back on
        "mov rdi, rbx",             // the argument
        "call r12",                 // the thread's function: never returns
        "ud2",
        first_run = sym crate::scheduler::first_run_of_kernel_task,
    )
}
