//! The console descriptors (0, 1, 2): a terminal, as Linux's /dev/console.

use super::errno::{EBADF, EFAULT, EINVAL, ENOTTY};
use crate::console;
use crate::user::copy::{copy_from_user, read_user, write_user};
use topframe_kernel::layout::is_user_range;

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
        crate::scheduler::cond_resched();
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
