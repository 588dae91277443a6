//! ptrace, the subset a debugger of fork children needs: TRACEME, ATTACH, SEIZE,
//! GETREGS/SETREGS, PEEKUSER/POKEUSER, PEEKDATA/POKEDATA (and TEXT), CONT, SYSCALL,
//! SINGLESTEP, KILL, DETACH, SETOPTIONS (TRACESYSGOOD), with stops reported by wait4.
//!
//! A tracee stops on its own kernel stack with its user frame complete: in the exit
//! work (signal-delivery and syscall-exit stops) or in the entry's slow dispatch
//! (syscall-entry stops, which `topframe-entry` reaches at no cost to the fast path when
//! the thread's dispatch limit is 0). The tracer reads and writes that frame while the
//! tracee sleeps; the lazy strategy's restore after the exit work carries a changed RSP
//! into its per-CPU slot, and the checked exit returns through IRETQ whenever SYSRET
//! could not restore exactly what the tracer wrote.

use crate::scheduler;
use crate::signal::{self, Info, SI_USER, SIGKILL, SIGSTOP, SIGTRAP};
use crate::sync::IrqSafeLock;
use crate::syscall::SYSCALL_COUNT;
use crate::syscall::errno::{EFAULT, EINVAL, EIO, EPERM, ESRCH};
use crate::task::{self, Mm, Process, Task};
use crate::user::address_space::MapError;
use crate::user::copy::{copy_from_user, copy_to_user, write_user};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};
use topframe_entry::{PtRegs, USER_CS, USER_DS};
use topframe_kernel::layout::{USER_SPACE_END, phys_to_direct};

/// Requests (`<linux/ptrace.h>`).
const PTRACE_TRACEME: u64 = 0;
const PTRACE_PEEKTEXT: u64 = 1;
const PTRACE_PEEKDATA: u64 = 2;
const PTRACE_PEEKUSER: u64 = 3;
const PTRACE_POKETEXT: u64 = 4;
const PTRACE_POKEDATA: u64 = 5;
const PTRACE_POKEUSER: u64 = 6;
const PTRACE_CONT: u64 = 7;
const PTRACE_KILL: u64 = 8;
const PTRACE_SINGLESTEP: u64 = 9;
const PTRACE_GETREGS: u64 = 12;
const PTRACE_SETREGS: u64 = 13;
const PTRACE_ATTACH: u64 = 16;
const PTRACE_DETACH: u64 = 17;
const PTRACE_SYSCALL: u64 = 24;
const PTRACE_SETOPTIONS: u64 = 0x4200;
const PTRACE_SEIZE: u64 = 0x4206;

/// The one option implemented: syscall stops report SIGTRAP | 0x80.
const PTRACE_O_TRACESYSGOOD: u64 = 1;

/// `struct user_regs_struct`: pt_regs order, then the segment bases and selectors.
const USER_REGS_WORDS: usize = 27;
/// `sizeof(struct user)` as the kernel declares it (`<asm/user_64.h>`: after the debug
/// registers come `error_code` and `fault_address`): PEEKUSER offsets past the registers
/// read as 0.
const USER_AREA_SIZE: u64 = 928;
/// `offsetof(struct user, u_debugreg)`: DR0..DR7, the only words past the registers that
/// POKEUSER accepts.
const DEBUGREG_OFFSET: u64 = 848;

/// RFLAGS bits a tracer may change (Linux's FLAG_MASK, = FLAG_MASK_32): CF PF AF ZF SF TF
/// DF OF NT RF AC.
const FLAG_MASK: u64 = 1
    | (1 << 2)
    | (1 << 4)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 11)
    | (1 << 14)
    | (1 << 16)
    | (1 << 18);
const TRAP_FLAG: u64 = 1 << 8;

/// Why a tracee stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Signal(u8),
    SyscallEntry,
    SyscallExit,
}

/// How the tracer lets it go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resume {
    /// The signal to deliver (0: none).
    signal: u8,
}

#[derive(Default)]
struct TraceState {
    /// The tracing process (always the tracee's parent here).
    tracer: Option<u32>,
    options: u64,
    /// Set while the tracee is in a ptrace stop.
    stop: Option<Stop>,
    /// wait4 has reported the current stop.
    reported: bool,
    resume: Option<Resume>,
    /// PTRACE_SINGLESTEP set TF in the tracee's RFLAGS (cleared again on resume).
    forced_trap_flag: bool,
}

/// A task's tracing state.
pub struct Trace {
    state: IrqSafeLock<TraceState>,
    /// PTRACE_SYSCALL: stop at the next syscall entry and exit (read without the lock
    /// on every slow syscall exit).
    syscall_stops: AtomicBool,
    /// Resumed by PTRACE_SINGLESTEP (Linux's TIF_SINGLESTEP): a syscall the tracee steps
    /// over reports the step at its exit (read without the lock there too).
    single_step: AtomicBool,
}

impl Trace {
    pub fn new() -> Trace {
        Trace {
            state: IrqSafeLock::new(TraceState::default()),
            syscall_stops: AtomicBool::new(false),
            single_step: AtomicBool::new(false),
        }
    }

    fn syscall_stops(&self) -> bool {
        self.syscall_stops.load(Ordering::Acquire)
    }

    fn single_step(&self) -> bool {
        self.single_step.load(Ordering::Acquire)
    }
}

/// True when a tracer is attached to `task`.
pub fn is_traced(task: &Task) -> bool {
    task.trace.state.lock().tracer.is_some()
}

/// The dispatch limit `task`'s syscalls need: 0 while a tracer wants syscall stops (every
/// syscall takes the entry's slow dispatch), the whole table otherwise.
pub fn dispatch_limit(task: &Task) -> u32 {
    if task.trace.syscall_stops() {
        0
    } else {
        SYSCALL_COUNT as u32
    }
}

/// The tracee side of a stop: record it, tell the tracer, sleep until resumed (or
/// killed, or detached). Returns the signal the tracer resumed with.
fn stop(task: &Arc<Task>, regs: &mut PtRegs, why: Stop) -> u8 {
    {
        let mut state = task.trace.state.lock();
        if state.tracer.is_none() {
            return 0;
        }
        state.stop = Some(why);
        state.reported = false;
        state.resume = None;
    }
    notify_parent(&task.process);
    loop {
        scheduler::prepare_to_block(task);
        let released = {
            let state = task.trace.state.lock();
            state.resume.is_some() || state.tracer.is_none()
        };
        if released || task.fatal_pending() {
            scheduler::cancel_block(task);
            break;
        }
        scheduler::schedule();
    }
    let resume = {
        let mut state = task.trace.state.lock();
        state.stop = None;
        state.resume.take()
    };
    // The tracer may have rewritten the frame while this thread slept: read it afresh.
    // SAFETY: `regs` is valid for reads and writes; a volatile copy only keeps the
    // compiler from assuming the memory unchanged across the sleep.
    unsafe { core::ptr::write_volatile(regs, core::ptr::read_volatile(regs)) };
    // SAFETY: the limit is 0 or the table's length.
    unsafe { topframe_entry::set_dispatch_limit(dispatch_limit(task)) };
    resume.map_or(0, |resume| resume.signal)
}

/// Wake the parent's wait4 (the tracer is the parent).
fn notify_parent(process: &Process) {
    if let Some(parent) = process.parent() {
        for waiter in parent.child_event.wake_all() {
            scheduler::wake(&waiter);
        }
    }
}

/// Signal-delivery stop: a traced thread about to take `signal` shows it to its tracer
/// first, which may suppress it or replace it (and change `regs`, its user frame).
/// SIGKILL is never stopped for.
pub fn signal_delivery_stop(
    task: &Task,
    regs: &mut PtRegs,
    signal: u8,
    info: Info,
) -> Option<(u8, Info)> {
    if signal == SIGKILL || !is_traced(task) {
        return Some((signal, info));
    }
    let handle = task::current_handle();
    match stop(&handle, regs, Stop::Signal(signal)) {
        0 => None,
        same if same == signal => Some((signal, info)),
        other => Some((
            other,
            Info {
                code: SI_USER,
                pid: task.process.parent_pid.load(Ordering::Relaxed),
                ..Info::default()
            },
        )),
    }
}

/// Syscall-entry stop (the entry's slow dispatch). Returns whether to run the syscall:
/// a tracer may have changed its number and arguments, or skipped it (number -1).
pub fn syscall_entry_stop(regs: &mut PtRegs) -> bool {
    if task::current().trace.syscall_stops() {
        stop(&task::current_handle(), regs, Stop::SyscallEntry);
    }
    !task::current().fatal_pending()
}

/// Syscall-exit stop (the syscall's exit work). A tracee stepped over the `syscall`
/// instead gets the step's SIGTRAP now, with RIP after the instruction (the CPU's trap
/// would come one instruction later: SYSCALL clears TF): Linux's report_single_step.
pub fn syscall_exit_stop(regs: &mut PtRegs) {
    let task = task::current();
    if task.trace.single_step() {
        let info = Info {
            code: signal::TRAP_BRKPT,
            address: regs.rip,
            ..Info::default()
        };
        let trap = signal::TrapInfo {
            trapno: 1,
            error_code: 0,
            cr2: 0,
        };
        signal::force_fault(SIGTRAP, info, trap);
    } else if task.trace.syscall_stops() {
        stop(&task::current_handle(), regs, Stop::SyscallExit);
    }
}

/// A stop of a child of `parent` that wait4 has not reported yet: (pid, wait status),
/// marked reported.
pub fn take_unreported_stop(child: &Process, parent_pid: u32) -> Option<(u32, u32)> {
    let tracee = task::find(child.pid)?;
    let mut state = tracee.trace.state.lock();
    if state.tracer != Some(parent_pid) || state.reported {
        return None;
    }
    let signal = match state.stop? {
        Stop::Signal(signal) => signal,
        Stop::SyscallEntry | Stop::SyscallExit if state.options & PTRACE_O_TRACESYSGOOD != 0 => {
            SIGTRAP | 0x80
        }
        Stop::SyscallEntry | Stop::SyscallExit => SIGTRAP,
    };
    state.reported = true;
    Some((child.pid, (u32::from(signal) << 8) | 0x7f))
}

/// The tracer `process` is exiting: its tracees go on untraced.
pub fn release_tracees(process: &Process) {
    process.with_children(|children| {
        for child in children.iter() {
            if let Some(tracee) = task::find(child.pid) {
                detach(&tracee, 0);
            }
        }
    });
}

/// Drop the tracer of `tracee`, letting it go on with `signal`.
fn detach(tracee: &Arc<Task>, signal: u8) {
    let mut state = tracee.trace.state.lock();
    let stopped = state.stop.is_some() && state.resume.is_none();
    if stopped && state.forced_trap_flag {
        // SAFETY: the tracee is stopped, and its tracer (or the tracer's exit, which
        // holds its children's lock) is the one detaching it.
        unsafe { tracee_frame(tracee) }.eflags &= !TRAP_FLAG;
    }
    tracee.trace.syscall_stops.store(false, Ordering::Release);
    tracee.trace.single_step.store(false, Ordering::Release);
    *state = TraceState {
        resume: stopped.then_some(Resume { signal }),
        stop: state.stop,
        ..TraceState::default()
    };
    drop(state);
    scheduler::wake(tracee);
}

/// The user frame of a tracee in a ptrace stop.
///
/// # Safety
/// `tracee` is in a ptrace stop (it sleeps in the kernel with its complete user frame at
/// the top of its kernel stack and touches it again only once resumed) and the caller
/// is its tracer, the only other thread that accesses the frame meanwhile.
#[allow(clippy::mut_from_ref)] // the frame is the tracee's memory, not part of `Task`
unsafe fn tracee_frame(tracee: &Task) -> &mut PtRegs {
    let address = topframe_entry::frame_address_for(tracee.stack_top());
    // SAFETY: per the contract above.
    unsafe { &mut *(address as *mut PtRegs) }
}

/// `ptrace(request, pid, addr, data)`.
pub fn ptrace(request: u64, pid: u64, address: u64, data: u64) -> i64 {
    match request {
        PTRACE_TRACEME => trace_me(),
        PTRACE_ATTACH | PTRACE_SEIZE => attach(pid, request == PTRACE_SEIZE, address, data),
        _ => match request_on_tracee(request, pid, address, data) {
            Ok(value) => value,
            Err(errno) => -errno,
        },
    }
}

fn trace_me() -> i64 {
    let task = task::current();
    let mut state = task.trace.state.lock();
    if state.tracer.is_some() {
        return -EPERM;
    }
    let parent = task.process.parent_pid.load(Ordering::Relaxed);
    if parent == 0 {
        return -EPERM; // the kernel does not trace its programs
    }
    state.tracer = Some(parent);
    0
}

/// The thread `pid` if it is the leader of a child process of the caller.
fn child_thread(pid: u64) -> Result<Arc<Task>, i64> {
    let pid = u32::try_from(pid as i32).map_err(|_| ESRCH)?;
    let target = task::find(pid).ok_or(ESRCH)?;
    let caller = task::current_process();
    let is_child = target
        .process
        .parent()
        .is_some_and(|parent| parent.pid == caller.pid);
    if !is_child || target.tid != target.process.pid {
        return Err(EPERM);
    }
    Ok(target)
}

fn attach(pid: u64, seize: bool, address: u64, options: u64) -> i64 {
    if seize && (address != 0 || options & !PTRACE_O_TRACESYSGOOD != 0) {
        return -EINVAL;
    }
    let target = match child_thread(pid) {
        Ok(target) => target,
        Err(errno) => return -errno,
    };
    {
        let mut state = target.trace.state.lock();
        if state.tracer.is_some() {
            return -EPERM;
        }
        state.tracer = Some(task::current_process().pid);
        state.options = if seize { options } else { 0 };
    }
    if !seize {
        signal::send_to_thread(&target, SIGSTOP, signal::sent_by_process(SI_USER));
    }
    0
}

/// A request that needs a tracee in a ptrace stop (or, for KILL, only attached).
fn request_on_tracee(request: u64, pid: u64, address: u64, data: u64) -> Result<i64, i64> {
    let pid = u32::try_from(pid as i32).map_err(|_| ESRCH)?;
    let tracee = task::find(pid).ok_or(ESRCH)?;
    let caller = task::current_process().pid;
    let stopped = {
        let state = tracee.trace.state.lock();
        if state.tracer != Some(caller) {
            return Err(ESRCH);
        }
        state.stop.is_some() && state.resume.is_none()
    };
    if request == PTRACE_KILL {
        task::begin_kill(&tracee.process, SIGKILL);
        return Ok(0);
    }
    if !stopped {
        return Err(ESRCH);
    }
    match request {
        PTRACE_PEEKTEXT | PTRACE_PEEKDATA => {
            let mut word = [0u8; 8];
            access_memory(tracee.mm(), address, &mut word, false)?;
            write_user(data, &u64::from_le_bytes(word)).map_err(|_| EFAULT)?;
            Ok(0)
        }
        PTRACE_POKETEXT | PTRACE_POKEDATA => {
            access_memory(tracee.mm(), address, &mut data.to_le_bytes(), true)?;
            Ok(0)
        }
        PTRACE_PEEKUSER => {
            let value = peek_user(&tracee, address)?;
            write_user(data, &value).map_err(|_| EFAULT)?;
            Ok(0)
        }
        PTRACE_POKEUSER => {
            poke_user(&tracee, address, data)?;
            Ok(0)
        }
        PTRACE_GETREGS => {
            let words = user_regs(&tracee);
            let bytes: alloc::vec::Vec<u8> =
                words.iter().flat_map(|word| word.to_le_bytes()).collect();
            copy_to_user(data, &bytes).map_err(|_| EFAULT)?;
            Ok(0)
        }
        PTRACE_SETREGS => {
            let mut bytes = [0u8; USER_REGS_WORDS * 8];
            copy_from_user(&mut bytes, data).map_err(|_| EFAULT)?;
            for (index, chunk) in bytes.chunks_exact(8).enumerate() {
                let value = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
                set_register(&tracee, index, value)?;
            }
            Ok(0)
        }
        PTRACE_CONT | PTRACE_SYSCALL | PTRACE_SINGLESTEP => {
            resume(&tracee, request, data)?;
            Ok(0)
        }
        PTRACE_DETACH => {
            let signal = resume_signal(data)?;
            detach(&tracee, signal);
            Ok(0)
        }
        PTRACE_SETOPTIONS => {
            if data & !PTRACE_O_TRACESYSGOOD != 0 {
                return Err(EINVAL);
            }
            tracee.trace.state.lock().options = data;
            Ok(0)
        }
        _ => Err(EIO),
    }
}

/// The signal of a resume request: 0 or a valid number.
fn resume_signal(data: u64) -> Result<u8, i64> {
    match data {
        0 => Ok(0),
        signal => signal::from_argument(signal).ok_or(EIO),
    }
}

fn resume(tracee: &Arc<Task>, request: u64, data: u64) -> Result<(), i64> {
    let signal = resume_signal(data)?;
    // SAFETY: `request_on_tracee` checked that the caller traces it and that it is stopped.
    let frame = unsafe { tracee_frame(tracee) };
    {
        let mut state = tracee.trace.state.lock();
        tracee
            .trace
            .syscall_stops
            .store(request == PTRACE_SYSCALL, Ordering::Release);
        tracee
            .trace
            .single_step
            .store(request == PTRACE_SINGLESTEP, Ordering::Release);
        if request == PTRACE_SINGLESTEP {
            if frame.eflags & TRAP_FLAG == 0 {
                frame.eflags |= TRAP_FLAG;
                state.forced_trap_flag = true;
            }
        } else if core::mem::take(&mut state.forced_trap_flag) {
            frame.eflags &= !TRAP_FLAG;
        }
        state.resume = Some(Resume { signal });
    }
    // The tracee's frame goes back as the authority: no fixup may overwrite it.
    tracee.work.set(topframe_entry::WorkFlags::FRAME_MODIFIED);
    scheduler::wake(tracee);
    Ok(())
}

/// `user_regs_struct` of a stopped tracee.
fn user_regs(tracee: &Task) -> [u64; USER_REGS_WORDS] {
    // SAFETY: only called from `request_on_tracee`, which checked the stop and the tracer.
    let r = unsafe { tracee_frame(tracee) };
    let load = |base: &core::sync::atomic::AtomicU64| base.load(Ordering::Relaxed);
    // Linux's get_flags: a TF that PTRACE_SINGLESTEP set is hidden from the tracer.
    let eflags = if tracee.trace.state.lock().forced_trap_flag {
        r.eflags & !TRAP_FLAG
    } else {
        r.eflags
    };
    [
        r.r15,
        r.r14,
        r.r13,
        r.r12,
        r.rbp,
        r.rbx,
        r.r11,
        r.r10,
        r.r9,
        r.r8,
        r.rax,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        r.orig_rax,
        r.rip,
        r.cs,
        eflags,
        r.rsp,
        r.ss,
        load(&tracee.fs_base),
        load(&tracee.gs_base),
        0,
        0,
        0,
        0, // ds, es, fs, gs: null selectors in 64-bit mode
    ]
}

/// Index of fs_base, gs_base and the first selector in `user_regs_struct`.
const FS_BASE: usize = 21;
const GS_BASE: usize = 22;
const FIRST_SELECTOR: usize = 23;
/// Indices of cs, eflags, rsp and ss.
const CS: usize = 17;
const EFLAGS: usize = 18;
const RSP: usize = 19;
const SS: usize = 20;

/// Linux's putreg: one word of `user_regs_struct`, checked.
fn set_register(tracee: &Task, index: usize, value: u64) -> Result<(), i64> {
    // SAFETY: only called from `request_on_tracee`, which checked the stop and the tracer.
    let r = unsafe { tracee_frame(tracee) };
    match index {
        CS | SS => {
            // Only the 64-bit user selectors are valid here (no LDT, no 32-bit tasks).
            let valid = if index == CS { USER_CS } else { USER_DS };
            if value != valid {
                return Err(EIO);
            }
            if index == CS {
                r.cs = value;
            } else {
                r.ss = value;
            }
        }
        EFLAGS => {
            // Linux's set_flags: a TF the tracer writes is its own from now on; without
            // TF in the value, a TF that SINGLESTEP set stays (it was hidden on reading).
            let mut state = tracee.trace.state.lock();
            let value = if value & TRAP_FLAG != 0 {
                state.forced_trap_flag = false;
                value
            } else if state.forced_trap_flag {
                value | TRAP_FLAG
            } else {
                value
            };
            r.eflags = (r.eflags & !FLAG_MASK) | (value & FLAG_MASK);
        }
        FS_BASE | GS_BASE => {
            if value >= USER_SPACE_END {
                return Err(EIO);
            }
            let base = if index == FS_BASE {
                &tracee.fs_base
            } else {
                &tracee.gs_base
            };
            base.store(value, Ordering::Relaxed);
        }
        FIRST_SELECTOR.. if index < USER_REGS_WORDS => {
            if value != 0 {
                return Err(EIO);
            }
        }
        RSP => r.rsp = value,
        _ => {
            // r15 ... rip: pt_regs order, no checks (a bad RIP faults on the IRETQ).
            let slots: [&mut u64; 17] = [
                &mut r.r15,
                &mut r.r14,
                &mut r.r13,
                &mut r.r12,
                &mut r.rbp,
                &mut r.rbx,
                &mut r.r11,
                &mut r.r10,
                &mut r.r9,
                &mut r.r8,
                &mut r.rax,
                &mut r.rcx,
                &mut r.rdx,
                &mut r.rsi,
                &mut r.rdi,
                &mut r.orig_rax,
                &mut r.rip,
            ];
            let slot = slots.into_iter().nth(index).ok_or(EIO)?;
            *slot = value;
        }
    }
    Ok(())
}

fn peek_user(tracee: &Task, offset: u64) -> Result<u64, i64> {
    if !offset.is_multiple_of(8) || offset >= USER_AREA_SIZE {
        return Err(EIO);
    }
    let index = (offset / 8) as usize;
    Ok(user_regs(tracee).get(index).copied().unwrap_or(0))
}

fn poke_user(tracee: &Task, offset: u64, value: u64) -> Result<(), i64> {
    if !offset.is_multiple_of(8) || offset >= USER_AREA_SIZE {
        return Err(EIO);
    }
    match (offset / 8) as usize {
        index if index < USER_REGS_WORDS => set_register(tracee, index, value),
        // The debug registers: not implemented, ignored.
        _ if (DEBUGREG_OFFSET..DEBUGREG_OFFSET + 8 * 8).contains(&offset) => Ok(()),
        // Linux's POKEUSER writes nothing else (the FPU word, error_code, ...).
        _ => Err(EIO),
    }
}

/// Read or write `buffer.len()` bytes of the tracee's memory at `address` through the
/// direct map (a fork child's pages are its own), populating pages it has not touched
/// yet. Like Linux's access_process_vm with FOLL_FORCE: read-only pages are written too.
fn access_memory(mm: &Mm, address: u64, buffer: &mut [u8], write: bool) -> Result<(), i64> {
    const USER_READ_FAULT: u64 = 0x4;
    let end = address.checked_add(buffer.len() as u64).ok_or(EIO)?;
    if end > USER_SPACE_END {
        return Err(EIO);
    }
    let memory = mm.memory.lock();
    let mut done = 0;
    while done < buffer.len() {
        let at = address + done as u64;
        let physical = match mm.space.translate(at) {
            Some(physical) => physical,
            None if memory.handle_fault(&mm.space, at, USER_READ_FAULT) => {
                mm.space.translate(at).ok_or(EIO)?
            }
            // FOLL_FORCE reaches an area without access rights too (PROT_NONE): back it
            // with a page that only the kernel can reach.
            None if memory.areas.find(at).is_some() => {
                match mm.space.map_zeroed_inaccessible(at & !4095) {
                    Ok(_) | Err(MapError::AlreadyMapped) => {}
                    Err(MapError::OutOfMemory) => return Err(EIO),
                }
                mm.space.translate(at).ok_or(EIO)?
            }
            None => return Err(EIO),
        };
        let in_page = (4096 - (at & 4095)) as usize;
        let count = in_page.min(buffer.len() - done);
        let direct = phys_to_direct(physical) as *mut u8;
        // SAFETY: `count` bytes from `physical` stay inside one mapped user frame of the
        // tracee (its memory lock is held, so it cannot be unmapped meanwhile), reached
        // through the kernel's direct map.
        unsafe {
            if write {
                core::ptr::copy_nonoverlapping(buffer[done..].as_ptr(), direct, count);
            } else {
                core::ptr::copy_nonoverlapping(direct, buffer[done..].as_mut_ptr(), count);
            }
        }
        done += count;
    }
    Ok(())
}
