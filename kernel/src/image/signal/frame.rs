//! Linux's x86_64 signal frame (`struct rt_sigframe`): the return address of the
//! restorer, the ucontext with the interrupted registers in sigcontext order, the
//! siginfo, and the x87/SSE/AVX state in XSAVE format with the FP_XSTATE magics, as
//! Linux's `setup_rt_frame` and `rt_sigreturn` write and read it.

use super::state::{Action, AltStack, Info, SigSet, TrapInfo};
use crate::task::fpu::{self, FpuState};
use crate::task::{self, Task};
use crate::user::copy::{copy_from_user, copy_to_user, read_user};
use alloc::vec;
use topframe_entry::{EntryStrategy, PtRegs, Selected, USER_CS, USER_DS, WorkFlags};

/// `struct sigcontext` (64-bit): not pt_regs order.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SigContext {
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rdi: u64,
    rsi: u64,
    rbp: u64,
    rbx: u64,
    rdx: u64,
    rax: u64,
    rcx: u64,
    rsp: u64,
    rip: u64,
    eflags: u64,
    cs: u16,
    gs: u16,
    fs: u16,
    ss: u16,
    err: u64,
    trapno: u64,
    oldmask: u64,
    cr2: u64,
    fpstate: u64,
    reserved: [u64; 8],
}

/// `stack_t`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct StackT {
    pub sp: u64,
    pub flags: i32,
    pub padding: u32,
    pub size: u64,
}

/// `struct ucontext` (the kernel's: a 64-bit sigset).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct UContext {
    flags: u64,
    link: u64,
    stack: StackT,
    mcontext: SigContext,
    sigmask: u64,
}

/// `siginfo_t`: 128 bytes, the union from byte 16.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SigInfo {
    signo: i32,
    errno: i32,
    code: i32,
    padding: i32,
    fields: [u64; 14],
}

/// `struct rt_sigframe`: what RSP points at when the handler starts.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RtSigFrame {
    /// The restorer: the handler's `ret` goes there, and it calls rt_sigreturn.
    pretcode: u64,
    uc: UContext,
    info: SigInfo,
}

const _: () = assert!(core::mem::size_of::<SigContext>() == 256);
const _: () = assert!(core::mem::size_of::<UContext>() == 304);
const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);
const _: () = assert!(core::mem::size_of::<RtSigFrame>() == 440);
const _: () = assert!(core::mem::offset_of!(UContext, mcontext) == 40);

/// uc_flags: the fpstate has the XSAVE extension; sigcontext's SS is meaningful and
/// restored as it is.
const UC_FP_XSTATE: u64 = 0x1;
const UC_SIGCONTEXT_SS: u64 = 0x2;
const UC_STRICT_RESTORE_SS: u64 = 0x4;

/// `struct _fpx_sw_bytes` in the legacy area's unused tail, and the magics.
const SW_BYTES_OFFSET: usize = 464;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
const MAGIC2_SIZE: usize = 4;
/// The legacy (FXSAVE) area and the XSAVE header after it.
const LEGACY_SIZE: usize = 512;
const XSAVE_HEADER_SIZE: usize = 64;
const MXCSR_OFFSET: usize = 24;
/// x87 and SSE: what a legacy-only image restores.
const XFEATURES_FP_SSE: u64 = 0x3;

/// The red zone below a user RSP that a signal frame must not touch.
const RED_ZONE: u64 = 128;

/// RFLAGS bits a sigreturn may restore (Linux's FIX_EFLAGS): AC OF DF TF SF ZF AF PF CF
/// and RF; everything else (IF, IOPL, VM, and NT: Linux keeps the RFLAGS of the
/// rt_sigreturn syscall's caller there) is not the frame's to choose.
const FIX_EFLAGS: u64 = (1 << 18)
    | (1 << 11)
    | (1 << 10)
    | (1 << 8)
    | (1 << 7)
    | (1 << 6)
    | (1 << 4)
    | (1 << 2)
    | 1
    | (1 << 16);
/// Cleared for the handler: DF, RF, TF.
const HANDLER_CLEARS: u64 = (1 << 10) | (1 << 16) | (1 << 8);

/// sigaltstack's ss_flags.
pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;
pub const SS_AUTODISARM: i32 = 1 << 31;

/// The `stack_t` describing `altstack` as seen from user RSP `sp`.
pub fn describe_altstack(altstack: &AltStack, sp: u64) -> StackT {
    let flags = if !altstack.is_enabled() {
        SS_DISABLE
    } else if altstack.contains(sp) {
        SS_ONSTACK
    } else {
        0
    } | if altstack.auto_disarm {
        SS_AUTODISARM
    } else {
        0
    };
    StackT {
        sp: altstack.base,
        flags,
        padding: 0,
        size: altstack.size,
    }
}

/// The `stack_t` a signal frame's `uc_stack` holds: the alternate stack with the flags
/// it was set with (Linux's `t->sas_ss_flags`: SS_DISABLE, or 0 / SS_AUTODISARM), never
/// SS_ONSTACK, wherever the interrupted RSP was (unlike `sigaltstack`'s old stack).
fn saved_altstack(altstack: &AltStack) -> StackT {
    let flags = if !altstack.is_enabled() {
        SS_DISABLE
    } else if altstack.auto_disarm {
        SS_AUTODISARM
    } else {
        0
    };
    StackT {
        sp: altstack.base,
        flags,
        padding: 0,
        size: altstack.size,
    }
}

/// The signal frame's FPU image size: the XSAVE area and MAGIC2, or the legacy area.
fn fpstate_frame_size() -> usize {
    if fpu::uses_xsave() {
        fpu::area_size() + MAGIC2_SIZE
    } else {
        LEGACY_SIZE
    }
}

/// This CPU's registers as the signal frame holds them.
fn fpstate_image() -> alloc::vec::Vec<u8> {
    let live = FpuState::copy_of_live();
    let mut image = vec![0u8; fpstate_frame_size()];
    let size = fpu::area_size().min(image.len());
    image[..size].copy_from_slice(&live.bytes()[..size]);
    if fpu::uses_xsave() {
        let words = [
            FP_XSTATE_MAGIC1,
            (fpu::area_size() + MAGIC2_SIZE) as u32, // extended_size
        ];
        let sw = &mut image[SW_BYTES_OFFSET..];
        sw[0..4].copy_from_slice(&words[0].to_le_bytes());
        sw[4..8].copy_from_slice(&words[1].to_le_bytes());
        sw[8..16].copy_from_slice(&fpu::xfeatures().to_le_bytes());
        sw[16..20].copy_from_slice(&(fpu::area_size() as u32).to_le_bytes());
        sw[20..48].fill(0);
        let area = fpu::area_size();
        image[area..area + MAGIC2_SIZE].copy_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    }
    image
}

/// Read a signal frame's FPU image at `address` into a state this CPU can load, checked
/// the way Linux checks it (magics, sizes, the XSAVE header, MXCSR): Err for anything
/// XRSTOR or FXRSTOR would fault on.
fn read_fpstate(address: u64) -> Result<FpuState, ()> {
    let mut state = FpuState::initial();
    let image = state.bytes_mut();
    copy_from_user(&mut image[..LEGACY_SIZE], address).map_err(|_| ())?;
    let word = |bytes: &[u8], at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mxcsr = word(image, MXCSR_OFFSET);
    if mxcsr & !fpu::mxcsr_mask() != 0 {
        return Err(());
    }
    if !fpu::uses_xsave() {
        return Ok(state);
    }
    let area = fpu::area_size();
    let magic1 = word(image, SW_BYTES_OFFSET);
    let extended_size = word(image, SW_BYTES_OFFSET + 4) as usize;
    let xstate_size = word(image, SW_BYTES_OFFSET + 16) as usize;
    let extended = magic1 == FP_XSTATE_MAGIC1
        && xstate_size == area
        && extended_size == area + MAGIC2_SIZE
        && read_user::<u32>(address + area as u64) == Ok(FP_XSTATE_MAGIC2);
    let header = LEGACY_SIZE..LEGACY_SIZE + XSAVE_HEADER_SIZE;
    if extended {
        copy_from_user(&mut image[LEGACY_SIZE..area], address + LEGACY_SIZE as u64)
            .map_err(|_| ())?;
        let xstate_bv =
            u64::from_le_bytes(image[header.start..header.start + 8].try_into().unwrap());
        let rest_zero = image[header.start + 8..header.end]
            .iter()
            .all(|&byte| byte == 0);
        if xstate_bv & !fpu::xfeatures() != 0 || !rest_zero {
            return Err(());
        }
    } else {
        // A legacy-only image: x87 and SSE from it, every other component initial.
        image[header.clone()].fill(0);
        image[header.start..header.start + 8].copy_from_slice(&XFEATURES_FP_SSE.to_le_bytes());
    }
    Ok(state)
}

/// Load the initial FPU state on this CPU (the handler starts with it, as on Linux).
fn reset_fpu() {
    // SAFETY: an initial image, used by nobody else.
    unsafe { FpuState::initial().restore() };
}

/// Where the frame for a handler of `action` goes, given the interrupted RSP: below the
/// red zone, or at the top of the alternate stack; the FPU image 64-byte aligned below,
/// the frame under it aligned so that RSP + 8 is a multiple of 16 (as after a call).
fn frame_placement(task: &Task, action: &Action, sp: u64) -> (u64, u64) {
    let mut sp = sp.wrapping_sub(RED_ZONE);
    let altstack = *task.signals.altstack.lock();
    if action.flags & super::SA_ONSTACK != 0 && altstack.is_enabled() && !altstack.contains(sp) {
        sp = altstack.base + altstack.size;
    }
    let fpstate = sp.wrapping_sub(fpstate_frame_size() as u64) & !63;
    let frame = (fpstate.wrapping_sub(core::mem::size_of::<RtSigFrame>() as u64) & !15) - 8;
    (frame, fpstate)
}

/// The siginfo of `signal` with `info`.
fn siginfo(signal: u8, info: &Info) -> SigInfo {
    let mut fields = [0u64; 14];
    fields[0] = if info.code <= 0 {
        // Sent by a process (kill, tgkill): si_pid and si_uid.
        u64::from(info.pid) | (u64::from(info.uid) << 32)
    } else {
        info.address // si_addr
    };
    SigInfo {
        signo: i32::from(signal),
        errno: 0,
        code: info.code,
        padding: 0,
        fields,
    }
}

/// Build the frame for a handler of `signal` on the user stack and point `regs` at the
/// handler. `regs` is the complete user frame; `blocked` the mask the handler's
/// sigreturn restores. Err when the frame cannot be written (the caller forces SIGSEGV).
pub fn setup(
    regs: &mut PtRegs,
    signal: u8,
    info: &Info,
    action: &Action,
    handler: u64,
    blocked: SigSet,
) -> Result<(), ()> {
    let task = task::current();
    if action.flags & super::SA_RESTORER == 0 {
        return Err(()); // x86_64 has no default restorer
    }
    let (frame_address, fpstate_address) = frame_placement(task, action, regs.rsp);
    let trap: TrapInfo = task.signals.trap();
    let altstack = *task.signals.altstack.lock();
    let frame = RtSigFrame {
        pretcode: action.restorer,
        uc: UContext {
            flags: UC_SIGCONTEXT_SS
                | UC_STRICT_RESTORE_SS
                | if fpu::uses_xsave() { UC_FP_XSTATE } else { 0 },
            link: 0,
            stack: saved_altstack(&altstack),
            mcontext: SigContext {
                r8: regs.r8,
                r9: regs.r9,
                r10: regs.r10,
                r11: regs.r11,
                r12: regs.r12,
                r13: regs.r13,
                r14: regs.r14,
                r15: regs.r15,
                rdi: regs.rdi,
                rsi: regs.rsi,
                rbp: regs.rbp,
                rbx: regs.rbx,
                rdx: regs.rdx,
                rax: regs.rax,
                rcx: regs.rcx,
                rsp: regs.rsp,
                rip: regs.rip,
                eflags: regs.eflags,
                cs: regs.cs as u16,
                gs: 0,
                fs: 0,
                ss: regs.ss as u16,
                err: trap.error_code,
                trapno: trap.trapno,
                oldmask: blocked.0,
                cr2: trap.cr2,
                fpstate: fpstate_address,
                reserved: [0; 8],
            },
            sigmask: blocked.0,
        },
        info: siginfo(signal, info),
    };
    copy_to_user(fpstate_address, &fpstate_image()).map_err(|_| ())?;
    // SAFETY: RtSigFrame is repr(C) integers with explicit padding fields (the size
    // assertions above show there are no implicit holes), so all its bytes are
    // initialised and may be read as bytes.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (&raw const frame).cast::<u8>(),
            core::mem::size_of::<RtSigFrame>(),
        )
    };
    copy_to_user(frame_address, bytes).map_err(|_| ())?;
    if altstack.auto_disarm && altstack.contains(frame_address) {
        *task.signals.altstack.lock() = AltStack::default();
    }
    reset_fpu();
    regs.rdi = u64::from(signal);
    regs.rax = 0;
    regs.rsi = frame_address + core::mem::offset_of!(RtSigFrame, info) as u64;
    regs.rdx = frame_address + core::mem::offset_of!(RtSigFrame, uc) as u64;
    regs.rip = handler;
    regs.rsp = frame_address;
    regs.cs = USER_CS;
    regs.ss = USER_DS;
    regs.eflags &= !HANDLER_CLEARS;
    task.work.set(WorkFlags::FRAME_MODIFIED);
    Ok(())
}

/// `rt_sigreturn()`: restore the registers, mask, alternate stack and FPU state the
/// frame at the user RSP (minus the restorer's return address) holds. A frame that
/// cannot be read or restored forces SIGSEGV; the selectors and RIP it asks for are
/// checked only by the return itself (IRETQ's fault becomes SIGSEGV).
pub fn sigreturn() -> i64 {
    // SAFETY: in a syscall, the topmost frame on the running thread's kernel stack is its
    // syscall frame, which only this thread's code touches while it runs.
    let regs = unsafe { &mut *(topframe_entry::current_frame_address() as *mut PtRegs) };
    let frame_complete = topframe_entry::current_work()
        .get()
        .contains(WorkFlags::FRAME_MODIFIED);
    let user_rsp = Selected::current_user_stack_pointer(regs, frame_complete);
    // The user's RFLAGS at the syscall: SYSCALL saved them in R11 under either strategy.
    let syscall_eflags = if frame_complete {
        regs.eflags
    } else {
        regs.r11
    };
    let frame_address = user_rsp.wrapping_sub(8);
    match restore(regs, frame_address, syscall_eflags) {
        Ok(()) => {
            topframe_entry::current_work().set(WorkFlags::FRAME_MODIFIED);
            regs.rax as i64
        }
        Err(()) => {
            super::force_sigsegv(None);
            0
        }
    }
}

/// Restore `regs` and the thread's state from the frame at `frame_address`.
fn restore(regs: &mut PtRegs, frame_address: u64, syscall_eflags: u64) -> Result<(), ()> {
    let uc_address = frame_address + core::mem::offset_of!(RtSigFrame, uc) as u64;
    let uc: UContext = read_user(uc_address).map_err(|_| ())?;
    let sc = &uc.mcontext;
    let fpu_state = match sc.fpstate {
        0 => None,
        address if address & 63 != 0 => return Err(()),
        address => Some(read_fpstate(address)?),
    };
    let task = task::current();
    task.signals.set_blocked(SigSet(uc.sigmask));
    // What the restored mask unblocks is delivered on this return.
    super::recalc_current(task);
    *regs = PtRegs {
        r15: sc.r15,
        r14: sc.r14,
        r13: sc.r13,
        r12: sc.r12,
        rbp: sc.rbp,
        rbx: sc.rbx,
        r11: sc.r11,
        r10: sc.r10,
        r9: sc.r9,
        r8: sc.r8,
        rax: sc.rax,
        rcx: sc.rcx,
        rdx: sc.rdx,
        rsi: sc.rsi,
        rdi: sc.rdi,
        orig_rax: u64::MAX, // no syscall restart after a sigreturn
        rip: sc.rip,
        cs: u64::from(sc.cs | 3),
        eflags: (syscall_eflags & !FIX_EFLAGS) | (sc.eflags & FIX_EFLAGS),
        rsp: sc.rsp,
        ss: u64::from(sc.ss | 3),
    };
    if uc.flags & UC_STRICT_RESTORE_SS == 0 && regs.cs == USER_CS {
        regs.ss = USER_DS; // old programs leave SS unset: a 64-bit frame gets the usual one
    }
    // Linux squashes every alternate-stack error but a fault here.
    let _ = super::deliver::set_altstack(task, &uc.stack, regs.rsp);
    match fpu_state {
        // SAFETY: validated by `read_fpstate`; nobody else uses the fresh area.
        Some(state) => unsafe { state.restore() },
        None => reset_fpu(),
    }
    Ok(())
}
