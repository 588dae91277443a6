//! The command line: `cargo xtask qemu ...`, `cargo xtask example ...`,
//! `cargo xtask test ...` and `cargo xtask bench ...`.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::accel::AccelChoice;
use crate::kernel_build::Strategy;
use crate::qemu::{self, Apic};

/// Builds, boots and tests the topframe kernel.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    after_help = "Both commands first install what is missing when they can (the \
x86_64-unknown-none Rust target, QEMU >= 8.0 from bookworm-backports when root on Debian 12) \
and otherwise say what to run.\n\nEnvironment: DEFMT_LOG sets the kernel's defmt log level at \
build time (trace, debug, info, warn, error; default info when unset)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the kernel, boot it in QEMU and stream its console and decoded defmt log
    /// (`  log|` lines); exit with the kernel's status (124 on timeout, 1 if QEMU ends
    /// without the kernel's status line).
    #[command(
        after_help = "Environment: DEFMT_LOG sets the kernel's defmt log level at \
build time (trace, debug, info, warn, error; default info when unset)."
    )]
    Qemu(QemuArgs),
    /// Run everything: host tests, lints, the per-CPU codegen check and the QEMU suite of
    /// tests/qemu-suite.toml (under TCG); ends with one line `N passed, N failed`.
    #[command(
        after_help = "Logs of each QEMU run are kept under target/xtask/test/<run>/.\n\
Environment: DEFMT_LOG sets the kernel's defmt log level at build time (default info when \
unset)."
    )]
    Test(TestArgs),
    /// Build the example kernel (examples/minimal-kernel: the three crates through their
    /// public API only), boot it in QEMU and stream its console; exit with its status.
    Example(ExampleArgs),
    /// Measure the entry strategies: boot release kernels (floor, lazy, complete) with the
    /// bench program as /init and print per-operation figures, the static fast-path listing
    /// and the A-B difference (issue 6; README.md, "Benchmarks").
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Args)]
pub struct QemuArgs {
    /// Number of CPUs, 1 to topframe_kernel::MAX_CPUS.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = parse_cpu_count)]
    pub smp: usize,
    /// How the entry code fills the top of the register frame.
    #[arg(long, value_enum, default_value_t)]
    pub strategy: Strategy,
    /// Accelerator; auto picks KVM only where it is hardware virtualization.
    #[arg(long, value_enum, default_value_t)]
    pub accel: AccelChoice,
    /// APIC mode the CPUs offer (xapic hides x2APIC from the guest).
    #[arg(long, value_enum, default_value_t)]
    pub apic: Apic,
    /// Build the kernel with the release profile.
    #[arg(long)]
    pub release: bool,
    /// Kill QEMU and exit with 124 after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Kernel command line.
    #[arg(long, value_name = "STRING", default_value = "")]
    pub cmdline: String,
    /// Extra argument for QEMU, appended last (repeat for several).
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// A static x86_64 ELF from the host to run as /init (packed into an initramfs); exit
    /// with its status (128 + signal when it is killed).
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Arguments for the --init program, after `--`; they travel on the kernel command line
    /// (after ` -- `), so none may be empty or contain whitespace.
    #[arg(last = true, value_name = "ARGS", requires = "init", value_parser = parse_init_arg)]
    pub init_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExampleArgs {
    /// How the entry code fills the top of the register frame.
    #[arg(long, value_enum, default_value_t)]
    pub strategy: Strategy,
    /// Number of CPUs; the example runs one user task on each (it uses at most 16).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = parse_cpu_count)]
    pub smp: usize,
    /// Accelerator; auto picks KVM only where it is hardware virtualization.
    #[arg(long, value_enum, default_value_t)]
    pub accel: AccelChoice,
    /// Build the example with the release profile.
    #[arg(long)]
    pub release: bool,
    /// Kill QEMU and exit with 124 after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Also run the QEMU runs marked `full_only` in the suite.
    #[arg(long)]
    pub full: bool,
    /// How many QEMU runs at once (default: the number of CPU cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// Only the QEMU runs whose name contains this text (no host tests, lints or bench):
    /// for working on one part of the kernel.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
}

/// A `--smp` value: a whole number in 1..=MAX_CPUS.
pub fn parse_cpu_count(text: &str) -> Result<usize, String> {
    let count = text.parse().map_err(|_| {
        format!(
            "expected a whole number of CPUs in 1..={}",
            topframe_kernel::MAX_CPUS
        )
    })?;
    qemu::check_cpu_count(count)?;
    Ok(count)
}

fn parse_init_arg(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        Err(
            "the kernel splits its command line at whitespace, so an init argument can be \
             neither empty nor contain spaces"
                .to_string(),
        )
    } else {
        Ok(text.to_string())
    }
}

/// A bad input from the user (command line or suite file): exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;
    use crate::accel::AccelChoice;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
    }

    fn qemu_args(args: &[&str]) -> QemuArgs {
        match parse(args).expect("valid command line").command {
            Command::Qemu(qemu) => qemu,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn qemu_defaults() {
        let args = qemu_args(&["qemu"]);
        assert_eq!(args.smp, 4);
        assert_eq!(args.strategy, Strategy::Complete);
        assert_eq!(args.accel, AccelChoice::Auto);
        assert_eq!(args.apic, Apic::X2apic);
        assert!(!args.release);
        assert_eq!(args.timeout, 120);
        assert_eq!(args.cmdline, "");
        assert!(args.qemu_args.is_empty());
        assert_eq!(args.init, None);
        assert!(args.init_args.is_empty());
    }

    #[test]
    fn init_and_its_arguments() {
        let args = qemu_args(&["qemu", "--init", "/tmp/prog", "--", "-v", "x", "--"]);
        assert_eq!(args.init, Some(PathBuf::from("/tmp/prog")));
        assert_eq!(args.init_args, ["-v", "x", "--"]);
        let error = parse(&["qemu", "--", "x"]).expect_err("arguments without --init");
        assert_eq!(error.kind(), ErrorKind::MissingRequiredArgument);
        for bad in ["", "a b", "tab\there"] {
            let error = parse(&["qemu", "--init", "/p", "--", bad]).expect_err(bad);
            assert!(error.to_string().contains("whitespace"), "{error}");
        }
    }

    #[test]
    fn qemu_flags() {
        let args = qemu_args(&[
            "qemu",
            "--smp",
            "16",
            "--strategy",
            "lazy",
            "--accel",
            "tcg",
            "--apic",
            "xapic",
            "--release",
            "--timeout",
            "5",
            "--cmdline",
            "selftest",
            "--qemu-arg",
            "-s",
            "--qemu-arg",
            "-S",
        ]);
        assert_eq!(args.smp, 16);
        assert_eq!(args.strategy, Strategy::Lazy);
        assert_eq!(args.accel, AccelChoice::Tcg);
        assert_eq!(args.apic, Apic::Xapic);
        assert!(args.release);
        assert_eq!(args.timeout, 5);
        assert_eq!(args.cmdline, "selftest");
        assert_eq!(args.qemu_args, ["-s", "-S"]);
    }

    #[test]
    fn cpu_count_range_is_enforced() {
        let max = topframe_kernel::MAX_CPUS.to_string();
        assert_eq!(qemu_args(&["qemu", "--smp", "1"]).smp, 1);
        assert_eq!(
            qemu_args(&["qemu", "--smp", &max]).smp,
            topframe_kernel::MAX_CPUS
        );
        let over = (topframe_kernel::MAX_CPUS + 1).to_string();
        for bad in ["0", over.as_str(), "-1", "four"] {
            let error = parse(&["qemu", &format!("--smp={bad}")]).expect_err(bad);
            assert_eq!(error.kind(), ErrorKind::ValueValidation, "{bad}");
            assert!(error.to_string().contains(&format!("1..={max}")), "{error}");
        }
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["qemu", "--timeout", "0"][..],
            &["qemu", "--accel", "hvf"],
            &["qemu", "--apic", "x3apic"],
            &["qemu", "--strategy", "eager"],
            &["qemu", "--no-such-flag"],
            &["test", "--jobs", "0"],
            &["frobnicate"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn example_defaults_and_flags() {
        let example = |args: &[&str]| match parse(args).expect("valid command line").command {
            Command::Example(example) => example,
            other => panic!("parsed as {other:?}"),
        };
        let defaults = example(&["example"]);
        assert_eq!(defaults.strategy, Strategy::Complete);
        assert_eq!(defaults.smp, 2);
        assert_eq!(defaults.accel, AccelChoice::Auto);
        assert!(!defaults.release);
        assert_eq!(defaults.timeout, 120);
        let lazy = example(&["example", "--strategy", "lazy", "--smp", "4", "--release"]);
        assert_eq!(
            (lazy.strategy, lazy.smp, lazy.release),
            (Strategy::Lazy, 4, true)
        );
        assert!(parse(&["example", "--smp", "0"]).is_err());
        assert!(parse(&["example", "--init", "/p"]).is_err());
    }

    #[test]
    fn test_flags() {
        match parse(&["test", "--full", "--jobs", "3"]).unwrap().command {
            Command::Test(args) => {
                assert!(args.full);
                assert_eq!(args.jobs.map(NonZeroUsize::get), Some(3));
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
