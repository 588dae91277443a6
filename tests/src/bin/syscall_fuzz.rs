//! Seeded random system calls: the kernel survives arbitrary arguments. Each iteration
//! calls either a syscall from [`ALLOWED`] (safe with arbitrary arguments, as root, on a
//! real host: read-only queries, calls that only write into user buffers, and fd calls
//! on a closed fd) with arguments drawn from edge values, or an unassigned number.
//!
//! Asserts what must hold: the process survives every call; every result is >= 0 or an
//! error in -4095..=-1; unassigned numbers return -ENOSYS. Prints the seed and, at the
//! end, the count of each outcome.
//!
//! Usage: `syscall_fuzz [SEED [ITERATIONS]]` (decimal; defaults 12345 and 100000). The
//! same seed replays the same calls.
#![cfg_attr(not(test), no_std, no_main)]

use topframe_abi_tests::errno::{ENOSYS, MAX_ERRNO};
use topframe_abi_tests::{
    InitialStack, abi_test_main, check, check_eq, fail, nr, println, syscall6,
};

abi_test_main!(main);

const DEFAULT_SEED: u64 = 12345;
const DEFAULT_ITERATIONS: u64 = 100_000;
const PAGE_SIZE: u64 = 4096;

/// Never an open fd, also as a 32-bit `int` or `unsigned int`: above the largest possible
/// fd table (`fs.nr_open` < 2^30), and -1.
const CLOSED_FDS: [u64; 2] = [0x7fff_ffff, u64::MAX];

/// `arch_prctl` codes allowed: the getters, ARCH_SET_GS (this program does not use GS;
/// kernel and non-canonical bases must be refused), ARCH_GET_CPUID, and an invalid code.
/// Never ARCH_SET_FS (TLS), ARCH_SET_CPUID, ARCH_MAP_VDSO_*, ARCH_SHSTK_* and the like.
const ARCH_PRCTL_CODES: &[u64] = &[0x1001, 0x1003, 0x1004, 0x1011, 0];

/// A syscall number and the argument that must not be random, if any.
#[derive(Clone, Copy)]
struct Allowed {
    number: u64,
    restriction: Restriction,
}

#[derive(Clone, Copy)]
enum Restriction {
    /// Every argument random.
    None,
    /// Argument 1 is an fd: always one of [`CLOSED_FDS`] (never stdin, which would block,
    /// nor stdout or stderr, which would print garbage or be changed).
    ClosedFd,
    /// Argument 1 is one of these codes.
    Code(&'static [u64]),
}

const fn any(number: u64) -> Allowed {
    Allowed {
        number,
        restriction: Restriction::None,
    }
}

const fn on_closed_fd(number: u64) -> Allowed {
    Allowed {
        number,
        restriction: Restriction::ClosedFd,
    }
}

/// The syscalls called with random arguments. Left out on purpose: everything that
/// changes the system or other processes (kill, reboot, mount, settimeofday, ...), that
/// changes files, that creates fds, processes or mappings, that can block or sleep
/// (read of stdin, poll, futex, nanosleep, wait4, pause, ...), that can unmap or change
/// this program's memory, signals or credentials (munmap, mprotect, brk, rt_sigaction,
/// prctl, seccomp, ...), and uretprobe / uprobe (SIGILL outside a probe).
const ALLOWED: &[Allowed] = &[
    on_closed_fd(0),  // read
    on_closed_fd(1),  // write
    on_closed_fd(3),  // close
    on_closed_fd(5),  // fstat
    on_closed_fd(8),  // lseek
    on_closed_fd(16), // ioctl
    on_closed_fd(17), // pread64
    on_closed_fd(18), // pwrite64
    on_closed_fd(19), // readv
    on_closed_fd(20), // writev
    any(24),          // sched_yield
    any(27),          // mincore
    any(36),          // getitimer
    any(39),          // getpid
    any(63),          // uname
    on_closed_fd(72), // fcntl
    on_closed_fd(74), // fsync
    on_closed_fd(75), // fdatasync
    on_closed_fd(77), // ftruncate
    any(79),          // getcwd
    on_closed_fd(81), // fchdir
    any(95),          // umask
    any(96),          // gettimeofday
    any(97),          // getrlimit
    any(98),          // getrusage
    any(99),          // sysinfo
    any(100),         // times
    any(102),         // getuid
    any(104),         // getgid
    any(107),         // geteuid
    any(108),         // getegid
    any(110),         // getppid
    any(111),         // getpgrp
    any(115),         // getgroups
    any(118),         // getresuid
    any(120),         // getresgid
    any(121),         // getpgid
    any(124),         // getsid
    any(125),         // capget
    any(127),         // rt_sigpending
    any(139),         // sysfs
    any(140),         // getpriority
    any(143),         // sched_getparam
    any(145),         // sched_getscheduler
    any(146),         // sched_get_priority_max
    any(147),         // sched_get_priority_min
    any(148),         // sched_rr_get_interval
    Allowed {
        number: nr::ARCH_PRCTL,
        restriction: Restriction::Code(ARCH_PRCTL_CODES),
    },
    any(186),          // gettid
    any(201),          // time
    any(204),          // sched_getaffinity
    any(211),          // get_thread_area
    on_closed_fd(217), // getdents64
    any(224),          // timer_gettime
    any(228),          // clock_gettime
    any(229),          // clock_getres
    any(239),          // get_mempolicy
    any(252),          // ioprio_get
    any(274),          // get_robust_list
    any(309),          // getcpu
    any(312),          // kcmp
    any(315),          // sched_getattr
    any(318),          // getrandom
    any(461),          // lsm_list_modules
];

/// Unassigned numbers: reserved 387..=423, the x32-only 512..=547, and 1000..2000.
const UNASSIGNED_RANGES: [(u64, u64); 3] = [(387, 424), (512, 548), (1000, 2000)];

/// xorshift64: small, fast, reproducible.
struct Xorshift64 {
    state: u64,
}

impl Xorshift64 {
    fn new(seed: u64) -> Self {
        // The state must not be 0 (it would stay 0).
        Self {
            state: if seed == 0 { DEFAULT_SEED } else { seed },
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// Uniform enough in `start..end`.
    fn in_range(&mut self, start: u64, end: u64) -> u64 {
        start + self.next() % (end - start)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.in_range(0, items.len() as u64) as usize]
    }
}

/// An argument: an edge value, a pointer into the scratch page, or random.
fn random_argument(random: &mut Xorshift64, scratch: u64) -> u64 {
    match random.in_range(0, 10) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        // The top of the user address space.
        3 => 0x7fff_ffff_ffff,
        // Non-canonical.
        4 => 0x8000_0000_0000,
        // Kernel addresses: the direct map's start, the kernel image's -2 GiB.
        5 => 0xffff_8000_0000_0000,
        6 => 0xffff_ffff_8000_0000,
        7 => scratch + random.in_range(0, PAGE_SIZE),
        8 => random.in_range(0, 4096),
        _ => random.next(),
    }
}

/// An unassigned syscall number: from [`UNASSIGNED_RANGES`], or random upper 32 bits over
/// invalid lower ones (Linux uses only the low 32 bits, as an int: they must be invalid,
/// and outside the x32 range 0x4000_0000.. too, which some kernels have).
fn unassigned_number(random: &mut Xorshift64) -> u64 {
    if random.in_range(0, 2) == 0 {
        let (start, end) = random.pick(&UNASSIGNED_RANGES);
        random.in_range(start, end)
    } else {
        let low = if random.in_range(0, 2) == 0 {
            random.in_range(1000, 0x4000_0000)
        } else {
            // Negative as an int.
            random.in_range(0x8000_0000, 0x1_0000_0000)
        };
        (random.next() & 0xffff_ffff_0000_0000) | low
    }
}

/// A page of scratch memory between two inaccessible guard pages: whatever a syscall
/// writes through a scratch pointer stays inside it or faults (-EFAULT).
fn scratch_page() -> u64 {
    const PROT_NONE: u64 = 0;
    const PROT_READ_WRITE: u64 = 0x1 | 0x2;
    const MAP_PRIVATE_ANONYMOUS: u64 = 0x02 | 0x20;
    // SAFETY: a fresh anonymous mapping, not overlapping anything.
    let mapping = unsafe {
        syscall6(
            nr::MMAP,
            0,
            3 * PAGE_SIZE,
            PROT_NONE,
            MAP_PRIVATE_ANONYMOUS,
            u64::MAX,
            0,
        )
    };
    check!(mapping > 0, "mmap of the scratch pages: {mapping}");
    let scratch = mapping as u64 + PAGE_SIZE;
    // SAFETY: makes the middle page of this program's own fresh mapping writable.
    let result = unsafe { syscall6(nr::MPROTECT, scratch, PAGE_SIZE, PROT_READ_WRITE, 0, 0, 0) };
    check_eq!(result, 0, "mprotect of the scratch page");
    scratch
}

/// argv[index] as a decimal number, or `default` when absent.
fn numeric_argument(stack: &InitialStack, index: usize, default: u64) -> u64 {
    match stack.args().nth(index) {
        None => default,
        Some(argument) => match argument.to_str().ok().and_then(|text| text.parse().ok()) {
            Some(value) => value,
            None => fail!("argument {index} ({argument:?}) is not a decimal number"),
        },
    }
}

fn main(stack: &InitialStack) {
    let seed = numeric_argument(stack, 1, DEFAULT_SEED);
    let iterations = numeric_argument(stack, 2, DEFAULT_ITERATIONS);
    println!("seed {seed}, iterations {iterations}");
    let mut random = Xorshift64::new(seed);
    let scratch = scratch_page();

    let mut successes = 0_u64;
    let mut unassigned_calls = 0_u64;
    // Index: errno (1..=4095).
    let mut errors = [0_u32; MAX_ERRNO as usize + 1];
    for iteration in 0..iterations {
        let unassigned = random.in_range(0, 4) == 0;
        let mut arguments = [0; 6].map(|_| random_argument(&mut random, scratch));
        let number = if unassigned {
            unassigned_calls += 1;
            unassigned_number(&mut random)
        } else {
            let allowed = random.pick(ALLOWED);
            match allowed.restriction {
                Restriction::None => {}
                Restriction::ClosedFd => arguments[0] = random.pick(&CLOSED_FDS),
                Restriction::Code(codes) => arguments[0] = random.pick(codes),
            }
            allowed.number
        };
        let [arg1, arg2, arg3, arg4, arg5, arg6] = arguments;
        // SAFETY: an allowed syscall (see ALLOWED: it touches only the scratch page and
        // this program's harmless state, whatever the arguments) or an unassigned number.
        let result = unsafe { syscall6(number, arg1, arg2, arg3, arg4, arg5, arg6) };
        let context = format_args!(
            "iteration {iteration}: syscall({number:#x}, {arg1:#x}, {arg2:#x}, {arg3:#x}, \
             {arg4:#x}, {arg5:#x}, {arg6:#x})"
        );
        if unassigned {
            check_eq!(result, -ENOSYS, "{context}");
        }
        if result >= 0 {
            successes += 1;
        } else if result >= -MAX_ERRNO {
            errors[(-result) as usize] += 1;
        } else {
            fail!("{context} returned {result:#x}: neither >= 0 nor -4095..=-1");
        }
    }

    println!(
        "{iterations} calls: {successes} succeeded, {} failed ({unassigned_calls} to \
         unassigned numbers)",
        iterations - successes
    );
    for (errno, count) in errors.iter().enumerate().filter(|(_, count)| **count > 0) {
        println!("errno {errno}: {count}");
    }
}
