//! `cargo xtask`: builds, boots and tests the topframe kernel.
//!
//! - `cargo xtask qemu`: build the kernel, boot it in QEMU, stream its console and its
//!   decoded defmt log, exit with the kernel's own status.
//! - `cargo xtask example`: build the example kernel (`examples/minimal-kernel`), boot it,
//!   exit with its status.
//! - `cargo xtask test`: host tests, lints, the per-CPU codegen check and the QEMU suite
//!   (`tests/qemu-suite.toml`), ending with one line `N passed, N failed`.
//! - `cargo xtask bench`: the A/B harness for the entry strategies (see `bench`).
//!
//! All first make the machine ready (the Rust target, a recent enough QEMU): see `setup`.

mod abi_programs;
mod accel;
mod bench;
mod cli;
mod codegen_check;
mod console_protocol;
mod defmt_log;
mod example_cmd;
mod initramfs;
mod kernel_build;
mod qemu;
mod qemu_cmd;
mod run_list;
mod setup;
mod static_elf;
mod suite;
mod test_cmd;
mod test_program;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, UsageError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Qemu(args) => qemu_cmd::run(&args),
        Command::Example(args) => example_cmd::run(&args),
        Command::Test(args) => test_cmd::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` puts the whole context chain on one line.
            eprintln!("error: {error:#}");
            if error.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
