//! The machine as a program sees it: uname, arch_prctl.

use super::errno::{EFAULT, EINVAL, EPERM};
use crate::task;
use crate::user::copy::{copy_to_user, write_user};
use core::sync::atomic::Ordering;
use topframe_kernel::layout::USER_SPACE_END;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{FsBase, KernelGsBase};

/// `struct new_utsname`: six 65-byte fields.
const UTS_FIELD: usize = 65;

fn uts_field(text: &str) -> [u8; UTS_FIELD] {
    let mut field = [0u8; UTS_FIELD];
    field[..text.len()].copy_from_slice(text.as_bytes());
    field
}

pub fn uname(buffer: u64) -> i64 {
    let fields = [
        uts_field("Linux"),
        uts_field("topframe"),
        uts_field("6.1.0-topframe"),
        uts_field(concat!("#1 SMP topframe ", env!("CARGO_PKG_VERSION"))),
        uts_field("x86_64"),
        uts_field("(none)"),
    ];
    match copy_to_user(buffer, fields.as_flattened()) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

/// FS/GS bases: any user address (Linux refuses kernel addresses with -EPERM, which also
/// keeps "a negative GS base means the kernel's" true for the paranoid entry). The task
/// keeps them for its context switches; the CPU holds the live ones.
pub fn arch_prctl(code: u64, address: u64) -> i64 {
    let task = task::current();
    match code {
        ARCH_SET_FS | ARCH_SET_GS if address >= USER_SPACE_END => -EPERM,
        ARCH_SET_FS => {
            task.fs_base.store(address, Ordering::Relaxed);
            FsBase::write(VirtAddr::new(address));
            0
        }
        // In the kernel the user's GS base sits in KERNEL_GS_BASE (SWAPGS swapped it).
        ARCH_SET_GS => {
            task.gs_base.store(address, Ordering::Relaxed);
            KernelGsBase::write(VirtAddr::new(address));
            0
        }
        ARCH_GET_FS => put_user_u64(address, task.fs_base.load(Ordering::Relaxed)),
        ARCH_GET_GS => put_user_u64(address, task.gs_base.load(Ordering::Relaxed)),
        _ => -EINVAL,
    }
}

fn put_user_u64(address: u64, value: u64) -> i64 {
    match write_user(address, &value) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}
