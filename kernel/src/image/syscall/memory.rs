//! Memory syscalls: mmap, munmap, mprotect, brk.

use super::errno::{EBADF, EEXIST, EINVAL, ENOMEM};
use crate::task;
use topframe_kernel::layout::{PAGE_SIZE, align_up, is_user_range};
use topframe_kernel::vma::{Access, MAX_AREAS};

/// An operation may add at most this many areas (one new, split at both ends).
const AREAS_ADDED_AT_MOST: usize = 2;

/// True when the process may not have more areas.
fn too_many_areas(memory: &crate::user::memory::UserMemory) -> bool {
    memory.areas.len() + AREAS_ADDED_AT_MOST > MAX_AREAS
}

/// Protection bits mmap and mprotect accept.
const PROT_READ: u64 = 0x1;
const PROT_WRITE: u64 = 0x2;
const PROT_ALL: u64 = 0x7;
const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
/// MAP_FIXED, but failing with EEXIST instead of replacing what is mapped there.
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

pub fn mmap(address: u64, length: u64, prot: u64, flags: u64, _fd: u64, offset: u64) -> i64 {
    if length == 0 || prot & !PROT_ALL != 0 || flags & (MAP_SHARED | MAP_PRIVATE) == 0 {
        return -EINVAL;
    }
    if flags & MAP_ANONYMOUS == 0 {
        return -EBADF; // no files to map yet
    }
    if !offset.is_multiple_of(PAGE_SIZE) {
        return -EINVAL;
    }
    let Some(length) = align_up(length, PAGE_SIZE) else {
        return -ENOMEM;
    };
    let mm = task::current().mm();
    let mut memory = mm.memory.lock();
    if too_many_areas(&memory) {
        return -ENOMEM;
    }
    let start = if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        // Linux checks the range first (ENOMEM beyond user space), then the alignment.
        if !is_user_range(address, length) {
            return -ENOMEM;
        }
        if !address.is_multiple_of(PAGE_SIZE) || address == 0 {
            return -EINVAL;
        }
        // NOREPLACE wins over MAP_FIXED, as on Linux.
        if flags & MAP_FIXED_NOREPLACE != 0
            && !memory
                .areas
                .overlapping(address..address + length)
                .is_empty()
        {
            return -EEXIST;
        }
        address
    } else {
        match memory
            .areas
            .find_free(length, memory.brk.max(PAGE_SIZE), task::MMAP_BASE)
        {
            Some(start) => start,
            None => return -ENOMEM,
        }
    };
    memory.map(&mm.space, start, start + length, Access::from_prot(prot));
    start as i64
}

pub fn munmap(address: u64, length: u64) -> i64 {
    let Some(length) = align_up(length, PAGE_SIZE) else {
        return -EINVAL;
    };
    if !address.is_multiple_of(PAGE_SIZE) || length == 0 || !is_user_range(address, length) {
        return -EINVAL;
    }
    let mm = task::current().mm();
    mm.memory.lock().unmap(&mm.space, address, address + length);
    0
}

pub fn mprotect(address: u64, length: u64, prot: u64) -> i64 {
    if !address.is_multiple_of(PAGE_SIZE) || prot & !PROT_ALL != 0 {
        return -EINVAL;
    }
    let Some(length) = align_up(length, PAGE_SIZE) else {
        return -ENOMEM;
    };
    if length == 0 {
        return 0;
    }
    if !is_user_range(address, length) {
        return -ENOMEM;
    }
    let mm = task::current().mm();
    let mut memory = mm.memory.lock();
    if too_many_areas(&memory) {
        return -ENOMEM;
    }
    let access = Access::from_prot(prot);
    if memory
        .areas
        .protect(address..address + length, access)
        .is_err()
    {
        return -ENOMEM;
    }
    mm.space.protect_range(address, address + length, access);
    0
}

/// The heap end may move between its start and the next area above it; the answer is
/// always the (new or unchanged) end, as Linux's brk.
pub fn brk(address: u64) -> i64 {
    let mm = task::current().mm();
    let mut memory = mm.memory.lock();
    let current = memory.brk;
    if address < memory.brk_start {
        return current as i64;
    }
    let (Some(old_top), Some(new_top)) =
        (align_up(current, PAGE_SIZE), align_up(address, PAGE_SIZE))
    else {
        return current as i64;
    };
    if new_top > old_top && too_many_areas(&memory) {
        return current as i64;
    }
    if new_top > old_top {
        let collides = !memory.areas.overlapping(old_top..new_top).is_empty();
        if collides || new_top > task::MMAP_BASE {
            return current as i64;
        }
        memory
            .areas
            .insert(old_top..new_top, Access::from_prot(PROT_READ | PROT_WRITE));
    } else if new_top < old_top {
        memory.unmap(&mm.space, new_top, old_top);
    }
    memory.brk = address;
    address as i64
}
