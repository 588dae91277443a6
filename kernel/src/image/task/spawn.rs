//! New processes from program images, and kernel threads.

use super::fpu::FpuState;
use super::{Mm, Process, Task, allocate_tid, register};
use crate::scheduler;
use crate::signal::ProcessSignals;
use crate::user::{elf, initial_stack};
use alloc::string::String;
use alloc::sync::Arc;
use topframe_entry::{PtRegs, USER_CS, USER_DS};
use topframe_sched::SchedEntity;

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

/// RFLAGS of a new program: IF, and the always-one bit.
const INITIAL_RFLAGS: u64 = 0x202;

/// Load `image` as a new process, child of `parent`, with these arguments and
/// environment, and make its first thread runnable.
pub fn spawn_program(
    parent: &Arc<Process>,
    name: &str,
    image: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
) -> Result<Arc<Process>, SpawnError> {
    let mm = Mm::new().ok_or(SpawnError::OutOfMemory)?;
    let (entry, stack_pointer) = {
        let mut memory = mm.memory.lock();
        let program = elf::load(&mm.space, &mut memory, image).map_err(SpawnError::Load)?;
        memory.brk_start = program.end;
        memory.brk = program.end;
        let stack_pointer =
            initial_stack::build(&mm.space, &mut memory, &program, argv, envp, random_bytes())
                .map_err(|_| SpawnError::OutOfMemory)?;
        (program.entry, stack_pointer)
    };
    let tid = allocate_tid();
    let process = Arc::new(Process::new(
        tid,
        Some(parent),
        String::from(name),
        ProcessSignals::new(),
    ));
    let task = Arc::new(Task::new(
        tid,
        process.clone(),
        Some(Arc::new(mm)),
        SchedEntity::new(),
        FpuState::initial(),
    ));
    // The first "return" to user mode: as if interrupted at the entry point, with every
    // other register zero.
    task.prepare_user_start(PtRegs {
        orig_rax: u64::MAX,
        rip: entry,
        cs: USER_CS,
        eflags: INITIAL_RFLAGS,
        rsp: stack_pointer,
        ss: USER_DS,
        ..PtRegs::default()
    });
    crate::syscall::arm_forced_slow_path(&task.work);
    process.add_thread(tid);
    parent.adopt(process.clone());
    register(&task);
    scheduler::start(&task).map_err(|_| SpawnError::OutOfMemory)?;
    Ok(process)
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

/// The kernel's own process (PID 0): its threads have no user memory, and the programs
/// the kernel starts are its children.
pub fn kernel_process() -> &'static Arc<Process> {
    static KERNEL: spin::Once<Arc<Process>> = spin::Once::new();
    KERNEL.call_once(|| {
        Arc::new(Process::new(
            0,
            None,
            String::from("kernel"),
            ProcessSignals::new(),
        ))
    })
}

/// Start a kernel thread running `function(argument)`.
pub fn spawn_kernel_thread(function: fn(u64) -> !, argument: u64) -> Arc<Task> {
    let tid = allocate_tid();
    let process = kernel_process().clone();
    let task = Arc::new(Task::new(
        tid,
        process.clone(),
        None,
        SchedEntity::new(),
        FpuState::initial(),
    ));
    task.prepare_kernel_start(function, argument);
    process.add_thread(tid);
    register(&task);
    scheduler::start(&task).expect("a new kernel thread can always start");
    task
}
