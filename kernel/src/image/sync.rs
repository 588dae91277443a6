//! Locks for data shared between CPUs and interrupt handlers.

use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::instructions::interrupts;

/// A spin lock that keeps interrupts off on the holding CPU while it is held, so an
/// interrupt handler on the same CPU can never spin on a lock its own CPU holds. It
/// remembers whether interrupts were on when it was taken and restores that on release,
/// so nested locks must be released in the reverse order (as guards are).
///
/// Waiting is where spin locks deadlock against cross-CPU calls: a holder may be waiting
/// for this CPU to acknowledge a TLB shootdown. So a waiter serves this CPU's cross-CPU
/// calls while it spins, and spins with interrupts on when they were on before.
pub struct IrqSpinRawMutex {
    locked: AtomicBool,
    /// The holder's interrupt flag from before it took the lock.
    interrupts_were_enabled: AtomicBool,
}

// SAFETY: `lock` returns only once this CPU set `locked` from false to true (Acquire),
// `unlock` clears it (Release): one holder at a time, with its writes visible to the next.
unsafe impl lock_api::RawMutex for IrqSpinRawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: IrqSpinRawMutex = IrqSpinRawMutex {
        locked: AtomicBool::new(false),
        interrupts_were_enabled: AtomicBool::new(false),
    };

    // The interrupt flag belongs to the CPU that took the lock: release it there.
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        let interrupts_were_enabled = interrupts::are_enabled();
        loop {
            interrupts::disable();
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                break;
            }
            if interrupts_were_enabled {
                interrupts::enable();
            }
            while self.locked.load(Ordering::Relaxed) {
                crate::ipi::serve_this_cpu();
                core::hint::spin_loop();
            }
        }
        self.interrupts_were_enabled
            .store(interrupts_were_enabled, Ordering::Relaxed);
    }

    fn try_lock(&self) -> bool {
        let interrupts_were_enabled = interrupts::are_enabled();
        interrupts::disable();
        let taken = self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if taken {
            self.interrupts_were_enabled
                .store(interrupts_were_enabled, Ordering::Relaxed);
        } else if interrupts_were_enabled {
            interrupts::enable();
        }
        taken
    }

    unsafe fn unlock(&self) {
        let interrupts_were_enabled = self.interrupts_were_enabled.load(Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
        if interrupts_were_enabled {
            interrupts::enable();
        }
    }

    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

/// Data behind an [`IrqSpinRawMutex`].
pub type IrqSafeLock<T> = lock_api::Mutex<IrqSpinRawMutex, T>;
