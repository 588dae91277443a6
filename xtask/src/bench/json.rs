//! What a bench run measured, as written with `--json FILE` (the shape of issue 6, documented
//! in README.md under "Benchmarks"):
//!
//! ```json
//! {"unit": "instructions", "accel": "tcg", "qemu": "QEMU emulator version 10.0.2 (...)",
//!  "smp": 1, "linux_kernel": {"package": "...", "version": "...", "cmdline": "..."},
//!  "rows": [{"benchmark": "null_syscall", "column": "complete", "cpus": 1,
//!            "per_op_median": 62.00005, "ci_low": 62.00005, "ci_high": 62.00005,
//!            "rounds": [62.00005, 62.00005]}]}
//! ```
//!
//! `unit` is the guests' unit; the `twin_*` columns are always TSC ticks of the host.
//! `smp` is the guests' CPU count; a row's `cpus` is how many CPUs its benchmark's threads
//! ran on: under `instructions` a row with `cpus` above 1 counts the instructions of all
//! those vCPUs together per operation (their total work, not a latency). `linux_kernel` is
//! `null` without `--linux`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::bench::column::Column;
use crate::bench::stats;

/// What one guest TSC tick is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// TCG with `-icount shift=0`: one tick per executed guest instruction.
    Instructions,
    /// Real TSC ticks (KVM, and the ring-3 twin).
    TscTicks,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Instructions => "instructions",
            Unit::TscTicks => "tsc_ticks",
        }
    }
}

/// The Linux kernel of the `linux` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxKernel {
    /// Debian's package, e.g. `linux-image-6.1.0-56-cloud-amd64`.
    pub package: String,
    /// The package's version, e.g. `6.1.192-2`.
    pub version: String,
    /// The kernel command line the bench booted it with (before ` -- `).
    pub cmdline: String,
}

/// One benchmark on one column: the per-operation figure of every round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub benchmark: String,
    pub column: Column,
    /// The CPUs the benchmark's threads ran on. Under icount (unit `instructions`) the
    /// vCPUs take turns on one clock, so with more than one the figure is the
    /// instructions of all of them together per operation.
    #[serde(default = "one_cpu")]
    pub cpus: usize,
    pub per_op_median: f64,
    /// The 95% bootstrap interval of the median.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Per operation, round by round (ticks / operations).
    pub rounds: Vec<f64>,
}

fn one_cpu() -> usize {
    1
}

impl Row {
    /// The row of `rounds` (per-operation figures) of a benchmark on one CPU; `None`
    /// without rounds.
    pub fn from_rounds(benchmark: &str, column: Column, rounds: Vec<f64>) -> Option<Row> {
        let estimate = stats::median_with_interval(&rounds)?;
        Some(Row {
            benchmark: benchmark.to_string(),
            column,
            cpus: 1,
            per_op_median: estimate.median,
            ci_low: estimate.low,
            ci_high: estimate.high,
            rounds,
        })
    }

    /// The same row, of a benchmark whose threads ran on `cpus` CPUs.
    pub fn on_cpus(self, cpus: usize) -> Row {
        Row { cpus, ..self }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub unit: Unit,
    /// `tcg` (with `-icount shift=0,sleep=off`) or `kvm` (with `-cpu host`).
    pub accel: String,
    /// `qemu-system-x86_64 --version`'s first line.
    pub qemu: String,
    /// The guests' CPUs (`--smp`).
    #[serde(default = "one_cpu")]
    pub smp: usize,
    pub linux_kernel: Option<LinuxKernel>,
    pub rows: Vec<Row>,
}

impl Report {
    /// The row of `benchmark` on `column`.
    pub fn row(&self, benchmark: &str, column: Column) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.benchmark == benchmark && row.column == column)
    }

    /// Writes the report as pretty-printed JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads a report written by [`Report::write`].
    pub fn read(path: &Path) -> Result<Report> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a bench report", path.display()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A report like a real run's: TCG figures, a Linux column, noisy twin rounds.
    pub(crate) fn example() -> Report {
        let rows = [
            ("loop", Column::Floor, vec![4.00005; 2]),
            ("loop", Column::Lazy, vec![4.00005; 2]),
            ("loop", Column::Complete, vec![4.00005; 2]),
            ("loop", Column::Linux, vec![4.00005; 2]),
            ("null_syscall", Column::Floor, vec![7.00005; 2]),
            ("null_syscall", Column::Lazy, vec![59.00005; 2]),
            ("null_syscall", Column::Complete, vec![62.00005; 2]),
            ("null_syscall", Column::Linux, vec![325.2, 325.5]),
            ("null_syscall", Column::TwinLazy, vec![40.1, 38.7, 41.0]),
            ("null_syscall", Column::TwinComplete, vec![41.3, 40.0, 42.2]),
        ];
        Report {
            unit: Unit::Instructions,
            accel: "tcg".to_string(),
            qemu: "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)".to_string(),
            smp: 1,
            linux_kernel: Some(LinuxKernel {
                package: "linux-image-6.1.0-56-cloud-amd64".to_string(),
                version: "6.1.192-2".to_string(),
                cmdline: "console=ttyS0 clearcpuid=erms,fsrm panic=-1 quiet".to_string(),
            }),
            rows: rows
                .into_iter()
                .filter_map(|(benchmark, column, rounds)| {
                    Row::from_rounds(benchmark, column, rounds)
                })
                .collect(),
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let report = example();
        let path = std::env::temp_dir().join(format!("bench-report-{}.json", std::process::id()));
        report.write(&path).unwrap();
        let read = Report::read(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), report);
    }

    fn sorted_keys(value: &serde_json::Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn has_the_shape_of_issue_6() {
        let value = serde_json::to_value(example()).unwrap();
        assert_eq!(
            sorted_keys(&value),
            ["accel", "linux_kernel", "qemu", "rows", "smp", "unit"]
        );
        assert_eq!(value["unit"], "instructions");
        let row = &value["rows"][5];
        assert_eq!(
            sorted_keys(row),
            [
                "benchmark",
                "ci_high",
                "ci_low",
                "column",
                "cpus",
                "per_op_median",
                "rounds"
            ]
        );
        assert_eq!(row["benchmark"], "null_syscall");
        assert_eq!(row["column"], "lazy");
        assert_eq!(row["per_op_median"], 59.00005);
        let twin = &value["rows"][9];
        assert_eq!(twin["column"], "twin_complete");
        assert_eq!(twin["per_op_median"], 41.3);
    }

    #[test]
    fn without_linux_the_kernel_is_null() {
        let report = Report {
            linux_kernel: None,
            unit: Unit::TscTicks,
            ..example()
        };
        let value = serde_json::to_value(&report).unwrap();
        assert!(value["linux_kernel"].is_null());
        assert_eq!(value["unit"], "tsc_ticks");
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), report);
    }
}
