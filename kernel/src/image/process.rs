//! Processes: one address space, one thread, a kernel stack. Until the scheduler exists
//! the kernel runs one process at a time on the boot CPU: [`run`] enters user mode and
//! returns when the process exits or is killed.

use crate::memory::stacks;
use crate::sync::IrqSafeLock;
use crate::user::address_space::AddressSpace;
use crate::user::memory::UserMemory;
use crate::user::{elf, initial_stack};
use alloc::string::String;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use topframe_entry::{PtRegs, ThreadWork, USER_CS, USER_DS};
use topframe_kernel::layout::StackSlot;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{FsBase, KernelGsBase};

/// How a process ended, as wait4 would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(u8),
    Killed(u8),
}

impl ExitStatus {
    /// The status a shell shows: the exit code, or 128 + the signal.
    pub fn shell_status(self) -> u32 {
        match self {
            ExitStatus::Exited(code) => u32::from(code),
            ExitStatus::Killed(signal) => 128 + u32::from(signal),
        }
    }
}

/// Where anonymous mappings start, growing down (below the stack's area and a gap, as
/// Linux's mmap_base).
pub const MMAP_BASE: u64 = initial_stack::STACK_TOP - (8 << 30);

pub struct Process {
    pub pid: u32,
    pub parent_pid: u32,
    pub name: String,
    pub space: AddressSpace,
    pub memory: IrqSafeLock<UserMemory>,
    pub work: ThreadWork,
    pub kernel_stack: StackSlot,
    /// set_tid_address's pointer.
    pub clear_child_tid: AtomicU64,
    exit_status: AtomicU32,
}

topframe_percpu::per_cpu! {
    /// The process running on this CPU (null in the kernel's own context).
    static CURRENT: *const Process = core::ptr::null();
    /// The kernel context to return to when the running process ends.
    static RUNNER_RSP: u64 = 0;
}

/// The running process, if this CPU runs one (a fault in the kernel may be a user
/// copy's, on behalf of the process).
pub fn try_current() -> Option<&'static Process> {
    // SAFETY: as in `current`.
    unsafe { CURRENT.read().as_ref() }
}

/// The running process. Only meaningful on the path of a syscall or fault from it, where
/// it is never null (a null would still fault loudly); on every syscall's path, hence
/// one gs-relative load and no check in release builds.
#[inline]
pub fn current() -> &'static Process {
    let process = CURRENT.read();
    debug_assert!(!process.is_null(), "no process is running on this CPU");
    // SAFETY: `run` sets CURRENT to a process that outlives its time in user mode and
    // clears it only after the process is gone from this CPU.
    unsafe { &*process }
}

/// The next process ID (1 is init).
static NEXT_PID: AtomicU32 = AtomicU32::new(1);

/// Why a process could not be created.
#[derive(Debug)]
pub enum SpawnError {
    OutOfMemory,
    Load(elf::LoadError),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::OutOfMemory => f.write_str("out of memory"),
            SpawnError::Load(elf::LoadError::NotElf(why)) => write!(f, "not an ELF file ({why})"),
            SpawnError::Load(elf::LoadError::Unsupported(why)) => {
                write!(f, "unsupported executable: {why}")
            }
            SpawnError::Load(elf::LoadError::BadSegment) => f.write_str("bad program segment"),
            SpawnError::Load(elf::LoadError::OutOfMemory) => {
                f.write_str("out of memory loading segments")
            }
        }
    }
}

/// A loaded process and where it starts.
pub struct Spawned {
    pub process: Process,
    entry: u64,
    stack_pointer: u64,
}

/// Load `image` as a new process with these arguments and environment.
pub fn spawn(
    name: &str,
    image: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
) -> Result<Spawned, SpawnError> {
    let space = AddressSpace::new().ok_or(SpawnError::OutOfMemory)?;
    let mut memory = UserMemory::new(0);
    let program = elf::load(&space, &mut memory, image).map_err(SpawnError::Load)?;
    memory.brk_start = program.end;
    memory.brk = program.end;
    let random = random_bytes();
    let stack_pointer = initial_stack::build(&space, &mut memory, &program, argv, envp, random)
        .map_err(|_| SpawnError::OutOfMemory)?;
    let pid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
    Ok(Spawned {
        process: Process {
            pid,
            parent_pid: 0,
            name: String::from(name),
            space,
            memory: IrqSafeLock::new(memory),
            work: ThreadWork::new(),
            kernel_stack: stacks::allocate(stacks::KERNEL_STACK_SIZE),
            clear_child_tid: AtomicU64::new(0),
            exit_status: AtomicU32::new(0),
        },
        entry: program.entry,
        stack_pointer,
    })
}

/// 16 bytes for AT_RANDOM (RDRAND when present, else mixed TSC readings).
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut value = crate::tsc::read().wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if core::arch::x86_64::__cpuid(1).ecx & (1 << 30) != 0 {
            // SAFETY: RDRAND exists (CPUID.1:ECX[30]); on failure `value` keeps the TSC mix.
            unsafe { core::arch::x86_64::_rdrand64_step(&mut value) };
        }
        chunk.copy_from_slice(&value.to_le_bytes()[..chunk.len()]);
    }
    bytes
}

/// Run the process until it exits or is killed, on this CPU.
pub fn run(spawned: Spawned) -> ExitStatus {
    let Spawned {
        process,
        entry,
        stack_pointer,
    } = spawned;
    let stack_top = process.kernel_stack.stack_top;
    CURRENT.write(&process);
    // SAFETY: the stack and the work flags belong to `process`, which outlives this call.
    unsafe { topframe_entry::install_thread(stack_top, &process.work) };
    crate::syscall::arm_forced_slow_path(&process.work);
    crate::gdt::set_kernel_stack(stack_top);
    process.space.activate();
    FsBase::write(VirtAddr::zero());
    KernelGsBase::write(VirtAddr::zero());
    crate::cpu::reset_fpu_state(&crate::cpu::Features::detect());

    // The first "return" to user mode: a frame as if the process had been interrupted at
    // its entry point, with every register zero.
    let frame = (stack_top - size_of::<PtRegs>() as u64) as *mut PtRegs;
    // SAFETY: the top of the fresh kernel stack is mapped and unused.
    unsafe {
        frame.write(PtRegs {
            orig_rax: u64::MAX,
            rip: entry,
            cs: USER_CS,
            eflags: 0x202, // IF, and the always-one bit
            rsp: stack_pointer,
            ss: USER_DS,
            ..PtRegs::default()
        })
    };
    // SAFETY: the frame is a valid user-mode frame; RUNNER_RSP keeps this context until
    // `exit_current` switches back to it.
    unsafe { enter_user_mode(frame) };

    crate::memory::paging::activate_kernel_tables();
    process.space.deactivate();
    CURRENT.write(core::ptr::null());
    let status = decode_status(process.exit_status.load(Ordering::Acquire));
    stacks::free(process.kernel_stack);
    status
}

/// End the running process with `status` and go back to the context that ran it.
/// Called on the process's kernel stack (a syscall or a fault), which is abandoned.
pub fn exit_current(status: ExitStatus) -> ! {
    current()
        .exit_status
        .store(encode_status(status), Ordering::Release);
    // SAFETY: RUNNER_RSP holds the context saved by enter_user_mode on this CPU, whose
    // stack is intact; the process's stack is never used again.
    unsafe { return_to_runner(RUNNER_RSP.read()) }
}

fn encode_status(status: ExitStatus) -> u32 {
    match status {
        ExitStatus::Exited(code) => u32::from(code),
        ExitStatus::Killed(signal) => 0x100 | u32::from(signal),
    }
}

fn decode_status(raw: u32) -> ExitStatus {
    if raw & 0x100 != 0 {
        ExitStatus::Killed(raw as u8)
    } else {
        ExitStatus::Exited(raw as u8)
    }
}

/// Save the callee-saved registers and RSP in RUNNER_RSP, then leave for user mode
/// through the frame. Returns when [`return_to_runner`] switches back.
#[unsafe(naked)]
unsafe extern "C" fn enter_user_mode(frame: *mut PtRegs) {
    core::arch::naked_asm!(
        "push rbp",                             // callee-saved registers of this context
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov gs:[rip + {runner_rsp}], rsp",     // where return_to_runner comes back to
        "mov rsp, rdi",                         // RSP = the user frame
        "cli",                                  // the return to user mode runs with IF=0
        "jmp {iret_to_user}",                   // restore registers, SWAPGS, IRETQ
        runner_rsp = sym RUNNER_RSP,
        iret_to_user = sym topframe_entry::__topframe_entry_iret_to_user,
    )
}

/// Switch back to the context enter_user_mode saved, returning from it.
#[unsafe(naked)]
unsafe extern "C" fn return_to_runner(saved_rsp: u64) -> ! {
    core::arch::naked_asm!(
        "mov rsp, rdi", // the runner's stack
        "pop r15",      // its callee-saved registers
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret", // out of enter_user_mode
    )
}
