//! The system calls the kernel implements so far, with Linux's semantics and errors.

use crate::console;
use crate::process::{self, ExitStatus};
use crate::user::copy::{copy_from_user, copy_to_user, read_user, write_user};
use topframe_kernel::layout::{PAGE_SIZE, USER_SPACE_END, align_up, is_user_range};
use topframe_kernel::vma::{Access, MAX_AREAS};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{FsBase, KernelGsBase};

pub const EPERM: i64 = 1;
pub const EBADF: i64 = 9;
pub const ENOMEM: i64 = 12;
pub const EFAULT: i64 = 14;
pub const EINVAL: i64 = 22;
pub const ENOTTY: i64 = 25;
pub const ENOSYS: i64 = 38;

/// Largest transfer of one read/write, as Linux's MAX_RW_COUNT.
const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Bytes a terminal write copies at a time (Linux's tty write chunk).
const TTY_WRITE_CHUNK: usize = 2048;

/// Write user bytes to the console as Linux writes to a terminal: chunk by chunk, each
/// copied whole or not at all; a chunk that cannot be copied ends the write, which
/// returns what earlier chunks wrote, or -EFAULT when nothing was.
fn write_console(buffer: u64, count: u64) -> i64 {
    let mut chunk = [0u8; TTY_WRITE_CHUNK];
    let mut written = 0u64;
    let count = count.min(MAX_RW_COUNT);
    while written < count {
        let want = (count - written).min(chunk.len() as u64) as usize;
        if copy_from_user(&mut chunk[..want], buffer + written).is_err() {
            break;
        }
        match core::str::from_utf8(&chunk[..want]) {
            Ok(text) => console::print(format_args!("{text}")),
            Err(_) => console::print_bytes(&chunk[..want]),
        }
        written += want as u64;
    }
    if written == 0 && count > 0 {
        -EFAULT
    } else {
        written as i64
    }
}

/// `struct stat` (x86_64), for the console descriptors.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Stat {
    device: u64,
    inode: u64,
    links: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    padding: u32,
    represented_device: u64,
    size: i64,
    block_size: i64,
    blocks: i64,
    access_time: [i64; 2],
    modification_time: [i64; 2],
    change_time: [i64; 2],
    reserved: [i64; 3],
}

/// S_IFCHR | 0620: a terminal, as Linux's /dev/console.
const CONSOLE_MODE: u32 = 0o020620;
/// Device number of /dev/console (5, 1), as `makedev` encodes it.
const CONSOLE_DEVICE: u64 = (5 << 8) | 1;

/// fstat on the console descriptors: a character device, as a terminal is on Linux.
pub fn fstat(fd: u64, buffer: u64) -> i64 {
    if fd > 2 {
        return -EBADF;
    }
    let stat = Stat {
        mode: CONSOLE_MODE,
        links: 1,
        represented_device: CONSOLE_DEVICE,
        block_size: 1024,
        ..Stat::default()
    };
    match write_user(buffer, &stat) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// Console file descriptors: 0 reads (end of file: no input yet), 1 and 2 write.
fn is_output(fd: u64) -> bool {
    fd == 1 || fd == 2
}

/// An operation may add at most this many areas (one new, split at both ends).
const AREAS_ADDED_AT_MOST: usize = 2;

/// True when the process may not have more areas.
fn too_many_areas(memory: &crate::user::memory::UserMemory) -> bool {
    memory.areas.len() + AREAS_ADDED_AT_MOST > MAX_AREAS
}

/// Linux's `access_ok`: the whole range must lie in user space before anything is copied.
fn user_range_ok(buffer: u64, count: u64) -> bool {
    is_user_range(buffer, count.min(MAX_RW_COUNT))
}

pub fn read(fd: u64, buffer: u64, count: u64) -> i64 {
    if fd != 0 {
        return -EBADF;
    }
    if !user_range_ok(buffer, count) {
        return -EFAULT;
    }
    0
}

pub fn write(fd: u64, buffer: u64, count: u64) -> i64 {
    if !is_output(fd) {
        return -EBADF;
    }
    if !user_range_ok(buffer, count) {
        return -EFAULT;
    }
    write_console(buffer, count)
}

/// `struct iovec`.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct IoVec {
    base: u64,
    len: u64,
}

/// Largest iovec count (UIO_MAXIOV).
const UIO_MAXIOV: u64 = 1024;

/// As Linux: all iovecs are read and checked first (a negative length is -EINVAL, a
/// range outside user space -EFAULT, the total is capped at MAX_RW_COUNT), then written
/// in order until one comes up short.
pub fn writev(fd: u64, iov: u64, count: u64) -> i64 {
    if !is_output(fd) {
        return -EBADF;
    }
    if count > UIO_MAXIOV {
        return -EINVAL;
    }
    let mut vectors = alloc::vec::Vec::with_capacity(count as usize);
    let mut budget = MAX_RW_COUNT;
    for index in 0..count {
        let Ok(mut vector) = read_user::<IoVec>(iov + index * size_of::<IoVec>() as u64) else {
            return -EFAULT;
        };
        if (vector.len as i64) < 0 {
            return -EINVAL;
        }
        if !is_user_range(vector.base, vector.len) {
            return -EFAULT;
        }
        vector.len = vector.len.min(budget);
        budget -= vector.len;
        vectors.push(vector);
    }
    let mut total = 0i64;
    for vector in vectors.iter().filter(|vector| vector.len > 0) {
        let written = write_console(vector.base, vector.len);
        if written < 0 {
            return if total > 0 { total } else { written };
        }
        total += written;
        if (written as u64) < vector.len {
            break;
        }
    }
    total
}

pub fn ioctl(fd: u64, _request: u64, _argument: u64) -> i64 {
    if fd <= 2 { -ENOTTY } else { -EBADF }
}

pub fn getpid() -> i64 {
    i64::from(process::current().pid)
}

pub fn getppid() -> i64 {
    i64::from(process::current().parent_pid)
}

pub fn exit(status: u64) -> i64 {
    process::exit_current(ExitStatus::Exited(status as u8))
}

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
/// keeps "a negative GS base means the kernel's" true for the paranoid entry).
pub fn arch_prctl(code: u64, address: u64) -> i64 {
    match code {
        ARCH_SET_FS | ARCH_SET_GS if address >= USER_SPACE_END => -EPERM,
        ARCH_SET_FS => {
            FsBase::write(VirtAddr::new(address));
            0
        }
        // In the kernel the user's GS base sits in KERNEL_GS_BASE (SWAPGS swapped it).
        ARCH_SET_GS => {
            KernelGsBase::write(VirtAddr::new(address));
            0
        }
        ARCH_GET_FS => put_user_u64(address, FsBase::read().as_u64()),
        ARCH_GET_GS => put_user_u64(address, KernelGsBase::read().as_u64()),
        _ => -EINVAL,
    }
}

fn put_user_u64(address: u64, value: u64) -> i64 {
    match write_user(address, &value) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

pub fn set_tid_address(address: u64) -> i64 {
    let process = process::current();
    process
        .clear_child_tid
        .store(address, core::sync::atomic::Ordering::Relaxed);
    i64::from(process.pid)
}

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;

/// `struct timespec`.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Timespec {
    seconds: i64,
    nanoseconds: i64,
}

/// TIMER_ABSTIME: the request is a time on the clock, not an interval.
const TIMER_ABSTIME: u64 = 1;

/// Sleep until the request passes. Nothing can interrupt a sleep yet (no signals), so
/// `remaining` is never written.
pub fn clock_nanosleep(clock: u64, flags: u64, request: u64, _remaining: u64) -> i64 {
    let Ok(time) = read_user::<Timespec>(request) else {
        return -EFAULT;
    };
    if time.seconds < 0 || !(0..1_000_000_000).contains(&time.nanoseconds) {
        return -EINVAL;
    }
    let requested = (time.seconds as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(time.nanoseconds as u64);
    let clock_offset = match clock {
        CLOCK_MONOTONIC | CLOCK_BOOTTIME => 0,
        CLOCK_REALTIME => crate::tsc::boot_unix_nanoseconds(),
        _ => return -EINVAL,
    };
    let deadline = if flags & TIMER_ABSTIME != 0 {
        requested.saturating_sub(clock_offset)
    } else {
        crate::tsc::nanoseconds().saturating_add(requested)
    };
    crate::timer::sleep_until(crate::tsc::from_nanoseconds(deadline));
    0
}

pub fn nanosleep(request: u64, remaining: u64) -> i64 {
    clock_nanosleep(CLOCK_MONOTONIC, 0, request, remaining)
}

pub fn clock_gettime(clock: u64, timespec: u64) -> i64 {
    let nanoseconds = match clock {
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            crate::tsc::nanoseconds()
        }
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => {
            crate::tsc::nanoseconds() + crate::tsc::boot_unix_nanoseconds()
        }
        _ => return -EINVAL,
    };
    let value = Timespec {
        seconds: (nanoseconds / 1_000_000_000) as i64,
        nanoseconds: (nanoseconds % 1_000_000_000) as i64,
    };
    match write_user(timespec, &value) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// Protection bits mmap and mprotect accept.
const PROT_READ: u64 = 0x1;
const PROT_WRITE: u64 = 0x2;
const PROT_ALL: u64 = 0x7;
const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;

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
    let process = process::current();
    let mut memory = process.memory.lock();
    if too_many_areas(&memory) {
        return -ENOMEM;
    }
    let start = if flags & MAP_FIXED != 0 {
        if !address.is_multiple_of(PAGE_SIZE) || !is_user_range(address, length) || address == 0 {
            return -EINVAL;
        }
        address
    } else {
        match memory
            .areas
            .find_free(length, memory.brk.max(PAGE_SIZE), process::MMAP_BASE)
        {
            Some(start) => start,
            None => return -ENOMEM,
        }
    };
    memory.map(
        &process.space,
        start,
        start + length,
        Access::from_prot(prot),
    );
    start as i64
}

pub fn munmap(address: u64, length: u64) -> i64 {
    let Some(length) = align_up(length, PAGE_SIZE) else {
        return -EINVAL;
    };
    if !address.is_multiple_of(PAGE_SIZE) || length == 0 || !is_user_range(address, length) {
        return -EINVAL;
    }
    let process = process::current();
    process
        .memory
        .lock()
        .unmap(&process.space, address, address + length);
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
    let process = process::current();
    let mut memory = process.memory.lock();
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
    process
        .space
        .protect_range(address, address + length, access);
    0
}

/// The heap end may move between its start and the next area above it; the answer is
/// always the (new or unchanged) end, as Linux's brk.
pub fn brk(address: u64) -> i64 {
    let process = process::current();
    let mut memory = process.memory.lock();
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
        if collides || new_top > process::MMAP_BASE {
            return current as i64;
        }
        memory
            .areas
            .insert(old_top..new_top, Access::from_prot(PROT_READ | PROT_WRITE));
    } else if new_top < old_top {
        memory.unmap(&process.space, new_top, old_top);
    }
    memory.brk = address;
    address as i64
}

/// The CPU (and NUMA node: always 0) the caller runs on; either pointer may be null.
pub fn getcpu(cpu: u64, node: u64) -> i64 {
    let here = topframe_percpu::cpu_id() as u32;
    for (address, value) in [(cpu, here), (node, 0)] {
        if address != 0 && write_user(address, &value).is_err() {
            return -EFAULT;
        }
    }
    0
}
