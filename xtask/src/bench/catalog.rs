//! Every benchmark of issue 6, in one list: what each measures, and where it runs or why it
//! is skipped. A benchmark whose kernel feature is missing is listed with the reason, never
//! faked: when the kernel gains threads, fork, signals or ptrace, its entry here becomes
//! `Runs` and the `bench` program (tests/bench) gains its loop.

use crate::bench::column::Column;

/// Which boot of a topframe kernel a benchmark runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BootKind {
    /// The kernel as it is.
    Plain,
    /// Booted with `syscall_slow_path`: every syscall returns through the exit-work path.
    SlowPath,
}

/// Whether a benchmark runs today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// The `bench` program runs it (under this name) in this kind of boot.
    Runs(BootKind),
    /// Not yet: why.
    Skipped(&'static str),
}

/// One benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Benchmark {
    pub name: &'static str,
    /// What one operation is.
    pub operation: &'static str,
    pub availability: Availability,
}

/// The benchmarks, in table order.
pub const BENCHMARKS: [Benchmark; 12] = [
    Benchmark {
        name: "loop",
        operation: "the timing loop alone: mov eax, N; nop; dec r8; jnz",
        availability: Availability::Runs(BootKind::Plain),
    },
    Benchmark {
        name: "null_syscall",
        operation: "getppid (110) through SYSCALL",
        availability: Availability::Runs(BootKind::Plain),
    },
    Benchmark {
        name: "enosys",
        operation: "an unassigned number (1000) through SYSCALL: -ENOSYS",
        availability: Availability::Runs(BootKind::Plain),
    },
    Benchmark {
        name: "slow_path_syscall",
        operation: "getppid with `syscall_slow_path` on the kernel command line: every \
                    return through the exit-work path",
        availability: Availability::Runs(BootKind::SlowPath),
    },
    Benchmark {
        name: "int80_getpid",
        operation: "i386 getpid (20) through int $0x80: the IDT path and IRETQ",
        availability: Availability::Runs(BootKind::Plain),
    },
    Benchmark {
        name: "yield",
        operation: "sched_yield handing the CPU between two threads",
        availability: Availability::Skipped("needs threads and a scheduler"),
    },
    Benchmark {
        name: "futex_pingpong",
        operation: "two threads on two CPUs waking each other through a futex",
        availability: Availability::Skipped("needs threads, futexes and a scheduler"),
    },
    Benchmark {
        name: "clone_join",
        operation: "clone a thread and wait for its exit",
        availability: Availability::Skipped("needs clone (threads)"),
    },
    Benchmark {
        name: "fork_wait",
        operation: "fork a child and wait4 for it",
        availability: Availability::Skipped("needs fork and wait4"),
    },
    Benchmark {
        name: "signal_roundtrip",
        operation: "raise a signal, run its handler, sigreturn",
        availability: Availability::Skipped("needs signals"),
    },
    Benchmark {
        name: "ptrace_stop",
        operation: "a traced child's syscall stop and resume",
        availability: Availability::Skipped("needs ptrace and fork"),
    },
    Benchmark {
        name: "null_syscall_throughput",
        operation: "getppid on 1..N CPUs at once",
        availability: Availability::Skipped("needs a scheduler to run a process on every CPU"),
    },
];

/// The benchmark called `name`.
pub fn find(name: &str) -> Option<&'static Benchmark> {
    BENCHMARKS.iter().find(|benchmark| benchmark.name == name)
}

impl Benchmark {
    /// Why `column` has no figure for this benchmark (beyond the benchmark being skipped
    /// altogether), if it has none by design.
    pub fn not_applicable(&self, column: Column) -> Option<&'static str> {
        match (self.availability, column) {
            (Availability::Runs(BootKind::SlowPath), Column::Floor) => {
                Some("the floor has no slow path")
            }
            (Availability::Runs(BootKind::SlowPath), Column::Linux) => {
                Some("Linux has no such switch")
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
        assert!(slow.not_applicable(Column::Floor).is_some());
        assert!(slow.not_applicable(Column::Linux).is_some());
        assert_eq!(slow.not_applicable(Column::Lazy), None);
        let null = find("null_syscall").unwrap();
        assert!(
            Column::ALL
                .iter()
                .all(|&column| null.not_applicable(column).is_none())
        );
        assert!(
            find("loop")
                .unwrap()
                .not_applicable(Column::TwinLazy)
                .is_some()
        );
    }
}
