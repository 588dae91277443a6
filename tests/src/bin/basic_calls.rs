//! The everyday system calls with valid arguments: getpid, gettid (= getpid in a
//! single-threaded process), getppid, sched_yield, uname, clock_gettime, brk, mmap /
//! mprotect / munmap, arch_prctl on FS and GS, set_tid_address, writev and write.
#![cfg_attr(not(test), no_std, no_main)]

use core::ffi::CStr;
use core::sync::atomic::AtomicU32;

use topframe_abi_tests::errno::{EFAULT, EPERM};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, getpid, getppid, gettid, nr, syscall0, syscall1,
    syscall2, syscall3, syscall6, write,
};

abi_test_main!(main);

const PAGE_SIZE: u64 = 4096;
const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const NANOSECONDS_PER_SECOND: i64 = 1_000_000_000;
const PROT_READ: u64 = 0x1;
const PROT_WRITE: u64 = 0x2;
const MAP_PRIVATE_ANONYMOUS: u64 = 0x02 | 0x20;
/// `arch_prctl` codes (`<asm/prctl.h>`).
const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

/// The `set_tid_address` target: the kernel clears it when the thread exits.
static CLEAR_CHILD_TID: AtomicU32 = AtomicU32::new(1);

fn main(_stack: &InitialStack) {
    process_ids();
    // SAFETY: sched_yield touches no memory.
    let result = unsafe { syscall0(nr::SCHED_YIELD) };
    check_eq!(result, 0, "sched_yield");
    uname();
    clocks();
    brk();
    mmap_mprotect_munmap();
    arch_prctl_fs_gs();
    // SAFETY: the kernel writes 0 to CLEAR_CHILD_TID when the thread exits: an atomic
    // static, valid for the process's lifetime.
    let result = unsafe { syscall1(nr::SET_TID_ADDRESS, CLEAR_CHILD_TID.as_ptr() as u64) };
    check_eq!(result, gettid(), "set_tid_address returns the thread ID");
    writes();
}

fn process_ids() {
    let pid = getpid();
    check!(pid > 0, "getpid: {pid}");
    check_eq!(gettid(), pid, "gettid of the only thread");
    let parent = getppid();
    check!(parent >= 0, "getppid: {parent}");
}

fn uname() {
    // struct new_utsname: sysname, nodename, release, version, machine, domainname.
    let mut fields = [[0_u8; 65]; 6];
    // SAFETY: uname writes its 390-byte buffer.
    let result = unsafe { syscall1(nr::UNAME, fields.as_mut_ptr() as u64) };
    check_eq!(result, 0, "uname");
    let field = |index: usize| CStr::from_bytes_until_nul(&fields[index]).ok();
    check_eq!(field(0), Some(c"Linux"), "uname sysname");
    check_eq!(field(4), Some(c"x86_64"), "uname machine");
}

/// `clock_gettime(clock)` as (seconds, nanoseconds).
fn clock_gettime(clock: u64) -> (i64, i64) {
    let mut time = [0_i64; 2];
    // SAFETY: clock_gettime writes its 16-byte struct timespec.
    let result = unsafe { syscall2(nr::CLOCK_GETTIME, clock, time.as_mut_ptr() as u64) };
    check_eq!(result, 0, "clock_gettime({clock})");
    let [seconds, nanoseconds] = time;
    check!(
        (0..NANOSECONDS_PER_SECOND).contains(&nanoseconds),
        "clock_gettime({clock}): tv_nsec = {nanoseconds}"
    );
    check!(seconds >= 0, "clock_gettime({clock}): tv_sec = {seconds}");
    (seconds, nanoseconds)
}

fn clocks() {
    let first = clock_gettime(CLOCK_MONOTONIC);
    let second = clock_gettime(CLOCK_MONOTONIC);
    check!(
        second >= first,
        "CLOCK_MONOTONIC went back: {first:?} then {second:?}"
    );
    clock_gettime(CLOCK_REALTIME);
}

fn brk() {
    // SAFETY: brk(0) only queries the break.
    let start = unsafe { syscall1(nr::BRK, 0) };
    check!(start > 0, "brk(0): {start}");
    let start = start as u64;
    let end = start + 2 * PAGE_SIZE;
    // SAFETY: grows the heap, which nothing else uses.
    let result = unsafe { syscall1(nr::BRK, end) };
    check_eq!(result, end as i64, "brk grown by 2 pages");
    // SAFETY: [start, end) is the heap just grown: mapped, writable, used by nothing else.
    let heap = unsafe { core::slice::from_raw_parts_mut(start as *mut u8, (end - start) as usize) };
    check!(
        heap.iter().all(|&byte| byte == 0),
        "fresh brk memory is not zero"
    );
    heap.fill(0xa5);
    check!(
        heap.iter().all(|&byte| byte == 0xa5),
        "brk memory does not keep writes"
    );
    // SAFETY: shrinks the heap back; nothing refers to it any more.
    let result = unsafe { syscall1(nr::BRK, start) };
    check_eq!(result, start as i64, "brk shrunk back");
}

fn mmap_mprotect_munmap() {
    let length = 3 * PAGE_SIZE;
    // SAFETY: a fresh anonymous mapping, not overlapping anything.
    let result = unsafe {
        syscall6(
            nr::MMAP,
            0,
            length,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE_ANONYMOUS,
            u64::MAX,
            0,
        )
    };
    check!(
        result > 0 && (result as u64).is_multiple_of(PAGE_SIZE),
        "mmap of 3 pages: {result:#x}"
    );
    let start = result as u64;
    // SAFETY: the fresh mapping, readable and writable, used by nothing else.
    let pages = unsafe { core::slice::from_raw_parts_mut(start as *mut u8, length as usize) };
    check!(
        pages.iter().all(|&byte| byte == 0),
        "fresh mmap memory is not zero"
    );
    pages.fill(0x5a);
    check!(
        pages.iter().all(|&byte| byte == 0x5a),
        "mmap memory does not keep writes"
    );

    let read_only_page = start + PAGE_SIZE;
    // SAFETY: changes the protection of this program's own mapping; `pages` is not
    // written after this.
    let result = unsafe { syscall3(nr::MPROTECT, read_only_page, PAGE_SIZE, PROT_READ) };
    check_eq!(result, 0, "mprotect of the middle page to read-only");
    check!(
        pages.iter().all(|&byte| byte == 0x5a),
        "a read-only page lost its contents"
    );
    // The kernel cannot write the read-only page either: uname's copy out faults there,
    // and succeeds in the first, writable page.
    // SAFETY: uname writes 390 bytes, at the start of a writable page of this mapping.
    let result = unsafe { syscall1(nr::UNAME, start) };
    check_eq!(result, 0, "uname into a writable page");
    // SAFETY: uname cannot write the read-only page: -EFAULT, nothing written.
    let result = unsafe { syscall1(nr::UNAME, read_only_page) };
    check_eq!(result, -EFAULT, "uname into a read-only page");

    // SAFETY: unmaps this program's own mapping; `pages` is not used after this.
    let result = unsafe { syscall2(nr::MUNMAP, start, length) };
    check_eq!(result, 0, "munmap");
    // SAFETY: uname cannot write an unmapped page: -EFAULT, nothing written.
    let result = unsafe { syscall1(nr::UNAME, start) };
    check_eq!(result, -EFAULT, "uname into an unmapped page");
}

/// `arch_prctl(ARCH_GET_FS or ARCH_GET_GS)`.
fn arch_prctl_get(code: u64) -> u64 {
    let mut base = u64::MAX;
    // SAFETY: ARCH_GET_* writes the 8-byte base.
    let result = unsafe { syscall2(nr::ARCH_PRCTL, code, &raw mut base as u64) };
    check_eq!(result, 0, "arch_prctl({code:#x})");
    base
}

/// `arch_prctl(ARCH_SET_FS or ARCH_SET_GS, base)`.
fn arch_prctl_set(code: u64, base: u64) -> i64 {
    // SAFETY: this program uses neither FS nor GS (no TLS); the callers put 0 back.
    unsafe { syscall2(nr::ARCH_PRCTL, code, base) }
}

fn arch_prctl_fs_gs() {
    check_eq!(arch_prctl_get(ARCH_GET_FS), 0, "FS base at process start");
    let some_user_address = &raw const CLEAR_CHILD_TID as u64;
    for (set, get, name) in [
        (ARCH_SET_FS, ARCH_GET_FS, "FS"),
        (ARCH_SET_GS, ARCH_GET_GS, "GS"),
    ] {
        check_eq!(
            arch_prctl_set(set, some_user_address),
            0,
            "set the {name} base"
        );
        check_eq!(
            arch_prctl_get(get),
            some_user_address,
            "the {name} base read back"
        );
        check_eq!(arch_prctl_set(set, 0), 0, "set the {name} base back to 0");
        check_eq!(arch_prctl_get(get), 0, "the {name} base read back");
    }
    check_eq!(
        arch_prctl_set(ARCH_SET_GS, 0xffff_8000_0000_0000),
        -EPERM,
        "set the GS base to a kernel address"
    );
    check_eq!(
        arch_prctl_get(ARCH_GET_GS),
        0,
        "the GS base after a refused set"
    );
}

fn writes() {
    let parts: [&[u8]; 2] = [b"basic_calls: writev of ", b"two iovecs\n"];
    // struct iovec: base, length.
    let iovecs = parts.map(|part| [part.as_ptr() as u64, part.len() as u64]);
    let total = parts.iter().map(|part| part.len()).sum::<usize>();
    // SAFETY: writev only reads the two iovecs and the buffers they name.
    let result = unsafe { syscall3(nr::WRITEV, 1, iovecs.as_ptr() as u64, 2) };
    check_eq!(result, total as i64, "writev of two iovecs to fd 1");
    let line = b"basic_calls: write\n";
    check_eq!(write(1, line), line.len() as i64, "write to fd 1");
}
