//! The QEMU suite, `tests/qemu-suite.toml`: one QEMU boot per `[[run]]`, each reporting many
//! cases (one per self test, or with `programs` one per program of the run list, plus
//! `<run>/boot` for the status and the expected output).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use regex::Regex;
use serde::{Deserialize, Deserializer};
use topframe_kernel::cmdline::{Cmdline, Setting};

use crate::accel::Accel;
use crate::cli::UsageError;
use crate::console_protocol::{self, SelftestLine};
use crate::kernel_build::{Kernel, KernelVariant, Strategy};
use crate::qemu::{self, Apic, Ending, Machine};
use crate::workspace;

pub const SUITE_FILE: &str = "tests/qemu-suite.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(default)]
    run: Vec<Run>,
}

/// One `[[run]]`: one boot of a test build of the kernel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub name: String,
    /// The reference kernel, or the example (`examples/minimal-kernel`), which has no
    /// self tests, command line or programs: its boot is its one case.
    #[serde(default)]
    pub kernel: Kernel,
    #[serde(default = "one")]
    pub smp: usize,
    #[serde(default)]
    pub apic: Apic,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default)]
    pub release: bool,
    /// Deterministic TCG (`-icount`), or multi-threaded TCG when false.
    #[serde(default = "yes")]
    pub icount: bool,
    /// The kernel command line; `selftest` when absent (nothing for the example).
    #[serde(default)]
    cmdline: Option<String>,
    /// Seconds.
    #[serde(default = "two_minutes")]
    pub timeout: u64,
    #[serde(default)]
    pub expect_status: u32,
    /// Each must match some console line.
    #[serde(default, deserialize_with = "regexes")]
    pub expect_output: Vec<Regex>,
    /// Only with `cargo xtask test --full`.
    #[serde(default)]
    pub full_only: bool,
    /// Programs to run from an initramfs (the kernel booted with `runlist`) instead of the
    /// self tests.
    #[serde(default)]
    pub programs: Option<ProgramSet>,
}

/// What a run's initramfs holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgramSet {
    /// The ABI test programs and the C programs (see `abi_programs`), run from /runlist.
    Abi,
    /// The same initramfs, booting one program as init (the cmdline's `init=`): no run
    /// list, the boot's own output is checked.
    Init,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

fn two_minutes() -> u64 {
    120
}

fn regexes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Regex>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|pattern| {
            Regex::new(pattern).map_err(|error| {
                // regex's message spans several lines; its last line says what is wrong.
                let message = error.to_string();
                let what = message.lines().last().unwrap_or_default().to_string();
                serde::de::Error::custom(format!("invalid regex {pattern:?}: {what}"))
            })
        })
        .collect()
}

/// Reads and checks the suite file at `path`.
pub fn load(path: &Path) -> Result<Vec<Run>> {
    let shown = path.strip_prefix(workspace::root()).unwrap_or(path);
    let text = std::fs::read_to_string(path)
        .map_err(|error| UsageError(format!("cannot read {}: {error}", shown.display())))?;
    parse(&text).map_err(|message| UsageError(format!("{}:{message}", shown.display())).into())
}

/// Parses suite text; an error reads `<line>:<column>: <what>` or ` run "<name>": <what>`.
fn parse(text: &str) -> Result<Vec<Run>, String> {
    let suite: SuiteFile = toml::from_str(text).map_err(|error| {
        let (line, column) = error
            .span()
            .map_or((1, 1), |span| line_and_column(text, span.start));
        let message: Vec<&str> = error.message().lines().collect();
        format!("{line}:{column}: {}", message.join("; "))
    })?;
    let mut names = HashSet::new();
    for run in &suite.run {
        let problem = if run.name.is_empty()
            || !run
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Some("a run name must be letters, digits, '-' and '_'".to_string())
        } else if !names.insert(run.name.as_str()) {
            Some("the name is used twice".to_string())
        } else if run.timeout == 0 {
            Some("timeout must be at least 1 second".to_string())
        } else if run.kernel == Kernel::Example
            && (run.cmdline.is_some() || run.programs.is_some() || run.apic != Apic::X2apic)
        {
            Some(
                "the example kernel takes no cmdline or programs and needs apic = \"x2apic\""
                    .to_string(),
            )
        } else if run.programs == Some(ProgramSet::Abi)
            && (Cmdline(run.cmdline()).get("runlist") != Setting::Flag
                || Cmdline(run.cmdline()).get("selftest") != Setting::Absent)
        {
            Some(
                "a run with `programs` needs `runlist` and no `selftest` in its cmdline"
                    .to_string(),
            )
        } else if run.programs == Some(ProgramSet::Init)
            && (!matches!(Cmdline(run.cmdline()).get("init"), Setting::Value(_))
                || Cmdline(run.cmdline()).get("selftest") != Setting::Absent)
        {
            Some(
                "a run with `programs = \"init\"` needs `init=PATH` and no `selftest` in its cmdline"
                    .to_string(),
            )
        } else {
            qemu::check_cpu_count(run.smp)
                .err()
                .map(|range| format!("smp: {range}"))
        };
        if let Some(problem) = problem {
            return Err(format!(" run {:?}: {problem}", run.name));
        }
    }
    Ok(suite.run)
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |newline| newline + 1) + 1;
    (line, column)
}

/// The runs `cargo xtask test` boots: all of them with `--full`, else those not `full_only`.
pub fn selected(runs: Vec<Run>, full: bool) -> Vec<Run> {
    runs.into_iter()
        .filter(|run| full || !run.full_only)
        .collect()
}

impl Run {
    /// The kernel command line it boots with.
    pub fn cmdline(&self) -> &str {
        match (&self.cmdline, self.kernel) {
            (Some(cmdline), _) => cmdline,
            (None, Kernel::Reference) => "selftest",
            (None, Kernel::Example) => "",
        }
    }

    pub fn kernel_variant(&self) -> KernelVariant {
        KernelVariant {
            kernel: self.kernel,
            selftest: self.kernel == Kernel::Reference,
            strategy: self.strategy,
            release: self.release,
        }
    }

    pub fn machine(&self, kernel: PathBuf, initrd: Option<PathBuf>) -> Machine {
        Machine {
            kernel,
            initrd,
            cpus: self.smp,
            accel: if self.icount {
                Accel::TcgIcount
            } else {
                Accel::TcgMultiThreaded
            },
            apic: self.apic,
            cmdline: self.cmdline().to_string(),
            extra_args: Vec::new(),
        }
    }

    /// The `<run>/boot` case: `Err` lists everything that is wrong.
    pub fn boot_verdict(&self, ending: &Ending, console: &[String]) -> Result<(), String> {
        let mut problems = Vec::new();
        match ending {
            Ending::KernelStatus(status) if *status == self.expect_status => {}
            Ending::KernelStatus(status) => problems.push(format!(
                "exit status {status}, expected {}",
                self.expect_status
            )),
            Ending::TimedOut => problems.push(format!("timed out after {} s", self.timeout)),
            Ending::NoStatusLine(qemu) => problems.push(format!(
                "QEMU ended ({qemu}) without the kernel's exit status line"
            )),
        }
        for expected in &self.expect_output {
            if !console.iter().any(|line| expected.is_match(line)) {
                problems.push(format!("no console line matches `{expected}`"));
            }
        }
        // A run of programs reports them case by case instead; the example has no self tests.
        if self.expect_status == 0 && self.programs.is_none() && self.kernel == Kernel::Reference {
            problems.extend(selftest_problems(console));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// What is wrong with the self-test report of a run that should pass: failed tests, a
/// missing or failing summary, a summary that disagrees with the lines.
fn selftest_problems(console: &[String]) -> Vec<String> {
    let mut passed_lines = 0;
    let mut failed_names = Vec::new();
    let mut summary = None;
    for line in console {
        match console_protocol::selftest_line(line) {
            Some(SelftestLine::Passed { .. }) => passed_lines += 1,
            Some(SelftestLine::Failed { name, .. }) => failed_names.push(name),
            Some(SelftestLine::Summary { passed, failed }) => summary = Some((passed, failed)),
            None => {}
        }
    }
    let mut problems = Vec::new();
    if !failed_names.is_empty() {
        problems.push(format!("self tests failed: {}", failed_names.join(", ")));
    }
    match summary {
        None => problems.push("no `[selftest] P passed, F failed` line".to_string()),
        Some((_, failed)) if failed != 0 => {
            problems.push(format!("the self-test summary reports {failed} failed"));
        }
        Some((passed, _)) if passed != passed_lines => problems.push(format!(
            "the self-test summary reports {passed} passed, but {passed_lines} ok lines were seen"
        )),
        Some(_) => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;

    const EXAMPLE: &str = r#"
# One QEMU boot per [[run]]; each run reports many cases.
[[run]]
name = "smp1-x2apic"
smp = 1
apic = "x2apic"
cmdline = "selftest"
expect_output = ['cpus online: 1/1']   # regexes that must match some console line
[[run]]
name = "smp4-xapic"
smp = 4
apic = "xapic"
strategy = "lazy"
release = true
timeout = 300
expect_output = ['cpus online: 4/4', 'apic mode: xapic']
[[run]]
name = "crash-page-fault"
cmdline = "selftest=crash_page_fault"
expect_status = 101
expect_output = ['KERNEL PANIC', 'vector 14', 'CR2=0x']
[[run]]
name = "smp4-mttcg"
smp = 4
icount = false
[[run]]
name = "smp16-x2apic-full"
smp = 16
full_only = true   # only with --full
"#;

    fn run_named(runs: &[Run], name: &str) -> usize {
        runs.iter().position(|run| run.name == name).unwrap()
    }

    #[test]
    fn fields_and_defaults() {
        let runs = parse(EXAMPLE).unwrap();
        assert_eq!(runs.len(), 5);
        let first = &runs[run_named(&runs, "smp1-x2apic")];
        assert_eq!(first.smp, 1);
        assert_eq!(first.apic, Apic::X2apic);
        assert_eq!(first.strategy, Strategy::Complete);
        assert!(!first.release && first.icount && !first.full_only);
        assert_eq!(first.timeout, 120);
        assert_eq!(first.expect_status, 0);
        assert_eq!(first.expect_output.len(), 1);

        let xapic = &runs[run_named(&runs, "smp4-xapic")];
        assert_eq!(xapic.apic, Apic::Xapic);
        assert_eq!(xapic.strategy, Strategy::Lazy);
        assert!(xapic.release);
        assert_eq!(xapic.timeout, 300);
        assert_eq!(xapic.cmdline(), "selftest");

        let crash = &runs[run_named(&runs, "crash-page-fault")];
        assert_eq!(crash.smp, 1);
        assert_eq!(crash.expect_status, 101);
        assert_eq!(crash.cmdline(), "selftest=crash_page_fault");

        let mttcg = &runs[run_named(&runs, "smp4-mttcg")];
        assert!(!mttcg.icount);
        assert_eq!(
            mttcg.machine(PathBuf::new(), None).accel,
            Accel::TcgMultiThreaded
        );
        assert_eq!(first.machine(PathBuf::new(), None).accel, Accel::TcgIcount);
        assert!(mttcg.expect_output.is_empty());
    }

    #[test]
    fn full_only_runs_need_full() {
        let default: Vec<String> = selected(parse(EXAMPLE).unwrap(), false)
            .into_iter()
            .map(|run| run.name)
            .collect();
        assert!(!default.contains(&"smp16-x2apic-full".to_string()));
        assert_eq!(default.len(), 4);
        assert_eq!(selected(parse(EXAMPLE).unwrap(), true).len(), 5);
    }

    #[test]
    fn the_checked_in_suite_parses() {
        load(&workspace::root().join(SUITE_FILE)).unwrap();
    }

    #[test]
    fn load_errors_name_the_file_and_are_usage_errors() {
        let path = std::env::temp_dir().join(format!("xtask-suite-{}.toml", std::process::id()));
        std::fs::write(&path, "[[run]]\nname = \"a\"\nsmpp = 4\n").unwrap();
        let error = load(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(error.is::<UsageError>());
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{}:3:1: unknown field `smpp`", path.display())),
            "{message}"
        );
        let missing = load(Path::new("/nonexistent/qemu-suite.toml")).unwrap_err();
        assert!(missing.is::<UsageError>());
        assert!(
            missing
                .to_string()
                .starts_with("cannot read /nonexistent/qemu-suite.toml: ")
        );
    }

    #[test]
    fn an_empty_file_has_no_runs() {
        assert!(parse("# nothing yet\n").unwrap().is_empty());
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err()
    }

    #[test]
    fn unknown_fields_are_errors() {
        let message = error("[[run]]\nname = \"a\"\nsmpp = 4\n");
        assert!(
            message.starts_with("3:1: unknown field `smpp`"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        assert!(error("[[runs]]\nname = \"a\"\n").contains("unknown field `runs`"));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(error("[[run]]\nsmp = 2\n").contains("missing field `name`"));
        assert!(error("[[run]]\nname = \"a\"\napic = \"x3apic\"\n").starts_with("3:8: "));
        assert!(error("[[run]]\nname = \"a\"\nicount = \"no\"\n").starts_with("3:10: "));
        let regex = error("[[run]]\nname = \"a\"\nexpect_output = ['(']\n");
        assert!(regex.contains("invalid regex \"(\""), "{regex}");
        assert!(!regex.contains('\n'), "{regex}");
    }

    #[test]
    fn bad_runs_are_errors() {
        assert!(error("[[run]]\nname = \"a\"\nsmp = 0\n").contains("run \"a\": smp: 0 CPUs"));
        let too_many = format!(
            "[[run]]\nname = \"a\"\nsmp = {}\n",
            topframe_kernel::MAX_CPUS + 1
        );
        assert!(error(&too_many).contains("outside the supported range"));
        assert!(error("[[run]]\nname = \"a b\"\n").contains("letters, digits"));
        assert!(error("[[run]]\nname = \"a\"\n[[run]]\nname = \"a\"\n").contains("used twice"));
        assert!(error("[[run]]\nname = \"a\"\ntimeout = 0\n").contains("at least 1 second"));
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    fn first_run() -> Run {
        parse(EXAMPLE).unwrap().remove(0)
    }

    #[test]
    fn a_clean_boot_passes() {
        let console = lines(
            "cpus online: 1/1\n[selftest] heap ... ok\n[selftest] frames ... ok\n\
             [selftest] 2 passed, 0 failed\ntopframe: exit status 0",
        );
        assert_eq!(
            first_run().boot_verdict(&Ending::KernelStatus(0), &console),
            Ok(())
        );
    }

    #[test]
    fn boot_problems_are_all_reported() {
        let console =
            lines("[selftest] heap ... FAILED: out of memory\n[selftest] 0 passed, 1 failed");
        let verdict = first_run()
            .boot_verdict(&Ending::KernelStatus(1), &console)
            .unwrap_err();
        assert_eq!(
            verdict,
            "exit status 1, expected 0; no console line matches `cpus online: 1/1`; \
             self tests failed: heap; the self-test summary reports 1 failed"
        );
    }

    #[test]
    fn missing_summary_and_lost_lines_fail() {
        let run = first_run();
        let no_summary = lines("cpus online: 1/1\n[selftest] heap ... ok");
        assert_eq!(
            run.boot_verdict(&Ending::KernelStatus(0), &no_summary),
            Err("no `[selftest] P passed, F failed` line".to_string())
        );
        let lost = lines("cpus online: 1/1\n[selftest] heap ... ok\n[selftest] 2 passed, 0 failed");
        assert!(
            run.boot_verdict(&Ending::KernelStatus(0), &lost)
                .unwrap_err()
                .contains("reports 2 passed, but 1 ok lines")
        );
    }

    #[test]
    fn an_expected_crash_passes_without_a_summary() {
        let runs = parse(EXAMPLE).unwrap();
        let crash = &runs[run_named(&runs, "crash-page-fault")];
        let console = lines(
            "KERNEL PANIC on cpu 0: page fault\nvector 14 error 0x2 CR2=0xdead000\n\
             topframe: exit status 101",
        );
        assert_eq!(
            crash.boot_verdict(&Ending::KernelStatus(101), &console),
            Ok(())
        );
        assert_eq!(
            crash.boot_verdict(&Ending::KernelStatus(0), &console),
            Err("exit status 0, expected 101".to_string())
        );
    }

    const PROGRAMS_RUN: &str = r#"
[[run]]
name = "abi-lazy-slow-path"
strategy = "lazy"
cmdline = "runlist syscall_slow_path"
programs = "abi"
timeout = 300
"#;

    #[test]
    fn program_runs() {
        let run = parse(PROGRAMS_RUN).unwrap().remove(0);
        assert_eq!(run.programs, Some(ProgramSet::Abi));
        assert_eq!(run.strategy, Strategy::Lazy);
        assert_eq!(first_run().programs, None);
        let initrd = PathBuf::from("/t/initramfs.cpio");
        assert_eq!(
            run.machine(PathBuf::new(), Some(initrd.clone())).initrd,
            Some(initrd)
        );
        // No self-test summary: the programs are cases of their own.
        let console = lines("[run] /bin/a: exited with status 1\ntopframe: exit status 0");
        assert_eq!(run.boot_verdict(&Ending::KernelStatus(0), &console), Ok(()));
        assert!(error("[[run]]\nname = \"a\"\nprograms = \"c\"\n").starts_with("3:12: "));
    }

    #[test]
    fn program_runs_boot_with_a_runlist() {
        for cmdline in ["selftest", "runlist selftest", "runlist=x", ""] {
            let text =
                format!("[[run]]\nname = \"a\"\nprograms = \"abi\"\ncmdline = \"{cmdline}\"\n");
            assert!(
                error(&text).contains("needs `runlist` and no `selftest`"),
                "{cmdline}"
            );
        }
        // Without a cmdline, a run boots with `selftest`.
        assert!(error("[[run]]\nname = \"a\"\nprograms = \"abi\"\n").contains("runlist"));
    }

    const EXAMPLE_RUN: &str = r#"
[[run]]
name = "example-lazy-smp2"
kernel = "example"
smp = 2
strategy = "lazy"
expect_output = ['^hello from CPU 1$']
"#;

    #[test]
    fn example_kernel_runs() {
        let run = parse(EXAMPLE_RUN).unwrap().remove(0);
        assert_eq!(run.kernel, Kernel::Example);
        assert_eq!(run.cmdline(), "");
        assert_eq!(
            run.kernel_variant(),
            KernelVariant::example(Strategy::Lazy, false)
        );
        assert_eq!(first_run().kernel, Kernel::Reference);
        assert!(first_run().kernel_variant().selftest);
        // Its boot is its only case: no self-test summary is expected.
        let console = lines("hello from CPU 1\ntopframe: exit status 0");
        assert_eq!(run.boot_verdict(&Ending::KernelStatus(0), &console), Ok(()));
        assert_eq!(
            run.boot_verdict(&Ending::KernelStatus(0), &lines("topframe: exit status 0")),
            Err("no console line matches `^hello from CPU 1$`".to_string())
        );
        for extra in ["cmdline = \"\"", "programs = \"abi\"", "apic = \"xapic\""] {
            let text = format!("{EXAMPLE_RUN}{extra}\n");
            assert!(
                error(&text).contains("the example kernel takes no"),
                "{extra}"
            );
        }
        assert!(error("[[run]]\nname = \"a\"\nkernel = \"other\"\n").starts_with("3:10: "));
    }

    #[test]
    fn timeouts_and_silent_exits_fail() {
        let run = first_run();
        let console = lines("cpus online: 1/1\n[selftest] 0 passed, 0 failed");
        assert_eq!(
            run.boot_verdict(&Ending::TimedOut, &console),
            Err("timed out after 120 s".to_string())
        );
        // QEMU's status for a triple fault under -no-reboot.
        let verdict = run
            .boot_verdict(&Ending::NoStatusLine(ExitStatus::from_raw(0)), &console)
            .unwrap_err();
        assert!(
            verdict.starts_with("QEMU ended (exit status: 0) without"),
            "{verdict}"
        );
    }
}
