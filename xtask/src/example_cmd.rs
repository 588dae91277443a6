//! `cargo xtask example`: build the example kernel (`examples/minimal-kernel`) for one entry
//! strategy, boot it in QEMU, stream its console, and exit with its status.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::cli::ExampleArgs;
use crate::kernel_build::{CargoOutput, KernelVariant};
use crate::qemu::{self, Apic, Machine};
use crate::qemu_cmd::{exit_code, print_line};
use crate::{accel, setup};

pub fn run(args: &ExampleArgs) -> Result<ExitCode> {
    let accel = accel::choose(args.accel)?;
    setup::ensure_host_ready()?;
    let kernel = KernelVariant::example(args.strategy, args.release).build(CargoOutput::Shown)?;
    let machine = Machine {
        kernel,
        cpus: args.smp,
        accel,
        // The example drives its local APIC in x2APIC mode only.
        apic: Apic::X2apic,
        initrd: None,
        cmdline: String::new(),
        extra_args: Vec::new(),
    };
    // The example has no defmt log: COM2 is discarded.
    let ending = qemu::boot(
        &machine,
        None,
        Duration::from_secs(args.timeout),
        &mut print_line,
    )?;
    Ok(exit_code(ending, args.timeout))
}
