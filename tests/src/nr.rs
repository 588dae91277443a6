//! x86_64 Linux system call numbers (`arch/x86/entry/syscalls/syscall_64.tbl`).

pub const WRITE: u64 = 1;
pub const FSTAT: u64 = 5;
pub const MMAP: u64 = 9;
pub const MPROTECT: u64 = 10;
pub const MUNMAP: u64 = 11;
pub const BRK: u64 = 12;
pub const WRITEV: u64 = 20;
pub const SCHED_YIELD: u64 = 24;
pub const NANOSLEEP: u64 = 35;
pub const GETPID: u64 = 39;
pub const CLONE: u64 = 56;
pub const EXIT: u64 = 60;
pub const WAIT4: u64 = 61;
pub const UNAME: u64 = 63;
pub const GETPPID: u64 = 110;
pub const ARCH_PRCTL: u64 = 158;
pub const GETTID: u64 = 186;
pub const FUTEX: u64 = 202;
pub const SCHED_SETAFFINITY: u64 = 203;
pub const SCHED_GETAFFINITY: u64 = 204;
pub const SET_TID_ADDRESS: u64 = 218;
pub const CLOCK_GETTIME: u64 = 228;
pub const CLOCK_NANOSLEEP: u64 = 230;
pub const EXIT_GROUP: u64 = 231;
pub const GETCPU: u64 = 309;
