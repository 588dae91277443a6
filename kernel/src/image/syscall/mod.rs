//! System calls: the SYSCALL entry (from `topframe-entry`, with the strategy the kernel
//! is built with), the table, and the exit work every slow path runs.

mod console;
pub mod errno;
mod i386;
mod memory;
mod process;
mod scheduling;
mod signal;
mod system;
mod table;
mod time;

use crate::{scheduler, task};
use topframe_entry::{PtRegs, Selected, SyscallKernel, WorkFlags};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{LStar, Msr, SFMask};
use x86_64::registers::rflags::RFlags;

pub use i386::{VECTOR as I386_VECTOR, int80};
pub use table::SYSCALL_COUNT;

/// IA32_STAR.
const MSR_STAR: u32 = 0xc000_0081;

/// The kernel's side of the syscall exit.
pub struct Kernel;

impl SyscallKernel for Kernel {
    fn exit_work(regs: &mut PtRegs) {
        crate::ptrace::syscall_exit_stop(regs);
        run_exit_work(regs, ExitFrom::Syscall);
    }

    fn entry_work(regs: &mut PtRegs) -> bool {
        crate::ptrace::syscall_entry_stop(regs)
    }
}

/// What the return to user mode ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ExitFrom {
    /// A syscall: its result may be a restart code for the signal delivery to settle.
    Syscall,
    /// An interrupt or exception (or `int $0x80`).
    Interrupt,
}

topframe_entry::syscall_entry! {
    /// IA32_LSTAR's target: the SYSCALL instruction lands here.
    pub unsafe fn entry_syscall_64;
    strategy: Selected,
    kernel: Kernel,
    table: table::SYSCALL_TABLE,
    privileged: true,
}

/// Set when the command line asks every syscall to leave through the slow path
/// (`syscall_slow_path`), to check it against the fast one.
static ALWAYS_SLOW: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Send every syscall return through the slow path from now on.
pub fn force_slow_path() {
    ALWAYS_SLOW.store(true, core::sync::atomic::Ordering::Relaxed);
}

topframe_percpu::per_cpu! {
    /// Returns to user mode that ran the exit work (the slow path), on this CPU.
    static SLOW_EXITS: u64 = 0;
}

/// Slow-path returns to user mode so far, all CPUs.
pub fn slow_exits() -> u64 {
    topframe_percpu::online_cpus()
        .filter_map(|cpu| SLOW_EXITS.remote_read(cpu))
        .sum()
}

/// Keep the running thread on the slow path if the command line asked for it.
pub fn arm_forced_slow_path(work: &topframe_entry::ThreadWork) {
    if ALWAYS_SLOW.load(core::sync::atomic::Ordering::Relaxed) {
        work.set(WorkFlags::NOTIFY_RESUME);
    }
}

/// Flags that stay set across returns to user mode: the slow path's own business.
const PERSISTENT: WorkFlags = WorkFlags::FRAME_MODIFIED.union(WorkFlags::SYSCALL_TRACE);

/// Whether the running thread has work for [`run_exit_work`] (the flags that stay set
/// across returns do not count): an interrupt from user mode without it returns at once.
/// Every reason to leave the fast way (a reschedule, a signal, a group exit, the forced
/// slow path's mark) raises one of the flags that count.
pub fn exit_work_pending() -> bool {
    !(topframe_entry::current_work().get() - PERSISTENT).is_empty()
}

/// The work before a return to user mode, for syscalls and interrupts alike: reschedule
/// when asked, leave when the process is being torn down, deliver signals (settling an
/// interrupted syscall), until no work is left. `regs` is the complete user frame. Runs
/// with interrupts on; returns with them off, the thread's flags clear but for
/// FRAME_MODIFIED, SYSCALL_TRACE and the forced slow path's mark.
pub fn run_exit_work(regs: &mut PtRegs, from: ExitFrom) {
    SLOW_EXITS.inc();
    let task = task::current();
    // An interrupted syscall's restart code must be settled even if no signal is left.
    let mut settle_syscall = from == ExitFrom::Syscall && crate::signal::is_restart_code(regs);
    loop {
        x86_64::instructions::interrupts::enable();
        let work = task.work.take(WorkFlags::all() - PERSISTENT);
        if task.fatal_pending() {
            task::exit_thread(task::ExitStatus::Exited(0));
        }
        if work.contains(WorkFlags::NEED_RESCHED) {
            scheduler::schedule();
        }
        if work.contains(WorkFlags::SIGNAL_PENDING) || settle_syscall {
            crate::signal::deliver_pending(regs, settle_syscall);
            settle_syscall = false; // one syscall result, settled once
        }
        x86_64::instructions::interrupts::disable();
        if (task.work.get() - PERSISTENT).is_empty() {
            break;
        }
    }
    if task.work.get().contains(WorkFlags::FRAME_MODIFIED) {
        task.work.take(WorkFlags::FRAME_MODIFIED); // a signal frame: this return checks it
    }
    arm_forced_slow_path(&task.work);
}
/// The bench's floor entry: the least a SYSCALL/SYSRET round trip can execute.
#[cfg(feature = "floor-entry")]
#[unsafe(naked)]
unsafe extern "C" fn floor_entry() -> ! {
    core::arch::naked_asm!(
        "swapgs",  // kernel GS, as any entry must
        "swapgs",  // and back to the user's
        "sysretq", // RIP = RCX, RFLAGS = R11: straight back
    )
}

/// The LSTAR target this build uses.
fn lstar_target() -> u64 {
    #[cfg(feature = "floor-entry")]
    let entry = floor_entry as *const ();
    #[cfg(not(feature = "floor-entry"))]
    let entry = entry_syscall_64 as *const ();
    entry as u64
}

/// IA32_CSTAR: where SYSCALL from 32-bit compatibility mode lands (AMD, and QEMU's TCG
/// whatever the vendor).
const MSR_CSTAR: u32 = 0xc000_0083;

/// The compat-mode SYSCALL target. There is no 32-bit syscall ABI here (as Linux without
/// IA32 emulation's `ignore_sysret`): answer -ENOSYS without touching the stack or GS,
/// both still the user's.
#[unsafe(naked)]
unsafe extern "C" fn compat_syscall_unsupported() -> ! {
    core::arch::naked_asm!(
        "mov eax, {enosys}",                    // the result: -ENOSYS
        "sysret",                               // 32-bit operand: back to compatibility mode at ECX
        enosys = const -38i32,
    )
}

/// Program this CPU's SYSCALL MSRs: entry points, selectors, RFLAGS mask.
pub fn init_this_cpu() {
    LStar::write(VirtAddr::new(lstar_target()));
    let mut cstar = Msr::new(MSR_CSTAR);
    // SAFETY: the target touches only EAX and returns to user mode at once.
    unsafe { cstar.write(compat_syscall_unsupported as *const () as u64) };
    let mut star = Msr::new(MSR_STAR);
    // SAFETY: Linux's selector layout, which the GDT follows (checked at GDT load).
    unsafe { star.write(topframe_entry::STAR) };
    // Cleared on entry: IF (handlers enable interrupts themselves), TF, DF, AC, NT, IOPL.
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_HIGH
            | RFlags::IOPL_LOW,
    );
}
