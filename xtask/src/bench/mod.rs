//! `cargo xtask bench`: the A/B harness for the entry strategies (issue 6).
//!
//! Builds release kernels (the floor, `floor-entry`, and one per strategy) and the `bench`
//! program of `tests/bench/`, boots each kernel with the program as `/init`, and prints one
//! table: per-operation medians in the guests' unit (instructions under TCG with icount,
//! TSC ticks under KVM), optionally with Debian's Linux in the same QEMU (`--linux`) and the
//! ring-3 twin timed on this host (`--twin`). Under the table: the static listing of the
//! fast path read from each kernel ELF beside the dynamic count, the instructions that
//! differ between the strategies, the paired A-B differences and issue 6's targets.
//! `--json` and `--plot` write the same results as JSON and SVG.

mod args;
mod builds;
mod catalog;
mod column;
mod comparison;
mod guest;
mod guest_output;
mod json;
mod linux;
mod listing;
mod plot;
pub mod smoke;
mod stats;
mod table;
mod twin;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

pub use self::args::BenchArgs;
use self::builds::TopframeKernel;
use self::catalog::{BENCHMARKS, Benchmark};
use self::column::Column;
use self::comparison::ListingResult;
use self::json::{Report, Row, Unit};
use self::listing::FastPath;
use crate::accel::{self, Accel};
use crate::qemu::QEMU;
use crate::setup;

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let accel = accel::choose(args.accel)?;
    setup::ensure_host_ready()?;
    let benchmarks: Vec<&'static Benchmark> = match args.only {
        Some(benchmark) => vec![benchmark],
        None => BENCHMARKS.iter().collect(),
    };
    if let Some(benchmark) = args.only
        && benchmark.cpus.minimum() > args.smp
    {
        anyhow::bail!(
            "{} runs on {} CPUs: add --smp {}",
            benchmark.name,
            benchmark.cpus.minimum(),
            benchmark.cpus.minimum()
        );
    }
    let mut strategies = args.strategies.clone();
    strategies.sort_by_key(|&strategy| Column::of_strategy(strategy));
    strategies.dedup();
    let kernels: Vec<TopframeKernel> = std::iter::once(TopframeKernel::Floor)
        .chain(strategies.into_iter().map(TopframeKernel::Entry))
        .collect();
    let mut guest_columns: Vec<Column> = kernels.iter().map(|kernel| kernel.column()).collect();
    if args.linux {
        guest_columns.push(Column::Linux);
    }
    let boots = guest::plan(&guest_columns, &benchmarks, accel, args.rounds, args.smp);
    let with_twin = args.twin
        && benchmarks
            .iter()
            .any(|benchmark| benchmark.name == "null_syscall");

    let steps = 1 + kernels.len() + usize::from(args.linux) + boots.len() + usize::from(with_twin);
    let progress = ProgressBar::new(steps as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed:>4} {wide_msg}")
            .expect("a valid progress template"),
    );
    progress.enable_steady_tick(Duration::from_millis(200));

    progress.set_message("building the bench program (tests/bench)");
    let initrd = builds::bench_initramfs()?;
    progress.inc(1);
    let mut elfs: BTreeMap<Column, PathBuf> = BTreeMap::new();
    for kernel in &kernels {
        progress.set_message(format!(
            "building the {} kernel (release)",
            kernel.column().name()
        ));
        elfs.insert(kernel.column(), kernel.build()?);
        progress.inc(1);
    }
    let linux_kernel = if args.linux {
        progress.set_message("Debian's cloud kernel");
        let kernel = linux::fetch(&mut |step| progress.set_message(step.to_string()))?;
        elfs.insert(Column::Linux, kernel.vmlinuz.clone());
        progress.inc(1);
        Some(kernel.description)
    } else {
        None
    };

    let mut figures: BTreeMap<(&'static str, Column), Vec<f64>> = BTreeMap::new();
    for boot in &boots {
        progress.set_message(format!(
            "booting {} ({})",
            boot.describe(),
            accel_name(accel)
        ));
        for figure in guest::run(boot, &elfs[&boot.column], &initrd, accel, args.smp)? {
            figures
                .entry((figure.benchmark, boot.column))
                .or_default()
                .push(figure.per_op);
        }
        progress.inc(1);
    }
    if with_twin {
        progress.set_message(format!(
            "timing the ring-3 twin: {} rounds of {} calls of each",
            twin::ROUNDS,
            twin::CALLS
        ));
        let rounds = twin::run(twin::ROUNDS, twin::CALLS)?;
        figures.insert(("null_syscall", Column::TwinLazy), rounds.lazy);
        figures.insert(("null_syscall", Column::TwinComplete), rounds.complete);
        progress.inc(1);
    }
    progress.finish_and_clear();

    let rows = benchmarks
        .iter()
        .flat_map(|benchmark| Column::ALL.map(|column| (*benchmark, column)))
        .filter_map(|(benchmark, column)| {
            let rounds = figures.remove(&(benchmark.name, column))?;
            let cpus = if column.is_twin() {
                1
            } else {
                benchmark.cpus.count(args.smp)
            };
            Some(Row::from_rounds(benchmark.name, column, rounds)?.on_cpus(cpus))
        })
        .collect();
    let report = Report {
        unit: match accel {
            Accel::TcgIcount => Unit::Instructions,
            Accel::Kvm | Accel::TcgMultiThreaded => Unit::TscTicks,
        },
        accel: accel_name(accel).to_string(),
        qemu: qemu_version(),
        smp: args.smp,
        linux_kernel,
        rows,
    };
    let listings: Vec<(Column, ListingResult)> = kernels
        .iter()
        .map(|kernel| {
            (
                kernel.column(),
                read_listing(*kernel, &elfs[&kernel.column()]),
            )
        })
        .collect();
    let mut columns = guest_columns;
    if with_twin {
        columns.extend([Column::TwinLazy, Column::TwinComplete]);
    }
    print!(
        "{}",
        table::render(&report, &benchmarks, &columns, args.rounds)
    );
    print!("{}", comparison::render(&report, &listings));
    if let Some(path) = &args.json {
        report.write(path)?;
        println!("\njson: {}", path.display());
    }
    if let Some(path) = &args.plot {
        plot::write_svg(&report, path)?;
        println!("plot: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn read_listing(kernel: TopframeKernel, elf: &std::path::Path) -> ListingResult {
    let listing = match kernel {
        TopframeKernel::Floor => FastPath::read(elf, listing::FLOOR_ENTRY_SYMBOL, false),
        TopframeKernel::Entry(_) => FastPath::read(elf, listing::ENTRY_SYMBOL, true),
    };
    listing.map_err(|error| format!("{error:#}"))
}

fn accel_name(accel: Accel) -> &'static str {
    match accel {
        Accel::TcgIcount => "tcg",
        Accel::Kvm => "kvm",
        Accel::TcgMultiThreaded => "tcg-multithreaded",
    }
}

/// `qemu-system-x86_64 --version`'s first line.
fn qemu_version() -> String {
    Command::new(QEMU)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".to_string())
}
