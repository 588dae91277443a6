//! Bad user pointers give -EFAULT, never a crash: `write` from NULL, from a kernel address,
//! from a non-canonical address and from an unmapped page; `uname(NULL)`;
//! `clock_gettime(CLOCK_MONOTONIC, NULL or a kernel address)`; `uname` into a buffer that
//! runs into an unmapped page. A `write` whose buffer runs into an unmapped page after 5
//! bytes returns 5 when fd 1 is a regular file, and -EFAULT when it is a pipe or a
//! terminal (Linux's pipe and tty writes do not report the partial copy).
//!
//! Needs fd 1 to be a pipe, a terminal or a regular file: `/dev/null` never reads the
//! buffer, so it takes a NULL one.
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::EFAULT;
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, fail, nr, syscall2, syscall3, syscall6,
};

abi_test_main!(main);

const PAGE_SIZE: u64 = 4096;
const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;
const NON_CANONICAL_ADDRESS: u64 = 0x8000_0000_0000;
/// Never mapped: below `vm.mmap_min_addr`.
const LOW_UNMAPPED_ADDRESS: u64 = 0x1000;
const CLOCK_MONOTONIC: u64 = 1;
/// `mmap` arguments.
const PROT_READ_WRITE: u64 = 0x1 | 0x2;
const MAP_PRIVATE_ANONYMOUS: u64 = 0x02 | 0x20;
/// `st_mode` file types (`<linux/stat.h>`).
const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFREG: u32 = 0o100_000;

fn main(_stack: &InitialStack) {
    for address in [
        0,
        KERNEL_ADDRESS,
        NON_CANONICAL_ADDRESS,
        LOW_UNMAPPED_ADDRESS,
    ] {
        // SAFETY: write only reads the buffer; a bad one fails with -EFAULT.
        let result = unsafe { syscall3(nr::WRITE, 1, address, 10) };
        check_eq!(result, -EFAULT, "write(1, {address:#x}, 10)");
    }
    // SAFETY: uname writes its buffer; NULL fails with -EFAULT.
    let result = unsafe { syscall2(nr::UNAME, 0, 0) };
    check_eq!(result, -EFAULT, "uname(NULL)");
    for address in [0, KERNEL_ADDRESS] {
        // SAFETY: clock_gettime writes its buffer; a bad one fails with -EFAULT.
        let result = unsafe { syscall2(nr::CLOCK_GETTIME, CLOCK_MONOTONIC, address) };
        check_eq!(
            result,
            -EFAULT,
            "clock_gettime(CLOCK_MONOTONIC, {address:#x})"
        );
    }

    // A mapped page followed by an unmapped one.
    // SAFETY: a fresh anonymous mapping, not overlapping anything.
    let mapping = unsafe {
        syscall6(
            nr::MMAP,
            0,
            2 * PAGE_SIZE,
            PROT_READ_WRITE,
            MAP_PRIVATE_ANONYMOUS,
            u64::MAX,
            0,
        )
    };
    check!(mapping > 0, "mmap of 2 pages: {mapping}");
    let page = mapping as u64;
    let page_end = page + PAGE_SIZE;
    // SAFETY: unmaps the second page of this program's own fresh mapping.
    let result = unsafe { syscall2(nr::MUNMAP, page_end, PAGE_SIZE) };
    check_eq!(result, 0, "munmap of the second page");
    const TAIL: &[u8; 5] = b"edge\n";
    // SAFETY: the last 5 bytes of the mapped page.
    unsafe { ((page_end - 5) as *mut [u8; 5]).write(*TAIL) };

    let expected = match stdout_file_type() {
        S_IFREG => 5,
        S_IFIFO | S_IFCHR => -EFAULT,
        file_type => {
            fail!("fd 1 is neither a pipe, a terminal nor a regular file: mode {file_type:#o}")
        }
    };
    // SAFETY: write only reads the buffer; past the mapped page it faults.
    let result = unsafe { syscall3(nr::WRITE, 1, page_end - 5, 10) };
    check_eq!(
        result,
        expected,
        "write(1, 5 mapped bytes then an unmapped page, 10)"
    );
    // SAFETY: uname writes its 390-byte buffer: 100 bytes fit, then it faults.
    let result = unsafe { syscall2(nr::UNAME, page_end - 100, 0) };
    check_eq!(
        result,
        -EFAULT,
        "uname into 100 mapped bytes then an unmapped page"
    );
}

/// The file type bits of fd 1's `st_mode` (`fstat`).
fn stdout_file_type() -> u32 {
    // `struct stat` on x86_64: 144 bytes, st_mode at byte 24.
    let mut stat = [0_u64; 18];
    // SAFETY: fstat writes the 144-byte buffer.
    let result = unsafe { syscall2(nr::FSTAT, 1, stat.as_mut_ptr() as u64) };
    check_eq!(result, 0, "fstat(1)");
    (stat[3] as u32) & S_IFMT
}
