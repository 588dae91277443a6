//! User mode: address spaces, access to user memory, loading programs.

pub mod address_space;
pub mod copy;
pub mod elf;
pub mod initial_stack;
pub mod memory;
