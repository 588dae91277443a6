//! Signal state: actions (per process), masks, pending sets and alternate stacks (per
//! thread), and what Linux does by default with each signal.

use super::{SIGKILL, SIGNALS, SIGSTOP};
use crate::sync::IrqSafeLock;
use core::sync::atomic::{AtomicU64, Ordering};

/// A set of signals: bit `n - 1` for signal `n` (the kernel's 64-bit `sigset_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigSet(pub u64);

impl SigSet {
    pub const fn of(signal: u8) -> SigSet {
        SigSet(1 << (signal - 1))
    }

    pub fn contains(self, signal: u8) -> bool {
        self.0 & SigSet::of(signal).0 != 0
    }

    /// SIGKILL and SIGSTOP can never be blocked: they leave any mask silently.
    pub fn without_unblockable(self) -> SigSet {
        SigSet(self.0 & !(SigSet::of(SIGKILL).0 | SigSet::of(SIGSTOP).0))
    }

    /// The lowest-numbered signal in the set.
    pub fn first(self) -> Option<u8> {
        (self.0 != 0).then(|| self.0.trailing_zeros() as u8 + 1)
    }

    /// The signal Linux delivers first of the set (`next_signal`): the lowest synchronous
    /// one (SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS), else the lowest.
    pub fn next(self) -> Option<u8> {
        const SYNCHRONOUS: u64 = (1 << (4 - 1))
            | (1 << (5 - 1))
            | (1 << (7 - 1))
            | (1 << (8 - 1))
            | (1 << (11 - 1))
            | (1 << (31 - 1));
        match self.0 & SYNCHRONOUS {
            0 => self.first(),
            synchronous => SigSet(synchronous).first(),
        }
    }
}

/// What a signal does when delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Handler {
    #[default]
    Default,
    Ignore,
    /// A user function.
    Function(u64),
}

/// `struct sigaction` as the kernel keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    pub handler: Handler,
    pub flags: u64,
    pub restorer: u64,
    pub mask: SigSet,
}

/// sigaction flags (`<asm/signal.h>`).
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_NOCLDSTOP: u64 = 0x1;
pub const SA_NOCLDWAIT: u64 = 0x2;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_EXPOSE_TAGBITS: u64 = 0x800;
/// The sa_flags bits Linux knows (`UAPI_SA_FLAGS`); rt_sigaction clears the others
/// (SA_UNSUPPORTED among them), so that programs can tell which flags are supported.
pub const SA_KNOWN: u64 = SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_EXPOSE_TAGBITS
    | SA_RESTORER
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND;

/// The default action of each signal (Linux's `sig_kernel_*` sets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate "with a core dump" (no dumps here: reported like Terminate).
    Core,
    Ignore,
    /// Stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU): job control is not implemented, so these
    /// are ignored, as are SIGCONT's continues.
    Stop,
}

pub fn default_action(signal: u8) -> DefaultAction {
    match signal {
        17 | 18 | 23 | 28 => DefaultAction::Ignore, // SIGCHLD SIGCONT SIGURG SIGWINCH
        19..=22 => DefaultAction::Stop,
        3 | 4 | 5 | 6 | 7 | 8 | 11 | 24 | 25 | 31 => DefaultAction::Core,
        _ => DefaultAction::Terminate,
    }
}

/// What a handler's siginfo says about one signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    pub code: i32,
    /// The sender (kill, tgkill).
    pub pid: u32,
    pub uid: u32,
    /// The faulting address (SIGSEGV, SIGBUS) or instruction (SIGILL, SIGFPE, SIGTRAP).
    pub address: u64,
}

/// Signals waiting for delivery, each with the siginfo of its first sending (standard
/// signals do not queue twice; neither do real-time ones here).
struct Pending {
    set: SigSet,
    info: [Info; SIGNALS as usize],
}

impl Pending {
    const fn new() -> Pending {
        Pending {
            set: SigSet(0),
            info: [Info {
                code: 0,
                pid: 0,
                uid: 0,
                address: 0,
            }; SIGNALS as usize],
        }
    }

    fn queue(&mut self, signal: u8, info: Info) {
        if !self.set.contains(signal) {
            self.set.0 |= SigSet::of(signal).0;
            self.info[usize::from(signal - 1)] = info;
        }
    }

    fn take(&mut self, signal: u8) -> Option<Info> {
        self.set.contains(signal).then(|| {
            self.set.0 &= !SigSet::of(signal).0;
            self.info[usize::from(signal - 1)]
        })
    }
}

/// The process's half: actions and process-directed pending signals.
pub struct ProcessSignals {
    actions: IrqSafeLock<[Action; SIGNALS as usize]>,
    pending: IrqSafeLock<Pending>,
}

impl ProcessSignals {
    pub const fn new() -> ProcessSignals {
        ProcessSignals {
            actions: IrqSafeLock::new(
                [Action {
                    handler: Handler::Default,
                    flags: 0,
                    restorer: 0,
                    mask: SigSet(0),
                }; SIGNALS as usize],
            ),
            pending: IrqSafeLock::new(Pending::new()),
        }
    }

    /// A fork child's: the same actions, nothing pending.
    pub fn inherit(&self) -> ProcessSignals {
        let signals = ProcessSignals::new();
        *signals.actions.lock() = *self.actions.lock();
        signals
    }

    pub fn action(&self, signal: u8) -> Action {
        self.actions.lock()[usize::from(signal - 1)]
    }

    pub fn set_action(&self, signal: u8, action: Action) {
        self.actions.lock()[usize::from(signal - 1)] = action;
    }

    /// SA_RESETHAND after a delivery: the handler becomes SIG_DFL; flags, restorer and
    /// mask stay (Linux resets only `sa_handler`).
    pub fn reset_to_default(&self, signal: u8) {
        self.actions.lock()[usize::from(signal - 1)].handler = Handler::Default;
    }

    /// True when sending `signal` would have no effect at all (ignored, explicitly or by
    /// default): it is dropped at once, as Linux drops it.
    pub fn discards(&self, signal: u8) -> bool {
        match self.action(signal).handler {
            Handler::Ignore => true,
            Handler::Default => matches!(
                default_action(signal),
                DefaultAction::Ignore | DefaultAction::Stop
            ),
            Handler::Function(_) => false,
        }
    }

    /// force_sig: a signal that is ignored, or blocked by the faulting thread, gets its
    /// default action back (a fault inside its own handler kills).
    pub fn force_deliverable(&self, signal: u8, blocked: bool) {
        let mut actions = self.actions.lock();
        let action = &mut actions[usize::from(signal - 1)];
        if blocked || action.handler == Handler::Ignore {
            *action = Action::default();
        }
    }

    /// Drop a pending process-directed `signal` (its action became "ignore").
    pub fn discard_pending(&self, signal: u8) {
        self.pending.lock().take(signal);
    }

    pub fn queue(&self, signal: u8, info: Info) {
        self.pending.lock().queue(signal, info);
    }

    pub fn pending(&self) -> SigSet {
        self.pending.lock().set
    }

    fn take(&self, signal: u8) -> Option<Info> {
        self.pending.lock().take(signal)
    }
}

/// sigaltstack's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    pub base: u64,
    pub size: u64,
    /// SS_AUTODISARM was asked for.
    pub auto_disarm: bool,
}

impl AltStack {
    pub fn is_enabled(&self) -> bool {
        self.size != 0
    }

    /// True when `sp` lies on the alternate stack (Linux's `on_sig_stack`).
    pub fn contains(&self, sp: u64) -> bool {
        self.is_enabled() && sp > self.base && sp - self.base <= self.size
    }
}

/// The exception a fault signal came from, for the handler's sigcontext.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapInfo {
    pub trapno: u64,
    pub error_code: u64,
    pub cr2: u64,
}

/// The thread's half: mask, thread-directed pending signals, alternate stack, and the
/// details of its last fault.
pub struct ThreadSignals {
    blocked: AtomicU64,
    pending: IrqSafeLock<Pending>,
    pub altstack: IrqSafeLock<AltStack>,
    trap: IrqSafeLock<TrapInfo>,
}

impl ThreadSignals {
    /// A new thread's: the creator's mask (and, for fork, its alternate stack).
    pub fn new(blocked: SigSet, altstack: AltStack) -> ThreadSignals {
        ThreadSignals {
            blocked: AtomicU64::new(blocked.without_unblockable().0),
            pending: IrqSafeLock::new(Pending::new()),
            altstack: IrqSafeLock::new(altstack),
            trap: IrqSafeLock::new(TrapInfo::default()),
        }
    }

    pub fn blocked(&self) -> SigSet {
        SigSet(self.blocked.load(Ordering::Acquire))
    }

    pub fn set_blocked(&self, mask: SigSet) {
        self.blocked
            .store(mask.without_unblockable().0, Ordering::Release);
    }

    pub fn blocks(&self, signal: u8) -> bool {
        self.blocked().contains(signal)
    }

    pub fn unblock(&self, signal: u8) {
        self.blocked
            .fetch_and(!SigSet::of(signal).0, Ordering::AcqRel);
    }

    pub fn queue(&self, signal: u8, info: Info) {
        self.pending.lock().queue(signal, info);
    }

    pub fn pending(&self) -> SigSet {
        self.pending.lock().set
    }

    /// Drop a pending thread-directed `signal` (its action became "ignore").
    pub fn discard_pending(&self, signal: u8) {
        self.pending.lock().take(signal);
    }

    pub fn set_trap(&self, trap: TrapInfo) {
        *self.trap.lock() = trap;
    }

    pub fn trap(&self) -> TrapInfo {
        *self.trap.lock()
    }

    /// The lowest unblocked signal pending for this thread or its process.
    pub fn deliverable(&self, process: &ProcessSignals) -> Option<u8> {
        let pending = self.pending().0 | process.pending().0;
        SigSet(pending & !self.blocked().0).first()
    }

    /// Take the next deliverable signal (thread-directed first, as Linux's dequeue).
    pub fn dequeue(&self, process: &ProcessSignals) -> Option<(u8, Info)> {
        let blocked = self.blocked().0;
        let own = SigSet(self.pending().0 & !blocked).next();
        if let Some(signal) = own
            && let Some(info) = self.pending.lock().take(signal)
        {
            return Some((signal, info));
        }
        let shared = SigSet(process.pending().0 & !blocked).next()?;
        process.take(shared).map(|info| (shared, info))
    }
}
