//! Delivery: in the exit work, with the complete user frame, take the next deliverable
//! signal, let a tracer see it first, then run its action (a handler frame, or the
//! default: ignore or kill), and settle an interrupted syscall (restart or -EINTR), as
//! Linux's `arch_do_signal_or_restart`.

use super::SIGKILL;
use super::frame::{self, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, StackT};
use super::state::{
    AltStack, DefaultAction, Handler, Info, SA_NODEFER, SA_RESETHAND, SA_RESTART, SigSet,
    default_action,
};
use crate::syscall::errno::{EINTR, EINVAL, ENOMEM, EPERM};
use crate::task::{self, ExitStatus, Task};
use topframe_entry::PtRegs;

/// The restart codes a blocking syscall returns when a signal interrupts it; they never
/// reach user mode.
pub const ERESTARTSYS: i64 = 512;
pub const ERESTARTNOINTR: i64 = 513;
pub const ERESTARTNOHAND: i64 = 514;

/// MINSIGSTKSZ: the smallest alternate stack sigaltstack accepts.
const MINSIGSTKSZ: u64 = 2048;

/// How an interrupted syscall goes on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// It is executed again (RIP back on the SYSCALL instruction, RAX its number).
    Again,
    /// It returns -EINTR.
    Interrupted,
}

/// True when RAX of a syscall frame holds a restart code.
pub fn is_restart_code(regs: &PtRegs) -> bool {
    restart_code(regs, true).is_some()
}

/// The restart code in RAX of a syscall frame, if any.
fn restart_code(regs: &PtRegs, in_syscall: bool) -> Option<i64> {
    let code = (regs.rax as i64).wrapping_neg(); // RAX is the user's: any value
    (in_syscall && regs.orig_rax != u64::MAX && (ERESTARTSYS..=ERESTARTNOHAND).contains(&code))
        .then_some(code)
}

fn settle_syscall(regs: &mut PtRegs, how: Restart) {
    match how {
        Restart::Again => {
            regs.rax = regs.orig_rax;
            regs.rip -= 2; // SYSCALL is two bytes
        }
        Restart::Interrupted => regs.rax = (-EINTR) as u64,
    }
}

/// Deliver what is pending for the running thread, with `regs` its complete user frame
/// (`in_syscall`: the frame is a syscall's, whose result may be a restart code). Returns
/// when the thread may go to user mode (into a handler or where it was); never returns
/// when a signal kills it.
pub fn deliver_pending(regs: &mut PtRegs, in_syscall: bool) {
    let task = task::current();
    while let Some((signal, info)) = task.signals.dequeue(&task.process.signals) {
        let Some((signal, info)) = crate::ptrace::signal_delivery_stop(task, regs, signal, info)
        else {
            continue; // the tracer suppressed it
        };
        let action = task.process.signals.action(signal);
        let handler = match action.handler {
            Handler::Function(address) if signal != SIGKILL => address,
            Handler::Ignore if signal != SIGKILL => continue,
            _ => match default_action(signal) {
                DefaultAction::Ignore | DefaultAction::Stop if signal != SIGKILL => continue,
                _ => die(task, regs, signal),
            },
        };
        if let Some(code) = restart_code(regs, in_syscall) {
            let restart =
                code == ERESTARTNOINTR || (code == ERESTARTSYS && action.flags & SA_RESTART != 0);
            settle_syscall(
                regs,
                if restart {
                    Restart::Again
                } else {
                    Restart::Interrupted
                },
            );
        }
        let blocked = task.signals.blocked();
        if frame::setup(regs, signal, &info, &action, handler, blocked).is_err() {
            super::force_sigsegv(Some(signal));
            continue;
        }
        let mut mask = SigSet(blocked.0 | action.mask.0);
        if action.flags & SA_NODEFER == 0 {
            mask.0 |= SigSet::of(signal).0;
        }
        task.signals.set_blocked(mask);
        if action.flags & SA_RESETHAND != 0 {
            task.process.signals.reset_to_default(signal);
        }
        // Another deliverable signal gets its frame on top of this one at once.
        super::recalc_current(task);
        return;
    }
    // No handler ran: an interrupted syscall is executed again.
    if restart_code(regs, in_syscall).is_some() {
        settle_syscall(regs, Restart::Again);
    }
}

/// The default action kills: report it, as the kernel reports every killed program, and
/// end the process.
fn die(task: &Task, regs: &PtRegs, signal: u8) -> ! {
    crate::println!(
        "{}[{}]: killed by signal {signal} (RIP {:#x}, RSP {:#x})",
        task.process.name,
        task.tid,
        regs.rip,
        regs.rsp
    );
    task::exit_group(ExitStatus::Killed(signal))
}

/// A signal from a process: si_code and the sender.
pub fn sent_by_process(code: i32) -> Info {
    Info {
        code,
        pid: task::current().process.pid,
        uid: 0,
        address: 0,
    }
}

/// sigaltstack's new stack for `task`, whose user RSP is `sp` (also rt_sigreturn's
/// restore of uc_stack).
pub fn set_altstack(task: &Task, stack: &StackT, sp: u64) -> Result<(), i64> {
    let mut altstack = task.signals.altstack.lock();
    if altstack.contains(sp) {
        return Err(EPERM); // it cannot change while in use
    }
    let mode = stack.flags & !SS_AUTODISARM;
    *altstack = match mode {
        SS_DISABLE => AltStack::default(),
        0 | SS_ONSTACK if stack.size < MINSIGSTKSZ => return Err(ENOMEM),
        0 | SS_ONSTACK => AltStack {
            base: stack.sp,
            size: stack.size,
            auto_disarm: stack.flags & SS_AUTODISARM != 0,
        },
        _ => return Err(EINVAL),
    };
    Ok(())
}
