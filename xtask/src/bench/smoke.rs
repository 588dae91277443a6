//! The `cargo xtask test` case `bench/smoke`: `cargo xtask bench --rounds 2 --smp 1` (under
//! TCG) runs to its end and prints a well-formed table, and its JSON has a row for every
//! benchmark on every column it applies to. No figure is asserted: the bench shows
//! targets, tests do not.

use std::process::Stdio;

use crate::bench::catalog::BENCHMARKS;
use crate::bench::column::Column;
use crate::bench::json::Report;
use crate::bench::table::KERNEL_PART;
use crate::workspace;

/// The case's name in `cargo xtask test`.
pub const CASE: &str = "bench/smoke";

/// The columns a default run without `--linux` or `--twin` has.
const COLUMNS: [Column; 3] = [Column::Floor, Column::Lazy, Column::Complete];

/// Runs the bench and checks its output; `Err` says what is wrong.
pub fn check() -> Result<(), String> {
    let json = workspace::xtask_dir().join("bench").join("smoke.json");
    let output = workspace::cargo()
        .args([
            "xtask", "bench", "--rounds", "2", "--smp", "1", "--accel", "tcg", "--json",
        ])
        .arg(&json)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run cargo xtask bench: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let shown: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
        return Err(format!(
            "cargo xtask bench --rounds 2 --smp 1 ended with {}:\n{}",
            output.status,
            shown[shown.len().saturating_sub(30)..].join("\n")
        ));
    }
    check_table(&stdout)?;
    let report = Report::read(&json).map_err(|error| format!("{error:#}"))?;
    check_report(&report)
}

/// The unit line, the header, one line per benchmark with a figure or `n/a` per column,
/// and the kernel part.
fn check_table(stdout: &str) -> Result<(), String> {
    let lines: Vec<&str> = stdout.lines().collect();
    let find = |start: &str| lines.iter().find(|line| line.starts_with(start)).copied();
    find("unit: instructions per operation").ok_or("no `unit: instructions` line")?;
    let header = find("benchmark").ok_or("no header line")?;
    if header.split_whitespace().collect::<Vec<_>>() != ["benchmark", "floor", "lazy", "complete"] {
        return Err(format!("the header is {header:?}"));
    }
    for benchmark in &BENCHMARKS {
        let line = find(&format!("{} ", benchmark.name))
            .ok_or_else(|| format!("no line for {}", benchmark.name))?;
        let rest = &line[benchmark.name.len()..];
        if cells(rest).is_none_or(|cells| cells.len() != COLUMNS.len()) {
            return Err(format!("malformed line {line:?}"));
        }
    }
    let part = find(KERNEL_PART).ok_or("no kernel part line")?;
    let parts: Vec<&str> = part[KERNEL_PART.len()..].split_whitespace().collect();
    if parts.len() != COLUMNS.len() || parts.iter().any(|part| part.parse::<f64>().is_err()) {
        return Err(format!("malformed line {part:?}"));
    }
    Ok(())
}

/// The cells of a table line after its name: each `n/a`, a figure, or a figure with its
/// interval (`41.20 [40.10, 42.00]`); `None` if anything else is there.
fn cells(rest: &str) -> Option<Vec<&str>> {
    let mut cells = Vec::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (cell, after) = rest.split_at(end);
        if cell != "n/a" && cell.parse::<f64>().is_err() {
            return None;
        }
        rest = after.trim_start();
        if let Some(interval) = rest.strip_prefix('[') {
            let (bounds, after) = interval.split_once(']')?;
            let (low, high) = bounds.split_once(", ")?;
            low.parse::<f64>().ok()?;
            high.parse::<f64>().ok()?;
            rest = after.trim_start();
        }
        cells.push(cell);
    }
    Some(cells)
}

/// A row with two rounds and a positive median for every benchmark on every column.
fn check_report(report: &Report) -> Result<(), String> {
    for benchmark in &BENCHMARKS {
        for column in COLUMNS
            .into_iter()
            .filter(|&column| benchmark.not_applicable(column, report.smp).is_none())
        {
            let row = report.row(benchmark.name, column).ok_or_else(|| {
                format!(
                    "the JSON has no row for {} on {}",
                    benchmark.name,
                    column.name()
                )
            })?;
            let positive = row.per_op_median.is_finite() && row.per_op_median > 0.0;
            if row.rounds.len() != 2 || !positive {
                return Err(format!(
                    "the JSON row {row:?} is not two rounds of a positive figure"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::catalog::Benchmark;
    use crate::bench::json::Row;
    use crate::bench::json::tests::example;
    use crate::bench::table;

    /// The example report with every benchmark measured on the default columns.
    fn complete_report() -> Report {
        let mut report = example();
        report.rows = BENCHMARKS
            .iter()
            .flat_map(|benchmark| COLUMNS.map(|column| (benchmark, column)))
            .filter(|(benchmark, column)| benchmark.not_applicable(*column, report.smp).is_none())
            .filter_map(|(benchmark, column)| {
                Row::from_rounds(benchmark.name, column, vec![5.0, 5.0])
            })
            .collect();
        report
    }

    #[test]
    fn a_real_table_passes() {
        let report = complete_report();
        let benchmarks: Vec<&'static Benchmark> = BENCHMARKS.iter().collect();
        let table = table::render(&report, &benchmarks, &COLUMNS, 2);
        assert_eq!(check_table(&table), Ok(()));
        assert_eq!(check_report(&report), Ok(()));
    }

    #[test]
    fn figures_with_intervals_are_one_cell_each() {
        assert_eq!(
            cells("  n/a  1364.28  1344.15 [1344.05, 1344.25]"),
            Some(vec!["n/a", "1364.28", "1344.15"])
        );
        assert_eq!(cells("  1344.15 [1344.05]"), None);
        assert_eq!(cells("  1344.15 [1344.05, 1344.25"), None);
        assert_eq!(cells("  - 5.00"), None);
    }

    #[test]
    fn broken_tables_fail() {
        let report = complete_report();
        let benchmarks: Vec<&'static Benchmark> = BENCHMARKS.iter().collect();
        let table = table::render(&report, &benchmarks, &COLUMNS, 2);
        let without_enosys: String = table
            .lines()
            .filter(|line| !line.starts_with("enosys"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(
            check_table(&without_enosys),
            Err("no line for enosys".to_string())
        );
        let garbled = table.replace("5.00", "five");
        assert!(
            check_table(&garbled)
                .unwrap_err()
                .starts_with("malformed line")
        );
        let mut missing = report.clone();
        missing.rows.retain(|row| row.benchmark != "int80_getpid");
        assert_eq!(
            check_report(&missing),
            Err("the JSON has no row for int80_getpid on floor".to_string())
        );
    }
}
