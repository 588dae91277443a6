//! The x86_64 syscall table: Linux's numbers (`arch/x86/entry/syscalls/syscall_64.tbl`).
//! Unassigned numbers return -ENOSYS.

use super::console::*;
use super::errno::ENOSYS;
use super::memory::*;
use super::process::*;
use super::scheduling::*;
use super::signal::*;
use super::system::*;
use super::time::*;
use crate::futex::futex;
use topframe_entry::SyscallHandler;

/// Entries in the table: Linux's numbers go up to 462 (mseal) today.
pub const SYSCALL_COUNT: usize = 512;

/// Define the 6-argument handler the entry calls, unpacking the arguments it uses.
macro_rules! syscall_table {
    ($($number:literal => $name:ident($($arg:ident),*) => $body:expr;)*) => {
        $(
            extern "C" fn $name(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
                #[allow(unused_variables)]
                let [$($arg,)* ..] = [a0, a1, a2, a3, a4, a5];
                $body
            }
        )*

        /// The table SYSCALL dispatches through.
        pub static SYSCALL_TABLE: [SyscallHandler; SYSCALL_COUNT] = {
            let mut table = [not_implemented as SyscallHandler; SYSCALL_COUNT];
            $(table[$number] = $name;)*
            table
        };
    };
}

extern "C" fn not_implemented(_: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> i64 {
    -ENOSYS
}

syscall_table! {
    0 => sys_read(fd, buffer, count) => read(fd, buffer, count);
    1 => sys_write(fd, buffer, count) => write(fd, buffer, count);
    5 => sys_fstat(fd, buffer) => fstat(fd, buffer);
    9 => sys_mmap(address, length, prot, flags, fd, offset) => mmap(address, length, prot, flags, fd, offset);
    10 => sys_mprotect(address, length, prot) => mprotect(address, length, prot);
    11 => sys_munmap(address, length) => munmap(address, length);
    12 => sys_brk(address) => brk(address);
    13 => sys_rt_sigaction(signal, act, oldact, size) => rt_sigaction(signal, act, oldact, size);
    14 => sys_rt_sigprocmask(how, set, oldset, size) => rt_sigprocmask(how, set, oldset, size);
    15 => sys_rt_sigreturn() => rt_sigreturn();
    16 => sys_ioctl(fd, request, argument) => ioctl(fd, request, argument);
    20 => sys_writev(fd, iov, count) => writev(fd, iov, count);
    24 => sys_sched_yield() => sched_yield();
    35 => sys_nanosleep(request, remaining) => nanosleep(request, remaining);
    39 => sys_getpid() => getpid();
    56 => sys_clone(flags, stack, parent_tid, child_tid, tls) => clone(flags, stack, parent_tid, child_tid, tls);
    57 => sys_fork() => fork();
    58 => sys_vfork() => vfork();
    60 => sys_exit(status) => exit(status);
    61 => sys_wait4(pid, status, options, rusage) => wait4(pid, status, options, rusage);
    62 => sys_kill(pid, signal) => kill(pid, signal);
    63 => sys_uname(buffer) => uname(buffer);
    101 => sys_ptrace(request, pid, address, data) => crate::ptrace::ptrace(request, pid, address, data);
    110 => sys_getppid() => getppid();
    127 => sys_rt_sigpending(set, size) => rt_sigpending(set, size);
    131 => sys_sigaltstack(new, old) => sigaltstack(new, old);
    158 => sys_arch_prctl(code, address) => arch_prctl(code, address);
    186 => sys_gettid() => gettid();
    200 => sys_tkill(tid, signal) => tkill(tid, signal);
    202 => sys_futex(address, op, value, timeout, address2, value3) => futex(address, op, value, timeout, address2, value3);
    203 => sys_sched_setaffinity(pid, length, mask) => sched_setaffinity(pid, length, mask);
    204 => sys_sched_getaffinity(pid, length, mask) => sched_getaffinity(pid, length, mask);
    218 => sys_set_tid_address(address) => set_tid_address(address);
    228 => sys_clock_gettime(clock, timespec) => clock_gettime(clock, timespec);
    230 => sys_clock_nanosleep(clock, flags, request, remaining) => clock_nanosleep(clock, flags, request, remaining);
    231 => sys_exit_group(status) => exit_group(status);
    234 => sys_tgkill(tgid, tid, signal) => tgkill(tgid, tid, signal);
    309 => sys_getcpu(cpu, node) => getcpu(cpu, node);
}
