//! A user address space with its areas (Linux's `mm_struct`): shared by the threads of a
//! process (and by `CLONE_VM` children), copied by `fork`.

use crate::sync::IrqSafeLock;
use crate::user::address_space::AddressSpace;
use crate::user::memory::UserMemory;
use core::sync::atomic::{AtomicUsize, Ordering};

pub struct Mm {
    pub space: AddressSpace,
    pub memory: IrqSafeLock<UserMemory>,
    /// Tasks using the memory (Linux's `mm_users`); the last one out frees the pages.
    users: AtomicUsize,
}

impl Mm {
    /// An address space with no user pages, and one user.
    pub fn new() -> Option<Mm> {
        Some(Mm {
            space: AddressSpace::new()?,
            memory: IrqSafeLock::new(UserMemory::new(0)),
            users: AtomicUsize::new(1),
        })
    }

    /// A private copy of this one's areas and pages (`fork`), with one user.
    pub fn duplicate(&self) -> Option<Mm> {
        let memory = self.memory.lock();
        let space = self.space.duplicate()?;
        Some(Mm {
            space,
            memory: IrqSafeLock::new(memory.clone()),
            users: AtomicUsize::new(1),
        })
    }

    /// One more task uses the memory (a `CLONE_VM` child).
    pub fn add_user(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// A task stops using the memory, having loaded other page tables; the last one frees
    /// every user page now (the tables themselves go when the last reference drops).
    pub fn remove_user(&self) {
        if self.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut memory = self.memory.lock();
            *memory = UserMemory::new(0);
            self.space.clear_user_half();
        }
    }
}
