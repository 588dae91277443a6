//! What the bench boots: release kernels (the floor build and one per strategy) and the
//! `bench` program of `topframe-bench-programs`, packed as `/init` into an initramfs.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow};

use crate::bench::column::Column;
use crate::initramfs::Initramfs;
use crate::kernel_build::{CargoOutput, KERNEL_TARGET, Kernel, KernelVariant, Strategy};
use crate::{static_elf, workspace};

const BENCH_PACKAGE: &str = "topframe-bench-programs";

/// A topframe kernel the bench boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopframeKernel {
    /// Cargo feature `floor-entry`: SYSCALL lands on `swapgs; swapgs; sysretq`.
    Floor,
    Entry(Strategy),
}

impl TopframeKernel {
    pub fn column(self) -> Column {
        match self {
            TopframeKernel::Floor => Column::Floor,
            TopframeKernel::Entry(strategy) => Column::of_strategy(strategy),
        }
    }

    /// Builds the release image (captured cargo output, shown on failure); returns its ELF.
    pub fn build(self) -> Result<PathBuf> {
        match self {
            TopframeKernel::Entry(strategy) => KernelVariant {
                kernel: Kernel::Reference,
                selftest: false,
                strategy,
                release: true,
            }
            .build(CargoOutput::Captured),
            TopframeKernel::Floor => build_floor(),
        }
    }
}

/// The floor build: the complete-frame kernel with `floor-entry`, in a target directory of
/// its own beside `kernel_build`'s variants.
fn build_floor() -> Result<PathBuf> {
    let target_dir = workspace::root().join("target/kernel/image-floor-entry-release");
    let mut cargo = workspace::cargo();
    cargo.args(["build", "-p", "topframe-kernel", "--bin", "topframe-kernel"]);
    cargo.args([
        "--target",
        KERNEL_TARGET,
        "--features",
        "image,floor-entry",
        "--release",
    ]);
    cargo.arg("--target-dir").arg(&target_dir);
    // The same log level as every other build (defmt emits only errors otherwise).
    if std::env::var_os("DEFMT_LOG").is_none() {
        cargo.env("DEFMT_LOG", "info");
    }
    run_captured(cargo, "building the floor kernel (feature floor-entry)")?;
    let elf = target_dir
        .join(KERNEL_TARGET)
        .join("release")
        .join("topframe-kernel");
    anyhow::ensure!(
        elf.is_file(),
        "cargo built the floor kernel but {} is missing",
        elf.display()
    );
    Ok(elf)
}

/// Builds the `bench` program and packs it as `/init` into
/// `target/xtask/bench/initramfs.cpio`; returns the archive's path.
pub fn bench_initramfs() -> Result<PathBuf> {
    let mut cargo = workspace::cargo();
    cargo.args(["build", "-p", BENCH_PACKAGE, "--release"]);
    run_captured(cargo, &format!("cargo build -p {BENCH_PACKAGE} --release"))?;
    let program = static_elf::read(&workspace::root().join("target/release/bench"))?;
    let mut initramfs = Initramfs::default();
    initramfs.add_executable("/init", program);
    let path = workspace::xtask_dir().join("bench").join("initramfs.cpio");
    initramfs.write(&path)?;
    Ok(path)
}

/// Runs `command`; on failure the error's root cause is its stderr.
fn run_captured(mut command: Command, what: &str) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo")?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(anyhow!(stderr.trim_end().to_string()).context(format!("{what} failed")))
    }
}
