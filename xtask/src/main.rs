//! `cargo xtask`: builds, boots and tests the topframe kernel.
//!
//! - `cargo xtask qemu`: build the kernel, boot it in QEMU, stream its console and its
//!   decoded defmt log, exit with the kernel's own status.
//! - `cargo xtask test`: host tests, lints, the per-CPU codegen check and the QEMU suite
//!   (`tests/qemu-suite.toml`), ending with one line `N passed, N failed`.
//!
//! Both first make the machine ready (the Rust target, a recent enough QEMU): see `setup`.

mod accel;
mod cli;
mod codegen_check;
mod console_protocol;
mod defmt_log;
mod kernel_build;
mod qemu;
mod qemu_cmd;
mod setup;
mod suite;
mod test_cmd;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, UsageError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Qemu(args) => qemu_cmd::run(&args),
        Command::Test(args) => test_cmd::run(&args),
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
