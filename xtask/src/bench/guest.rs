//! Booting the guests: which boots a run needs (the plan), and one boot of a kernel with
//! the `bench` program as `/init`, read back into per-operation figures.
//!
//! Under TCG with icount every round of a boot executes the same instructions, so each
//! system boots once per kind of boot and runs all its rounds inside. Under KVM the rounds
//! are boots, interleaved across the systems (floor, lazy, complete, ..., floor, lazy,
//! complete, ...), so that drift on the host falls on every column alike and round i of
//! one column pairs with round i of another.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::accel::Accel;
use crate::bench::catalog::{Benchmark, BootKind};
use crate::bench::column::Column;
use crate::bench::guest_output::{self, GuestLine};
use crate::bench::linux;
use crate::qemu::{self, Apic, Ending, Line, Machine};

/// Operations per round (divided by a benchmark's `divisor`): with the loop's constant
/// cost (about 5 instructions around the loop) the per-operation figure is exact to 0.0001.
pub const ITERATIONS: u64 = 100_000;

/// Linux boots in about 10 s of TCG; a boot still running after this is stuck.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// Under TCG with icount, what else keeps two boots the same instructions: QEMU's
/// RDRAND and RDSEED draw from the host's entropy (Linux seeds its KASLR offset and its
/// random pool with them, which moves timer ticks against the rounds) and its RTC follows
/// the host's clock. Without both instructions and with the RTC at a fixed date, every boot
/// repeats exactly. (QEMU takes the last `-cpu`; `max` is the model `Apic::X2apic` gives.)
const DETERMINISTIC_TCG_ARGS: [&str; 4] = [
    "-cpu",
    "max,-rdrand,-rdseed",
    "-rtc",
    "clock=vm,base=2026-01-01T00:00:00",
];

/// How many console lines a failed boot shows.
const SHOWN_LINES: usize = 30;

/// One boot of one system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    pub column: Column,
    pub kind: BootKind,
    /// In the order the program runs them.
    pub benchmarks: Vec<&'static Benchmark>,
    /// Rounds inside this boot.
    pub rounds: u32,
}

impl Boot {
    /// The kernel command line: Linux's own settings or topframe's `syscall_slow_path`,
    /// then ` -- ` and the program's arguments (`NAME/DIVISOR` where a benchmark has one).
    pub fn cmdline(&self) -> String {
        let settings = match (self.column, self.kind) {
            (Column::Linux, _) => linux::CMDLINE,
            (_, BootKind::SlowPath) => "syscall_slow_path",
            (_, BootKind::Plain) => "",
        };
        let names: Vec<String> = self
            .benchmarks
            .iter()
            .map(|benchmark| match benchmark.divisor {
                1 => benchmark.name.to_string(),
                divisor => format!("{}/{divisor}", benchmark.name),
            })
            .collect();
        format!(
            "{settings} -- {} {ITERATIONS} {}",
            names.join(","),
            self.rounds
        )
    }

    /// `lazy`, `lazy (syscall_slow_path)`, for the progress bar and errors.
    pub fn describe(&self) -> String {
        match self.kind {
            BootKind::Plain => self.column.name().to_string(),
            BootKind::SlowPath => format!("{} (syscall_slow_path)", self.column.name()),
        }
    }
}

/// The boots that measure `benchmarks` on the guest `columns` (in that order), `rounds`
/// rounds each, in guests of `smp` CPUs (a benchmark that needs more is left out).
pub fn plan(
    columns: &[Column],
    benchmarks: &[&'static Benchmark],
    accel: Accel,
    rounds: u32,
    smp: usize,
) -> Vec<Boot> {
    let mut one_pass = Vec::new();
    for &column in columns {
        for kind in [BootKind::Plain, BootKind::SlowPath] {
            let chosen: Vec<&'static Benchmark> = benchmarks
                .iter()
                .filter(|benchmark| benchmark.boot == kind)
                .filter(|benchmark| benchmark.not_applicable(column, smp).is_none())
                .copied()
                .collect();
            if !chosen.is_empty() {
                one_pass.push(Boot {
                    column,
                    kind,
                    benchmarks: chosen,
                    rounds,
                });
            }
        }
    }
    match accel {
        Accel::TcgIcount | Accel::TcgMultiThreaded => one_pass,
        Accel::Kvm => (0..rounds)
            .flat_map(|_| one_pass.iter().cloned())
            .map(|boot| Boot { rounds: 1, ..boot })
            .collect(),
    }
}

/// One round's figure: ticks per operation.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundFigure {
    pub benchmark: &'static str,
    pub per_op: f64,
}

/// Boots `kernel` with `initrd` for `boot` and returns every round's figure.
pub fn run(
    boot: &Boot,
    kernel: &Path,
    initrd: &Path,
    accel: Accel,
    cpus: usize,
) -> Result<Vec<RoundFigure>> {
    let machine = Machine {
        kernel: kernel.to_path_buf(),
        cpus,
        accel,
        apic: Apic::X2apic,
        initrd: Some(initrd.to_path_buf()),
        cmdline: boot.cmdline(),
        extra_args: match accel {
            Accel::TcgIcount => DETERMINISTIC_TCG_ARGS.map(str::to_string).to_vec(),
            Accel::Kvm | Accel::TcgMultiThreaded => Vec::new(),
        },
    };
    let mut console = Vec::new();
    let ending = qemu::boot(&machine, None, BOOT_TIMEOUT, &mut |line| {
        if let Line::Console(text) | Line::QemuStderr(text) = line {
            console.push(text.clone());
        }
    })?;
    match read_figures(boot, &console) {
        Ok(figures) => Ok(figures),
        Err(problem) => {
            let ended = match ending {
                Ending::KernelStatus(status) => format!("the kernel exited with status {status}"),
                Ending::TimedOut => format!("QEMU was stopped after {} s", BOOT_TIMEOUT.as_secs()),
                Ending::NoStatusLine(status) => format!("QEMU ended ({status})"),
            };
            let shown = &console[console.len().saturating_sub(SHOWN_LINES)..];
            bail!(
                "boot of {}: {problem}; {ended}; the console's last lines:\n{}",
                boot.describe(),
                shown.join("\n")
            )
        }
    }
}

/// The figures in a boot's console; `Err` unless the program finished every round of
/// every benchmark it was given.
fn read_figures(boot: &Boot, console: &[String]) -> Result<Vec<RoundFigure>, String> {
    let mut figures = Vec::new();
    let mut done = false;
    for line in console {
        match guest_output::parse(line) {
            Some(GuestLine::Round {
                benchmark,
                iterations,
                ticks,
            }) => {
                let Some(benchmark) = boot.benchmarks.iter().find(|known| known.name == benchmark)
                else {
                    return Err(format!("the program reported an unexpected {benchmark:?}"));
                };
                figures.push(RoundFigure {
                    benchmark: benchmark.name,
                    per_op: ticks as f64 / iterations as f64,
                });
            }
            Some(GuestLine::Done) => done = true,
            Some(GuestLine::Error(message)) => return Err(format!("bench error: {message}")),
            None => {}
        }
    }
    let expected = boot.benchmarks.len() * boot.rounds as usize;
    if !done || figures.len() != expected {
        return Err(format!(
            "the program reported {} of {expected} rounds{}",
            figures.len(),
            if done { "" } else { " and never `bench done`" }
        ));
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::catalog::{self, BENCHMARKS};

    fn every_benchmark() -> Vec<&'static Benchmark> {
        BENCHMARKS.iter().collect()
    }

    fn named(names: &[&str]) -> Vec<&'static Benchmark> {
        names
            .iter()
            .map(|name| catalog::find(name).unwrap())
            .collect()
    }

    fn names(boot: &Boot) -> Vec<&'static str> {
        boot.benchmarks
            .iter()
            .map(|benchmark| benchmark.name)
            .collect()
    }

    #[test]
    fn tcg_boots_each_system_once_per_kind() {
        let columns = [Column::Floor, Column::Lazy, Column::Complete, Column::Linux];
        let boots = plan(&columns, &every_benchmark(), Accel::TcgIcount, 5, 2);
        let described: Vec<String> = boots.iter().map(Boot::describe).collect();
        assert_eq!(
            described,
            [
                "floor",
                "lazy",
                "lazy (syscall_slow_path)",
                "complete",
                "complete (syscall_slow_path)",
                "linux"
            ]
        );
        assert!(boots.iter().all(|boot| boot.rounds == 5));
        // The floor runs the entry paths only.
        assert_eq!(
            names(&boots[0]),
            ["loop", "null_syscall", "enosys", "int80_getpid"]
        );
        let everything = [
            "loop",
            "null_syscall",
            "enosys",
            "int80_getpid",
            "yield",
            "futex_pingpong",
            "clone_join",
            "fork_wait",
            "signal_roundtrip",
            "ptrace_stop",
            "null_syscall_throughput",
        ];
        assert_eq!(names(&boots[1]), everything);
        assert_eq!(names(&boots[2]), ["slow_path_syscall"]);
        assert_eq!(names(&boots[5]), everything);
    }

    #[test]
    fn one_cpu_leaves_out_the_two_cpu_benchmarks() {
        let boots = plan(&[Column::Lazy], &every_benchmark(), Accel::TcgIcount, 5, 1);
        assert_eq!(
            names(&boots[0]),
            [
                "loop",
                "null_syscall",
                "enosys",
                "int80_getpid",
                "yield",
                "clone_join",
                "fork_wait",
                "signal_roundtrip",
                "ptrace_stop",
                "null_syscall_throughput"
            ]
        );
        let only = plan(
            &[Column::Lazy],
            &named(&["futex_pingpong"]),
            Accel::TcgIcount,
            5,
            1,
        );
        assert_eq!(only, []);
    }

    #[test]
    fn kvm_interleaves_boots_of_one_round() {
        let null = named(&["null_syscall"]);
        let boots = plan(&[Column::Lazy, Column::Complete], &null, Accel::Kvm, 3, 1);
        let order: Vec<Column> = boots.iter().map(|boot| boot.column).collect();
        use Column::{Complete, Lazy};
        assert_eq!(order, [Lazy, Complete, Lazy, Complete, Lazy, Complete]);
        assert!(boots.iter().all(|boot| boot.rounds == 1));
    }

    #[test]
    fn command_lines() {
        let boot = |column, kind| Boot {
            column,
            kind,
            benchmarks: named(&["loop", "null_syscall"]),
            rounds: 2,
        };
        assert_eq!(
            boot(Column::Lazy, BootKind::Plain).cmdline(),
            " -- loop,null_syscall 100000 2"
        );
        assert_eq!(
            boot(Column::Complete, BootKind::SlowPath).cmdline(),
            "syscall_slow_path -- loop,null_syscall 100000 2"
        );
        assert_eq!(
            boot(Column::Linux, BootKind::Plain).cmdline(),
            "console=ttyS0 clearcpuid=erms,fsrm panic=-1 quiet -- loop,null_syscall 100000 2"
        );
        let divided = Boot {
            benchmarks: named(&["yield", "clone_join", "fork_wait"]),
            ..boot(Column::Lazy, BootKind::Plain)
        };
        assert_eq!(
            divided.cmdline(),
            " -- yield,clone_join/10,fork_wait/100 100000 2"
        );
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn figures_from_a_console() {
        let boot = Boot {
            column: Column::Complete,
            kind: BootKind::Plain,
            benchmarks: named(&["loop", "null_syscall"]),
            rounds: 1,
        };
        let console = lines(
            "entry strategy: complete frame (Linux >= 4.1)\n\
             bench loop 100000 400005\n\
             bench null_syscall 100000 6200005\n\
             bench done\n\
             init: exited with status 0",
        );
        assert_eq!(
            read_figures(&boot, &console),
            Ok(vec![
                RoundFigure {
                    benchmark: "loop",
                    per_op: 4.00005
                },
                RoundFigure {
                    benchmark: "null_syscall",
                    per_op: 62.00005
                },
            ])
        );
        let unfinished = lines("bench loop 100000 400005");
        assert_eq!(
            read_figures(&boot, &unfinished),
            Err("the program reported 1 of 2 rounds and never `bench done`".to_string())
        );
        let stranger = lines("bench enosys 100000 5500005\nbench done");
        assert!(
            read_figures(&boot, &stranger)
                .unwrap_err()
                .contains("unexpected")
        );
        let refused = lines("bench error: unknown benchmark \"x\"");
        assert_eq!(
            read_figures(&boot, &refused),
            Err("bench error: unknown benchmark \"x\"".to_string())
        );
    }
}
