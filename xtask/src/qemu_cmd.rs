//! `cargo xtask qemu`: build the kernel, boot it, stream its console and log, and exit with
//! the kernel's status.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::cli::QemuArgs;
use crate::defmt_log::LogDecoder;
use crate::kernel_build::{CargoOutput, KernelVariant};
use crate::qemu::{self, Ending, Line, Machine};
use crate::{accel, setup};

/// Exit status when the kernel did not finish in time (as `timeout(1)`).
const TIMED_OUT: u8 = 124;

pub fn run(args: &QemuArgs) -> Result<ExitCode> {
    let accel = accel::choose(args.accel)?;
    setup::ensure_host_ready()?;
    let variant = KernelVariant {
        selftest: false,
        strategy: args.strategy,
        release: args.release,
    };
    let kernel = variant.build(CargoOutput::Shown)?;
    let log = LogDecoder::from_elf(&kernel)?;
    if log.is_none() {
        println!("note: the kernel has no .defmt section; its COM2 output is discarded");
    }
    let machine = Machine {
        kernel,
        cpus: args.smp,
        accel,
        apic: args.apic,
        cmdline: args.cmdline.clone(),
        extra_args: args.qemu_args.clone(),
    };
    let ending = qemu::boot(
        &machine,
        log,
        Duration::from_secs(args.timeout),
        &mut |line| match line {
            Line::Console(text) => println!("{text}"),
            Line::Log(text) => println!("  log| {text}"),
            Line::QemuStderr(text) => eprintln!("{text}"),
        },
    )?;
    Ok(match ending {
        // A status beyond what a process can return still must not read as success.
        Ending::KernelStatus(status) => ExitCode::from(u8::try_from(status).unwrap_or(1)),
        Ending::TimedOut => {
            eprintln!(
                "error: the kernel did not power off within {} s, QEMU was stopped (more time: \
                 --timeout SECONDS)",
                args.timeout
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
    })
}
