//! Cross-CPU function calls: run a function on another CPU through an IPI and wait until
//! it has run there. TLB shootdowns use this; so will the scheduler's remote work.
//!
//! Each CPU has one mailbox. A caller claims the target's mailbox, posts the request,
//! sends CALL_FUNCTION_VECTOR and spins until the target acknowledges. While it spins it
//! serves its own mailbox, so two CPUs calling each other cannot deadlock even with
//! interrupts off.

use crate::{apic, smp};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use topframe_kernel::MAX_CPUS;

/// The IPI that makes a CPU run its mailbox.
pub const CALL_FUNCTION_VECTOR: u8 = 0xfc;

/// A function another CPU runs with one argument.
pub type RemoteFunction = fn(u64);

/// One CPU's mailbox.
struct Mailbox {
    /// Set while a caller owns the mailbox.
    claimed: AtomicBool,
    /// The posted function (`RemoteFunction` as usize; 0 = nothing posted).
    function: AtomicUsize,
    argument: AtomicU64,
    /// Set by the target once the function has returned.
    done: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Mailbox = Mailbox {
    claimed: AtomicBool::new(false),
    function: AtomicUsize::new(0),
    argument: AtomicU64::new(0),
    done: AtomicBool::new(false),
};

static MAILBOXES: [Mailbox; MAX_CPUS] = [EMPTY; MAX_CPUS];

/// Run `function(argument)` on `cpu` and wait for it. On the calling CPU it just runs.
pub fn call_on(cpu: usize, function: RemoteFunction, argument: u64) {
    let here = topframe_percpu::cpu_id();
    if cpu == here {
        function(argument);
        return;
    }
    let mailbox = &MAILBOXES[cpu];
    while mailbox
        .claimed
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        serve_mailbox(here);
        core::hint::spin_loop();
    }
    mailbox.argument.store(argument, Ordering::Relaxed);
    mailbox.done.store(false, Ordering::Relaxed);
    mailbox.function.store(function as usize, Ordering::Release);
    apic::send_ipi(smp::apic_id(cpu), CALL_FUNCTION_VECTOR);
    while !mailbox.done.load(Ordering::Acquire) {
        serve_mailbox(here);
        core::hint::spin_loop();
    }
    mailbox.claimed.store(false, Ordering::Release);
}

/// Run what is posted in this CPU's mailbox (a spinning lock waiter's duty: the holder
/// may be waiting for this CPU's acknowledgement).
pub fn serve_this_cpu() {
    serve_mailbox(topframe_percpu::cpu_id());
}

/// Run what is posted in `cpu`'s mailbox, if anything (the IPI handler, and callers
/// waiting for their own calls).
pub fn serve_mailbox(cpu: usize) {
    let mailbox = &MAILBOXES[cpu];
    let posted = mailbox.function.swap(0, Ordering::Acquire);
    if posted != 0 {
        // SAFETY: only `call_on` stores into `function`, always a `RemoteFunction`.
        let function: RemoteFunction =
            unsafe { core::mem::transmute::<usize, RemoteFunction>(posted) };
        function(mailbox.argument.load(Ordering::Relaxed));
        mailbox.done.store(true, Ordering::Release);
    }
}
