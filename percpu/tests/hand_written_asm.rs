//! Hand-written assembly in another crate reaches per-CPU variables through `sym`.

mod common;

use std::arch::asm;
use std::mem::offset_of;
use std::thread;

use topframe_percpu::{CpuPinned, per_cpu};

/// Like an entry crate's per-CPU block: only its own assembly reads and writes it.
#[repr(C)]
pub struct EntryBlock {
    pub scratch_rsp: u64,
    pub kernel_stack_top: u64,
}

per_cpu! {
    pub static ENTRY_BLOCK: EntryBlock = EntryBlock { scratch_rsp: 0, kernel_stack_top: 0 };
    pub static OLD_RSP: u64 = 0;
}

#[test]
fn sym_with_field_offsets() {
    thread::scope(|scope| {
        for index in 0..8u64 {
            scope.spawn(move || {
                common::become_new_cpu();
                let stack_top = 0x1000 * (index + 1);
                let (rsp, loaded_top): (u64, u64);
                // SAFETY: the GS base is this thread's area; the asm touches only this CPU's
                // entry block and OLD_RSP, and two registers.
                unsafe {
                    asm!(
                        // Store a kernel stack top into this CPU's entry block.
                        "mov gs:[rip + {block} + {top}], {stack_top}",
                        // Save RSP in the block's scratch slot, as a SYSCALL entry does.
                        "mov gs:[rip + {block} + {scratch}], rsp",
                        // Copy it to OLD_RSP through a register.
                        "mov {rsp}, gs:[rip + {block} + {scratch}]",
                        "mov gs:[rip + {old_rsp}], {rsp}",
                        // Read the stack top back.
                        "mov {loaded_top}, gs:[rip + {block} + {top}]",
                        block = sym ENTRY_BLOCK,
                        old_rsp = sym OLD_RSP,
                        top = const offset_of!(EntryBlock, kernel_stack_top),
                        scratch = const offset_of!(EntryBlock, scratch_rsp),
                        stack_top = in(reg) stack_top,
                        rsp = out(reg) rsp,
                        loaded_top = out(reg) loaded_top,
                        options(nostack, preserves_flags),
                    );
                }
                assert_eq!(loaded_top, stack_top);
                assert_ne!(rsp, 0);
                assert_eq!(OLD_RSP.read(), rsp);
                // Rust sees the same copy (`EntryBlock` is `Sync`; nothing writes it now).
                // SAFETY: a test thread is its own CPU for its whole life.
                let pinned = unsafe { CpuPinned::new_unchecked() };
                let block = ENTRY_BLOCK.get(&pinned);
                assert_eq!(block.kernel_stack_top, stack_top);
                assert_eq!(block.scratch_rsp, rsp);
            });
        }
    });
}
