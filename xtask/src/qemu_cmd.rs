//! `cargo xtask qemu`: build the kernel, boot it, stream its console and log, and exit with
//! the kernel's status. With `--init PATH [-- ARGS]` the kernel runs that host program as
//! `/init` and its status is init's; without it, the demo init of `topframe-abi-tests`
//! runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::{QemuArgs, UsageError};
use crate::defmt_log::LogDecoder;
use crate::initramfs::Initramfs;
use crate::kernel_build::{CargoOutput, Kernel, KernelVariant};
use crate::qemu::{self, Ending, Line, Machine};
use crate::{accel, setup, static_elf, workspace};

/// Exit status when the kernel did not finish in time (as `timeout(1)`).
const TIMED_OUT: u8 = 124;

pub fn run(args: &QemuArgs) -> Result<ExitCode> {
    // A wrong --init is the user's mistake: say so before any build.
    let init = args
        .init
        .as_deref()
        .map(static_elf::read)
        .transpose()
        .map_err(|error| UsageError(error.to_string()))?;
    let accel = accel::choose(args.accel)?;
    setup::ensure_host_ready()?;
    let variant = KernelVariant {
        kernel: Kernel::Reference,
        selftest: false,
        strategy: args.strategy,
        release: args.release,
    };
    let kernel = variant.build(CargoOutput::Shown)?;
    let log = LogDecoder::from_elf(&kernel)?;
    if log.is_none() {
        println!("note: the kernel has no .defmt section; its COM2 output is discarded");
    }
    let init = match init {
        Some(program) => program,
        None => demo_init()?,
    };
    let initrd = Some(write_init_initramfs(init)?);
    let machine = Machine {
        kernel,
        cpus: args.smp,
        accel,
        apic: args.apic,
        initrd: initrd.clone(),
        cmdline: kernel_cmdline(&args.cmdline, &args.init_args),
        extra_args: args.qemu_args.clone(),
    };
    let ending = qemu::boot(
        &machine,
        log,
        Duration::from_secs(args.timeout),
        &mut print_line,
    );
    if let Some(initrd) = initrd {
        // Only this boot used it.
        let _ = std::fs::remove_file(initrd);
    }
    Ok(exit_code(ending?, args.timeout))
}

/// Shows one line of a boot: the console and decoded log on stdout, QEMU's own on stderr.
pub fn print_line(line: &Line) {
    match line {
        Line::Console(text) => println!("{text}"),
        Line::Log(text) => println!("  log| {text}"),
        Line::QemuStderr(text) => eprintln!("{text}"),
    }
}

/// xtask's exit status for a boot that ended so (`timeout`: the seconds it was given).
pub fn exit_code(ending: Ending, timeout: u64) -> ExitCode {
    match ending {
        // A status beyond what a process can return still must not read as success.
        Ending::KernelStatus(status) => ExitCode::from(u8::try_from(status).unwrap_or(1)),
        Ending::TimedOut => {
            eprintln!(
                "error: the kernel did not power off within {timeout} s, QEMU was stopped (more \
                 time: --timeout SECONDS)"
            );
            ExitCode::from(TIMED_OUT)
        }
        Ending::NoStatusLine(qemu_status) => {
            eprintln!(
                "error: QEMU ended ({qemu_status}) without the kernel's `topframe: exit status` \
                 line: a QEMU error (above) or a kernel crash such as a triple fault"
            );
            ExitCode::FAILURE
        }
    }
}

/// The demo init (`tests/src/bin/demo.rs`), built for the host like the ABI programs.
fn demo_init() -> Result<Vec<u8>> {
    let status = workspace::cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "topframe-abi-tests",
            "--release",
            "--bin",
            "demo",
        ])
        .stdin(std::process::Stdio::null())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        anyhow::bail!("cargo build -p topframe-abi-tests --bin demo failed");
    }
    let path = workspace::root().join("target/release/demo");
    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// Packs `program` as `/init` into an initramfs of its own (named after this process, so
/// that boots side by side do not share one) and returns its path.
fn write_init_initramfs(program: Vec<u8>) -> Result<PathBuf> {
    let mut initramfs = Initramfs::default();
    initramfs.add_executable("/init", program);
    let path = workspace::xtask_dir()
        .join("qemu")
        .join(format!("init-{}.cpio", std::process::id()));
    initramfs.write(&path)?;
    Ok(path)
}

/// The kernel command line: `cmdline`, then ` -- ` and init's arguments when there are some
/// (the kernel passes the words after ` -- ` to init).
fn kernel_cmdline(cmdline: &str, init_args: &[String]) -> String {
    if init_args.is_empty() {
        cmdline.to_string()
    } else {
        format!("{cmdline} -- {}", init_args.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_arguments_follow_a_double_dash() {
        let args = ["-v".to_string(), "x".to_string()];
        assert_eq!(kernel_cmdline("", &[]), "");
        assert_eq!(
            kernel_cmdline("syscall_slow_path", &[]),
            "syscall_slow_path"
        );
        // The kernel looks for " -- ", so the separator keeps its leading space.
        assert_eq!(kernel_cmdline("", &args), " -- -v x");
        assert_eq!(
            kernel_cmdline("syscall_slow_path", &args),
            "syscall_slow_path -- -v x"
        );
    }
}
