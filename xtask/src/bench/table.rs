//! The table on the terminal: one row per benchmark, one column per measured system, the
//! per-operation median (with its 95% interval where the rounds differ), the unit above it,
//! and under `null_syscall` its kernel part (per call minus `loop`).

use std::collections::BTreeMap;

use crate::bench::catalog::Benchmark;
use crate::bench::column::Column;
use crate::bench::guest::ITERATIONS;
use crate::bench::json::{Report, Row, Unit};
use crate::bench::twin;

/// The row under `null_syscall`.
pub const KERNEL_PART: &str = "  kernel part (- loop)";

/// The table of `report` for `benchmarks` (in this order) on `columns` (in this order),
/// each guest figure the median of `rounds` rounds.
pub fn render(
    report: &Report,
    benchmarks: &[&'static Benchmark],
    columns: &[Column],
    rounds: u32,
) -> String {
    let mut text = unit_lines(report, columns);
    let fewer: Vec<String> = benchmarks
        .iter()
        .filter(|benchmark| benchmark.divisor > 1)
        .map(|benchmark| format!("{} {}", benchmark.name, ITERATIONS / benchmark.divisor))
        .collect();
    let fewer = match fewer.is_empty() {
        true => String::new(),
        false => format!(" ({})", fewer.join(", ")),
    };
    text.push_str(&format!(
        "figures: median of {rounds} rounds of {ITERATIONS} operations each{fewer}; [95% \
         interval] where the rounds differ\n\n"
    ));
    let mut lines: Vec<Vec<String>> = vec![
        std::iter::once("benchmark".to_string())
            .chain(columns.iter().map(|&column| header(column)))
            .collect(),
    ];
    // Reason -> the cells it explains.
    let mut not_applicable: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for benchmark in benchmarks {
        let mut line = vec![benchmark.name.to_string()];
        for &column in columns {
            line.push(
                match (
                    report.row(benchmark.name, column),
                    benchmark.not_applicable(column, report.smp),
                ) {
                    (Some(row), _) => cell(row),
                    // The unit line says the twin times the null syscall only.
                    (None, Some(_)) if column.is_twin() => String::new(),
                    (None, Some(reason)) => {
                        not_applicable.entry(reason).or_default().push(format!(
                            "{} on {}",
                            benchmark.name,
                            column.name()
                        ));
                        "n/a".to_string()
                    }
                    (None, None) => "-".to_string(),
                },
            );
        }
        lines.push(line);
        if benchmark.name == "null_syscall" {
            lines.push(
                std::iter::once(KERNEL_PART.to_string())
                    .chain(columns.iter().map(|&column| {
                        kernel_part(report, column)
                            .map_or(String::new(), |part| format!("{part:.2}"))
                    }))
                    .collect(),
            );
        }
    }
    text.push_str(&aligned(&lines));
    text.push('\n');
    for benchmark in benchmarks {
        text.push_str(&format!("{}: {}\n", benchmark.name, benchmark.operation));
    }
    for (reason, cells) in not_applicable {
        text.push_str(&format!("n/a: {reason} ({})\n", cells.join(", ")));
    }
    if let Some(linux) = report
        .linux_kernel
        .as_ref()
        .filter(|_| columns.contains(&Column::Linux))
    {
        text.push_str(&format!(
            "linux: Debian's {} {}, booted with \"{}\"\n",
            linux.package, linux.version, linux.cmdline
        ));
    }
    text
}

/// What the numbers are, for the guests and for the twin.
fn unit_lines(report: &Report, columns: &[Column]) -> String {
    let mut text = match report.unit {
        Unit::Instructions => format!(
            "unit: {} per operation: TCG with -icount shift=0,sleep=off, one guest TSC tick per \
             executed guest instruction (exact, the same every round)\n",
            report.unit.name()
        ),
        Unit::TscTicks => format!(
            "unit: {} per operation: KVM with -cpu host, the guest's real TSC; rounds are boots, \
             interleaved across the columns\n",
            report.unit.name()
        ),
    };
    if columns.iter().any(|column| column.is_twin()) {
        text.push_str(&format!(
            "      twin_* columns [tsc]: tsc_ticks per call on this host, real time (noisy: the \
             host is shared); null_syscall only, median of {} interleaved rounds of {} calls\n",
            twin::ROUNDS,
            twin::CALLS
        ));
    }
    text
}

fn header(column: Column) -> String {
    if column.is_twin() {
        format!("{} [tsc]", column.name())
    } else {
        column.name().to_string()
    }
}

/// `62.00`, or `41.20 [40.10, 42.00]` when the rounds differ.
pub fn cell(row: &Row) -> String {
    let median = format!("{:.2}", row.per_op_median);
    let (low, high) = (format!("{:.2}", row.ci_low), format!("{:.2}", row.ci_high));
    if low == high {
        median
    } else {
        format!("{median} [{low}, {high}]")
    }
}

/// `null_syscall` minus `loop` on `column` (their medians).
pub fn kernel_part(report: &Report, column: Column) -> Option<f64> {
    let call = report.row("null_syscall", column)?;
    let empty_loop = report.row("loop", column)?;
    Some(call.per_op_median - empty_loop.per_op_median)
}

/// Columns padded to their widest cell, two spaces apart; the last cell of a line runs on
/// without widening its column (nothing follows it to align).
fn aligned(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|index| {
            lines
                .iter()
                .filter(|line| index + 1 < line.len())
                .map(|line| line[index].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::catalog::BENCHMARKS;
    use crate::bench::json::tests::example;

    fn every_benchmark() -> Vec<&'static Benchmark> {
        BENCHMARKS.iter().collect()
    }

    #[test]
    fn a_table_of_a_tcg_run() {
        let columns = Column::ALL;
        let table = render(&example(), &every_benchmark(), &columns, 2);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("unit: instructions per operation: TCG"),
            "{table}"
        );
        assert!(
            lines[1].contains("twin_* columns [tsc]: tsc_ticks"),
            "{table}"
        );
        let header = lines
            .iter()
            .find(|line| line.starts_with("benchmark"))
            .unwrap();
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            [
                "benchmark",
                "floor",
                "lazy",
                "complete",
                "linux",
                "twin_lazy",
                "[tsc]",
                "twin_complete",
                "[tsc]"
            ]
        );
        let null = lines
            .iter()
            .find(|line| line.starts_with("null_syscall"))
            .unwrap();
        assert_eq!(
            null.split_whitespace().collect::<Vec<_>>(),
            [
                "null_syscall",
                "7.00",
                "59.00",
                "62.00",
                "325.35",
                "[325.20,",
                "325.50]",
                "40.10",
                "[38.70,",
                "41.00]",
                "41.30",
                "[40.00,",
                "42.20]"
            ]
        );
        let part = lines
            .iter()
            .find(|line| line.starts_with(KERNEL_PART))
            .unwrap();
        assert_eq!(
            part[KERNEL_PART.len()..]
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["3.00", "55.00", "58.00", "321.35"]
        );
        let slow = lines
            .iter()
            .find(|line| line.starts_with("slow_path_syscall"))
            .unwrap();
        assert_eq!(
            slow.split_whitespace().collect::<Vec<_>>(),
            ["slow_path_syscall", "n/a", "-", "-", "n/a"]
        );
        assert!(table.contains("signal_roundtrip: tgkill of the calling thread"));
        assert!(table.contains("null_syscall: getppid (110) through SYSCALL\n"));
        assert!(table.contains("n/a: Linux has no such switch (slow_path_syscall on linux)"));
        assert!(table.contains(
            "linux: Debian's linux-image-6.1.0-56-cloud-amd64 6.1.192-2, booted with \
             \"console=ttyS0 clearcpuid=erms,fsrm panic=-1 quiet\""
        ));
    }

    #[test]
    fn only_the_chosen_columns_and_benchmarks() {
        let benchmarks = vec![crate::bench::catalog::find("loop").unwrap()];
        let table = render(&example(), &benchmarks, &[Column::Complete], 2);
        assert!(!table.contains("twin"), "{table}");
        assert!(!table.contains("null_syscall"), "{table}");
        assert!(!table.contains("linux"), "{table}");
        assert!(table.contains("loop       4.00\n"), "{table}");
    }

    #[test]
    fn intervals_show_only_where_rounds_differ() {
        let exact = Row::from_rounds("loop", Column::Lazy, vec![4.00005; 3]).unwrap();
        assert_eq!(cell(&exact), "4.00");
        let noisy = Row::from_rounds("null_syscall", Column::TwinLazy, vec![40.0, 44.0]).unwrap();
        assert_eq!(cell(&noisy), "42.00 [40.00, 44.00]");
    }
}
