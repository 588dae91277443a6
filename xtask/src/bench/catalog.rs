//! Every benchmark of issue 6, in one list: what each measures, in which boot it runs, and
//! on which CPUs. The `bench` program (tests/bench) has a loop for each, under the same
//! name.

use crate::bench::column::Column;

/// Which boot of a topframe kernel a benchmark runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BootKind {
    /// The kernel as it is.
    Plain,
    /// Booted with `syscall_slow_path`: every syscall returns through the exit-work path.
    SlowPath,
}

/// The CPUs one benchmark's threads run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpus {
    /// One CPU (the main thread, and any thread or child it starts, pinned to it).
    One,
    /// Two CPUs, one thread pinned to each: the guest needs `--smp 2` or more.
    Two,
    /// Every CPU of the guest (`--smp N`), one thread pinned to each.
    All,
}

impl Cpus {
    /// How many CPUs that is in a guest of `smp` CPUs.
    pub fn count(self, smp: usize) -> usize {
        match self {
            Cpus::One => 1,
            Cpus::Two => 2,
            Cpus::All => smp,
        }
    }

    /// The fewest CPUs a guest needs.
    pub fn minimum(self) -> usize {
        match self {
            Cpus::One | Cpus::All => 1,
            Cpus::Two => 2,
        }
    }
}

/// One benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Benchmark {
    pub name: &'static str,
    /// What one operation is.
    pub operation: &'static str,
    /// The kind of boot it runs in.
    pub boot: BootKind,
    /// A round times ITERATIONS / `divisor` operations (the program's `NAME/DIVISOR`):
    /// more than 1 where one operation costs thousands of instructions, to keep a run
    /// short.
    pub divisor: u64,
    /// Where its threads run.
    pub cpus: Cpus,
    /// Needs a kernel that implements its system calls (threads, futexes, the scheduler,
    /// clone, fork, wait4): never measured on the floor, whose SYSCALL does nothing.
    pub needs_syscalls: bool,
}

impl Benchmark {
    /// A benchmark of one CPU's SYSCALL or interrupt path, which the floor runs too.
    const fn entry_path(name: &'static str, operation: &'static str, boot: BootKind) -> Self {
        Self {
            name,
            operation,
            boot,
            divisor: 1,
            cpus: Cpus::One,
            needs_syscalls: false,
        }
    }

    /// A benchmark that needs the kernel's threads, scheduler or processes.
    const fn kernel(
        name: &'static str,
        operation: &'static str,
        boot: BootKind,
        divisor: u64,
        cpus: Cpus,
    ) -> Self {
        Self {
            name,
            operation,
            boot,
            divisor,
            cpus,
            needs_syscalls: true,
        }
    }
}

/// The benchmarks, in table order.
pub const BENCHMARKS: [Benchmark; 12] = [
    Benchmark::entry_path(
        "loop",
        "the timing loop alone: mov eax, N; nop; dec r8; jnz",
        BootKind::Plain,
    ),
    Benchmark::entry_path(
        "null_syscall",
        "getppid (110) through SYSCALL",
        BootKind::Plain,
    ),
    Benchmark::entry_path(
        "enosys",
        "an unassigned number (1000) through SYSCALL: -ENOSYS",
        BootKind::Plain,
    ),
    Benchmark::entry_path(
        "slow_path_syscall",
        "getppid with `syscall_slow_path` on the kernel command line: every return through \
         the exit-work path",
        BootKind::SlowPath,
    ),
    Benchmark::entry_path(
        "int80_getpid",
        "i386 getpid (20) through int $0x80: the IDT path and IRETQ",
        BootKind::Plain,
    ),
    Benchmark::kernel(
        "yield",
        "one sched_yield by one of two threads pinned to one CPU, each yielding in a loop: \
         every call switches to the other thread, so a round trip is 2 operations",
        BootKind::Plain,
        1,
        Cpus::One,
    ),
    Benchmark::kernel(
        "futex_pingpong",
        "one hand-over between two threads pinned to two CPUs: the thread whose turn it is \
         increments the word and FUTEX_WAKE_PRIVATEs it, the other returns from \
         FUTEX_WAIT_PRIVATE (or finds the word changed) and takes its turn; a round trip is \
         2 operations",
        BootKind::Plain,
        1,
        Cpus::Two,
    ),
    Benchmark::kernel(
        "clone_join",
        "clone (pthread_create's flags: CLONE_VM ... CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID) \
         of a thread whose first instruction is SYS_exit, then shared FUTEX_WAIT on its tid \
         word until the kernel clears it; one CPU",
        BootKind::Plain,
        10,
        Cpus::One,
    ),
    Benchmark::kernel(
        "fork_wait",
        "fork (clone(SIGCHLD)) of a child that calls exit_group(0) at once, then wait4 for \
         it; one CPU",
        BootKind::Plain,
        100,
        Cpus::One,
    ),
    Benchmark::kernel(
        "signal_roundtrip",
        "tgkill of the calling thread with SIGUSR1, whose empty SA_SIGINFO handler runs on \
         the way back to user mode and returns through rt_sigreturn; one CPU",
        BootKind::Plain,
        20,
        Cpus::One,
    ),
    Benchmark::kernel(
        "ptrace_stop",
        "one syscall-entry or -exit stop of a traced child calling getppid in a loop: the \
         tracer's PTRACE_SYSCALL resumes it, its wait4 returns the next stop; tracer and \
         tracee share one CPU",
        BootKind::Plain,
        50,
        Cpus::One,
    ),
    Benchmark::kernel(
        "null_syscall_throughput",
        "one getppid through SYSCALL by any of N threads, one pinned to each of the guest's \
         N CPUs (--smp N), all calling at once; a round is timed from the start signal to \
         the last thread's end",
        BootKind::Plain,
        1,
        Cpus::All,
    ),
];

/// The benchmark called `name`.
pub fn find(name: &str) -> Option<&'static Benchmark> {
    BENCHMARKS.iter().find(|benchmark| benchmark.name == name)
}

impl Benchmark {
    /// Why `column` has no figure for this benchmark in guests of `smp` CPUs, if it has
    /// none by design.
    pub fn not_applicable(&self, column: Column, smp: usize) -> Option<&'static str> {
        match (self.boot, column) {
            (_, column) if !column.is_twin() && self.cpus.minimum() > smp => {
                Some("it runs on two CPUs: --smp 2 or more")
            }
            (BootKind::SlowPath, Column::Floor) => Some("the floor has no slow path"),
            (BootKind::SlowPath, Column::Linux) => Some("Linux has no such switch"),
            (_, Column::Floor) if self.needs_syscalls => {
                Some("the floor's SYSCALL does nothing: no threads, futexes, scheduler or fork")
            }
            (_, Column::TwinLazy | Column::TwinComplete) if self.name != "null_syscall" => {
                Some("the twin times the null syscall only")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for benchmark in &BENCHMARKS {
            assert_eq!(find(benchmark.name), Some(benchmark));
        }
        assert_eq!(find("nonexistent"), None);
    }

    #[test]
    fn the_slow_path_is_a_topframe_switch() {
        let slow = find("slow_path_syscall").unwrap();
        assert!(slow.not_applicable(Column::Floor, 1).is_some());
        assert!(slow.not_applicable(Column::Linux, 1).is_some());
        assert_eq!(slow.not_applicable(Column::Lazy, 1), None);
        let null = find("null_syscall").unwrap();
        assert!(
            Column::ALL
                .iter()
                .all(|&column| null.not_applicable(column, 1).is_none())
        );
        assert!(
            find("loop")
                .unwrap()
                .not_applicable(Column::TwinLazy, 1)
                .is_some()
        );
    }

    #[test]
    fn two_cpu_benchmarks_need_two_cpus() {
        let pingpong = find("futex_pingpong").unwrap();
        assert!(pingpong.not_applicable(Column::Lazy, 1).is_some());
        assert_eq!(pingpong.not_applicable(Column::Lazy, 2), None);
        assert!(pingpong.not_applicable(Column::Floor, 2).is_some());
        let throughput = find("null_syscall_throughput").unwrap();
        assert_eq!(throughput.not_applicable(Column::Complete, 1), None);
    }
}
