//! `cargo xtask test`: host tests, lints, the ABI programs (built, and the C programs run
//! natively), the per-CPU codegen check and the QEMU suite, each reported case by case,
//! ending with one line `N passed, N failed`.

use std::collections::HashMap;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use regex::Regex;
use topframe_percpu::PROBE_SYMBOL_PREFIX;

use crate::abi_programs::{self, AbiPrograms};
use crate::bench;
use crate::cli::TestArgs;
use crate::codegen_check;
use crate::console_protocol::{self, SelftestLine};
use crate::defmt_log::LogDecoder;
use crate::kernel_build::{CargoOutput, KERNEL_TARGET, Kernel, KernelVariant, Strategy};
use crate::qemu::{self, Line};
use crate::run_list::RunListWatcher;
use crate::suite::{self, ProgramSet, Run, SUITE_FILE};
use crate::{setup, workspace};

/// The kernel the codegen check disassembles: optimized, as the accessors are meant to be.
const CODEGEN_VARIANT: KernelVariant = KernelVariant {
    kernel: Kernel::Reference,
    selftest: true,
    strategy: Strategy::Complete,
    release: true,
};

/// How many lines of a long output a failure shows.
const TAIL_LINES: usize = 40;

pub fn run(args: &TestArgs) -> Result<ExitCode> {
    let mut runs = suite::selected(suite::load(&workspace::root().join(SUITE_FILE))?, args.full);
    if let Some(only) = &args.only {
        runs.retain(|run| run.name.contains(only.as_str()));
    }
    setup::ensure_host_ready()?;
    let jobs = args
        .jobs
        .or_else(|| thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);

    let mut variants: Vec<KernelVariant> = runs
        .iter()
        .map(Run::kernel_variant)
        .chain([CODEGEN_VARIANT])
        .collect();
    variants.sort();
    variants.dedup();
    let names: Vec<String> = variants.iter().map(KernelVariant::name).collect();
    println!("building kernels in the background: {}", names.join(", "));

    let report = Report::default();
    thread::scope(|scope| {
        // Each variant has its own target directory, so they build side by side while the
        // host tests and lints run.
        let builds: Vec<_> = variants
            .iter()
            .map(|variant| {
                (
                    *variant,
                    scope.spawn(|| variant.build(CargoOutput::Captured)),
                )
            })
            .collect();
        if args.only.is_none() {
            host_tests(&report);
            lints(&report);
        }
        let abi = runs
            .iter()
            .any(|run| run.programs.is_some())
            .then(|| abi_stage(&report))
            .flatten();
        let kernels: HashMap<KernelVariant, Option<PathBuf>> = builds
            .into_iter()
            .map(|(variant, build)| {
                let built = build.join().expect("a kernel build thread panicked");
                (variant, report.build_result(built))
            })
            .collect();
        if args.only.is_none() {
            codegen(&report, kernels[&CODEGEN_VARIANT].as_deref());
        }
        qemu_suite(&report, &runs, &kernels, abi.as_ref(), jobs);
    });
    if args.only.is_none() {
        println!("bench: cargo xtask bench --rounds 2 --smp 1 --accel tcg (table well formed)");
        report.case(bench::smoke::CASE, bench::smoke::check());
    }
    Ok(report.finish())
}

/// Counts cases and prints them as they complete, from any thread.
#[derive(Default)]
struct Report {
    /// (passed, failed)
    totals: Mutex<(usize, usize)>,
}

impl Report {
    fn case(&self, name: &str, outcome: Result<(), String>) {
        let mut totals = self.totals.lock().expect("report lock");
        match outcome {
            Ok(()) => {
                totals.0 += 1;
                println!("ok     {name}");
            }
            Err(reason) => {
                totals.1 += 1;
                println!("FAILED {name}: {reason}");
            }
        }
    }

    /// Cases counted elsewhere (libtest's summaries).
    fn add(&self, passed: usize, failed: usize) {
        let mut totals = self.totals.lock().expect("report lock");
        totals.0 += passed;
        totals.1 += failed;
    }

    /// Prints several lines together, not interleaved with other threads' output.
    fn block(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // Nothing sensible to do when stdout is gone.
        let _ = writeln!(stdout, "{}", text.trim_end());
    }

    /// The ELF of a kernel build; a failed build is shown once, and its runs then fail.
    fn build_result(&self, built: Result<PathBuf>) -> Option<PathBuf> {
        built
            .map_err(|error| {
                self.block(&format!(
                    "error: {error}\n{}",
                    tail(&error.root_cause().to_string(), TAIL_LINES)
                ));
            })
            .ok()
    }

    fn finish(self) -> ExitCode {
        let (passed, failed) = *self.totals.lock().expect("report lock");
        println!("{passed} passed, {failed} failed");
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// The last `count` lines of `text`.
fn tail(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Runs `cargo <args>` (split at spaces) with its output captured; `Err` holds the end of
/// its output.
fn cargo_case(args: &str) -> Result<(), String> {
    let output = workspace::cargo()
        .args(args.split_whitespace())
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(tail(&format!("{stdout}{stderr}"), TAIL_LINES))
    }
}

/// What libtest printed: the sums of its `test result:` lines and the failed tests' names.
#[derive(Debug, Default, PartialEq, Eq)]
struct LibtestSummary {
    passed: usize,
    failed: usize,
    failed_tests: Vec<String>,
}

fn parse_libtest(output: &str) -> LibtestSummary {
    static RESULT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^test result: \w+\. (\d+) passed; (\d+) failed;").expect("valid regex")
    });
    static FAILED_TEST: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^test (.+) \.\.\. FAILED$").expect("valid regex"));
    let mut summary = LibtestSummary::default();
    for line in output.lines().map(str::trim_end) {
        if let Some(counts) = RESULT.captures(line) {
            summary.passed += counts[1].parse::<usize>().unwrap_or(0);
            summary.failed += counts[2].parse::<usize>().unwrap_or(0);
        } else if let Some(test) = FAILED_TEST.captures(line) {
            summary.failed_tests.push(test[1].to_string());
        }
    }
    summary
}

fn host_tests(report: &Report) {
    // Every test binary runs even when one fails, so the totals are complete.
    println!("host tests: cargo test --workspace --no-fail-fast");
    let output = workspace::cargo()
        .args(["test", "--workspace", "--no-fail-fast"])
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            report.case("host/cargo-test", Err(format!("cannot run cargo: {error}")));
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = parse_libtest(&stdout);
    report.add(summary.passed, summary.failed);
    println!(
        "{} host tests: {} passed, {} failed",
        if summary.failed == 0 {
            "ok    "
        } else {
            "FAILED"
        },
        summary.passed,
        summary.failed
    );
    for test in &summary.failed_tests {
        println!("FAILED host/{test}");
    }
    if !output.status.success() && summary.failed == 0 {
        // A build error, or a test binary that died without its summary.
        report.case(
            "host/cargo-test",
            Err(format!(
                "cargo test --workspace --no-fail-fast ended with {}",
                output.status
            )),
        );
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        report.block(&tail(&format!("{stdout}{stderr}"), TAIL_LINES));
    }
}

fn lints(report: &Report) {
    let lints = [
        ("lint/fmt", "fmt --all -- --check".to_string()),
        (
            "lint/clippy-workspace",
            "clippy --workspace --all-targets -- -D warnings".to_string(),
        ),
        (
            "lint/clippy-kernel",
            format!(
                "clippy -p topframe-kernel --bin topframe-kernel --target {KERNEL_TARGET} \
                 --features image,selftest -- -D warnings"
            ),
        ),
        (
            "lint/clippy-example",
            format!(
                "clippy -p topframe-example-kernel --bin topframe-example-kernel --target \
                 {KERNEL_TARGET} --features image -- -D warnings"
            ),
        ),
        (
            "lint/clippy-crates-kernel-target",
            format!(
                "clippy -p topframe-entry -p topframe-percpu -p topframe-sched --target \
                 {KERNEL_TARGET} -- -D warnings"
            ),
        ),
        // The three crates' documentation, as docs.rs builds it (for the kernel target):
        // every public item documented (missing_docs), every intra-doc link resolved.
        (
            "lint/docs-entry",
            format!("rustdoc -p topframe-entry --target {KERNEL_TARGET} -- -D warnings"),
        ),
        (
            "lint/docs-entry-host",
            "rustdoc -p topframe-entry -- -D warnings".to_string(),
        ),
        (
            "lint/docs-percpu",
            format!("rustdoc -p topframe-percpu --target {KERNEL_TARGET} -- -D warnings"),
        ),
        (
            "lint/docs-sched",
            format!("rustdoc -p topframe-sched --target {KERNEL_TARGET} -- -D warnings"),
        ),
        // What `cargo publish` would upload, each crate built from its packaged files alone
        // (entry resolves percpu from the package just made, as it would from crates.io).
        (
            "lint/package",
            "package -p topframe-percpu -p topframe-entry -p topframe-sched --allow-dirty"
                .to_string(),
        ),
    ];
    for (name, args) in lints {
        println!("lint: cargo {args}");
        match cargo_case(&args) {
            Ok(()) => report.case(name, Ok(())),
            Err(output) => {
                report.case(name, Err("see below".to_string()));
                report.block(&output);
            }
        }
    }
}

/// Builds the ABI programs and runs the C programs natively (cases `native/<program>`);
/// `None` when the programs cannot be booted (shown), so that the runs with them fail.
fn abi_stage(report: &Report) -> Option<AbiPrograms> {
    println!(
        "abi programs: cargo build -p topframe-abi-tests --release, tests/c/*.c with gcc and \
         musl-gcc, run natively"
    );
    abi_programs::prepare(&mut |case, outcome| report.case(case, outcome))
        .map_err(|error| {
            report.block(&format!(
                "error: {error}\n{}",
                tail(&error.root_cause().to_string(), TAIL_LINES)
            ));
        })
        .ok()
}

fn codegen(report: &Report, kernel: Option<&Path>) {
    println!(
        "codegen: {PROBE_SYMBOL_PREFIX}* in {}",
        CODEGEN_VARIANT.name()
    );
    let Some(kernel) = kernel else {
        report.case(
            "codegen/percpu-probes",
            Err("the kernel build failed (above)".to_string()),
        );
        return;
    };
    match codegen_check::probes_in(kernel) {
        Err(error) => report.case("codegen/percpu-probes", Err(format!("{error:#}"))),
        Ok(probes) => {
            for probe in probes {
                report.case(
                    &format!("codegen/{}", probe.name),
                    codegen_check::check_probe(&probe.name, &probe.instructions),
                );
            }
        }
    }
}

fn qemu_suite(
    report: &Report,
    runs: &[Run],
    kernels: &HashMap<KernelVariant, Option<PathBuf>>,
    abi: Option<&AbiPrograms>,
    jobs: usize,
) {
    println!(
        "qemu suite: {} runs from {SUITE_FILE}, {} at a time",
        runs.len(),
        jobs.min(runs.len())
    );
    let next = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..jobs.min(runs.len()) {
            scope.spawn(|| {
                while let Some(run) = runs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    boot_run(report, run, kernels[&run.kernel_variant()].as_deref(), abi);
                }
            });
        }
    });
}

/// What one run printed.
#[derive(Default)]
struct RunOutput {
    console: Vec<String>,
    log: Vec<String>,
    qemu_stderr: Vec<String>,
    /// A self test reported a failure.
    selftest_failed: bool,
}

/// Boots one run, reporting each self test or program as its line arrives and then
/// `<run>/boot`.
fn boot_run(report: &Report, run: &Run, kernel: Option<&Path>, abi: Option<&AbiPrograms>) {
    let boot_case = format!("{}/boot", run.name);
    let Some(kernel) = kernel else {
        report.case(
            &boot_case,
            Err("the kernel build failed (above)".to_string()),
        );
        return;
    };
    let programs = match (run.programs, abi) {
        (None, _) => None,
        (Some(_), Some(abi)) => Some(abi),
        (Some(_), None) => {
            report.case(
                &boot_case,
                Err("the ABI programs could not be prepared (above)".to_string()),
            );
            return;
        }
    };
    let log = match LogDecoder::from_elf(kernel) {
        Ok(log) => log,
        Err(error) => {
            report.case(&boot_case, Err(format!("{error:#}")));
            return;
        }
    };
    let machine = run.machine(
        kernel.to_path_buf(),
        programs.map(|abi| abi.initramfs.clone()),
    );
    let mut output = RunOutput::default();
    let mut run_list = programs
        .filter(|_| run.programs == Some(ProgramSet::Abi))
        .map(|abi| RunListWatcher::new(&abi.programs));
    let run_dir = workspace::xtask_dir().join("test").join(&run.name);
    let started = Instant::now();
    let ending = qemu::boot(
        &machine,
        log,
        Duration::from_secs(run.timeout),
        &mut |line| match line {
            Line::Console(text) => {
                match console_protocol::selftest_line(text) {
                    Some(SelftestLine::Passed { name }) => {
                        report.case(&format!("{}/{name}", run.name), Ok(()));
                    }
                    Some(SelftestLine::Failed { name, reason }) => {
                        output.selftest_failed = true;
                        let reason = if reason.is_empty() { "failed" } else { reason };
                        report.case(&format!("{}/{name}", run.name), Err(reason.to_string()));
                    }
                    Some(SelftestLine::Summary { .. }) | None => {}
                }
                if let Some(program) = run_list
                    .as_mut()
                    .and_then(|run_list| run_list.console_line(text))
                {
                    let case = format!("{}/{}", run.name, program.name);
                    let failed = program.verdict.is_err();
                    report.case(&case, program.verdict);
                    if failed {
                        report.block(&program_failure_details(&case, &program.output, &run_dir));
                    }
                }
                output.console.push(text.clone());
            }
            Line::Log(text) => output.log.push(text.clone()),
            Line::QemuStderr(text) => output.qemu_stderr.push(text.clone()),
        },
    );
    let verdict = match &ending {
        Ok(ending) => run.boot_verdict(ending, &output.console),
        Err(error) => Err(format!("{error:#}")),
    };
    for program in run_list.iter().flat_map(RunListWatcher::unfinished) {
        report.case(
            &format!("{}/{}", run.name, program.name),
            Err(format!(
                "it never ended: the boot stopped first (see {boot_case})"
            )),
        );
    }
    let failed = output.selftest_failed || verdict.is_err();
    let saved = save_run(&run_dir, &machine, &output);
    report.case(
        &format!("{boot_case} ({:.1} s)", started.elapsed().as_secs_f64()),
        verdict,
    );
    if failed {
        report.block(&failure_details(run, &run_dir, &output, saved));
    }
}

fn save_run(run_dir: &Path, machine: &qemu::Machine, output: &RunOutput) -> std::io::Result<()> {
    if run_dir.exists() {
        std::fs::remove_dir_all(run_dir)?;
    }
    std::fs::create_dir_all(run_dir)?;
    let command: Vec<String> = std::iter::once(qemu::QEMU.to_string())
        .chain(
            machine
                .qemu_args(None)
                .iter()
                .map(|arg| format!("'{}'", arg.to_string_lossy())),
        )
        .collect();
    let files = [
        ("console.txt", &output.console),
        ("defmt.txt", &output.log),
        ("qemu-stderr.txt", &output.qemu_stderr),
        ("qemu-command.txt", &vec![command.join(" ")]),
    ];
    for (file, lines) in files {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(run_dir.join(file), text)?;
    }
    Ok(())
}

/// The console lines of one failed program.
fn program_failure_details(case: &str, output: &[String], run_dir: &Path) -> String {
    let shown_dir = run_dir.strip_prefix(workspace::root()).unwrap_or(run_dir);
    let which = if output.len() > TAIL_LINES {
        format!(" (last {TAIL_LINES} of {} lines)", output.len())
    } else {
        String::new()
    };
    format!(
        "---- {case} console{which} ----\n{}\n---- whole console: {}/console.txt",
        tail(&output.join("\n"), TAIL_LINES),
        shown_dir.display()
    )
}

fn failure_details(
    run: &Run,
    run_dir: &Path,
    output: &RunOutput,
    saved: std::io::Result<()>,
) -> String {
    let shown_dir = run_dir.strip_prefix(workspace::root()).unwrap_or(run_dir);
    let mut text = String::new();
    let sections = [
        ("console", &output.console),
        ("defmt log", &output.log),
        ("QEMU stderr", &output.qemu_stderr),
    ];
    for (what, lines) in sections {
        if !lines.is_empty() {
            text.push_str(&format!(
                "---- {} {what} (last {TAIL_LINES} lines) ----\n{}\n",
                run.name,
                tail(&lines.join("\n"), TAIL_LINES)
            ));
        }
    }
    match saved {
        Ok(()) => text.push_str(&format!("---- full logs: {}/\n", shown_dir.display())),
        Err(error) => text.push_str(&format!(
            "---- cannot save the logs to {}: {error}\n",
            shown_dir.display()
        )),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summaries_add_up() {
        let output = "\
running 2 tests
test layout::tests::offsets ... ok
test frames::tests::double_free ... FAILED

failures:

---- frames::tests::double_free stdout ----
thread 'frames::tests::double_free' panicked at kernel/src/frames.rs:10:5

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

running 3 tests
test src/lib.rs - PerCpu (line 12) ... FAILED
test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        assert_eq!(
            parse_libtest(output),
            LibtestSummary {
                passed: 3,
                failed: 2,
                failed_tests: vec![
                    "frames::tests::double_free".to_string(),
                    "src/lib.rs - PerCpu (line 12)".to_string()
                ],
            }
        );
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
