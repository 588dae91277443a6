//! Locks for data shared between CPUs and interrupt handlers.

use core::ops::{Deref, DerefMut};
use x86_64::instructions::interrupts;

/// A spin lock that keeps interrupts off on the holding CPU while it is held, so an
/// interrupt handler on the same CPU can never spin on a lock its own CPU holds.
pub struct IrqSafeLock<T> {
    inner: spin::Mutex<T>,
}

/// Access to the data of an [`IrqSafeLock`]; interrupts come back on when it drops,
/// if they were on before.
pub struct IrqSafeGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    interrupts_were_enabled: bool,
}

impl<T> IrqSafeLock<T> {
    pub const fn new(value: T) -> Self {
        IrqSafeLock {
            inner: spin::Mutex::new(value),
        }
    }

    /// Disable interrupts, then take the lock.
    pub fn lock(&self) -> IrqSafeGuard<'_, T> {
        let interrupts_were_enabled = interrupts::are_enabled();
        interrupts::disable();
        IrqSafeGuard {
            guard: Some(self.inner.lock()),
            interrupts_were_enabled,
        }
    }

    /// True when some CPU holds the lock (for the panic path's decisions only).
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Release a lock whose holder will never release it (a CPU that panicked while
    /// holding it).
    ///
    /// # Safety
    /// The holder must never touch the data again.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: the caller guarantees the holder is gone for good.
        unsafe { self.inner.force_unlock() }
    }
}

impl<T> Deref for IrqSafeGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is present until drop")
    }
}

impl<T> DerefMut for IrqSafeGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is present until drop")
    }
}

impl<T> Drop for IrqSafeGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock before interrupts can come back.
        drop(self.guard.take());
        if self.interrupts_were_enabled {
            interrupts::enable();
        }
    }
}
