//! Building a kernel image: one cargo target directory per variant, so variants do not
//! rebuild each other and can build at the same time.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;
use serde::Deserialize;

use crate::workspace;

pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// How the entry code fills the top of the register frame (see DESIGN.md).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, ValueEnum, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// CompleteFrame (Linux >= 4.1): every entry writes SS, CS, RCX, EFLAGS and RSP.
    #[default]
    Complete,
    /// LazyTopOfStack (Linux <= 4.0): the fast path leaves the top of the frame unwritten.
    Lazy,
}

/// Which kernel: the reference kernel of `kernel/`, or the minimal example of
/// `examples/minimal-kernel` (the three crates through their public API only).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, ValueEnum, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kernel {
    /// `topframe-kernel`.
    #[default]
    Reference,
    /// `topframe-example-kernel`.
    Example,
}

impl Kernel {
    /// The cargo package, which is also the name of its one binary.
    pub fn package(self) -> &'static str {
        match self {
            Kernel::Reference => "topframe-kernel",
            Kernel::Example => "topframe-example-kernel",
        }
    }
}

/// One build of a kernel image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelVariant {
    pub kernel: Kernel,
    /// With the in-kernel self tests (`selftest` feature; the reference kernel only).
    pub selftest: bool,
    pub strategy: Strategy,
    pub release: bool,
}

/// Whether cargo's own output goes to the terminal or is kept for an error report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CargoOutput {
    Shown,
    Captured,
}

impl KernelVariant {
    /// The example kernel under `strategy`.
    pub const fn example(strategy: Strategy, release: bool) -> KernelVariant {
        KernelVariant {
            kernel: Kernel::Example,
            selftest: false,
            strategy,
            release,
        }
    }

    fn features(&self) -> Vec<&'static str> {
        let mut features = vec!["image"];
        if self.selftest && self.kernel == Kernel::Reference {
            features.push("selftest");
        }
        if self.strategy == Strategy::Lazy {
            features.push("lazy-top-of-stack");
        }
        features
    }

    fn profile(&self) -> &'static str {
        if self.release { "release" } else { "debug" }
    }

    /// `image`, `image-selftest-lazy-top-of-stack-release`, `example-image`, ...
    pub fn name(&self) -> String {
        let mut name = self.features().join("-");
        if self.kernel == Kernel::Example {
            name = format!("example-{name}");
        }
        if self.release {
            name.push_str("-release");
        }
        name
    }

    fn target_dir(&self) -> PathBuf {
        workspace::root().join("target/kernel").join(self.name())
    }

    /// Where cargo puts this variant's ELF.
    pub fn elf_path(&self) -> PathBuf {
        self.target_dir()
            .join(KERNEL_TARGET)
            .join(self.profile())
            .join(self.kernel.package())
    }

    /// Builds the image and returns the path of its ELF. With `CargoOutput::Captured` the root
    /// cause of a failed build's error is cargo's output.
    pub fn build(&self, output: CargoOutput) -> Result<PathBuf> {
        let mut cargo = workspace::cargo();
        let package = self.kernel.package();
        cargo.args(["build", "-p", package, "--bin", package]);
        cargo.args([
            "--target",
            KERNEL_TARGET,
            "--features",
            &self.features().join(","),
        ]);
        cargo.arg("--target-dir").arg(self.target_dir());
        if self.release {
            cargo.arg("--release");
        }
        // defmt only emits errors unless told otherwise at build time.
        if std::env::var_os("DEFMT_LOG").is_none() {
            cargo.env("DEFMT_LOG", "info");
        }
        let failure = format!("building the kernel ({}) failed", self.name());
        match output {
            CargoOutput::Shown => {
                let status = cargo.status().context("cannot run cargo")?;
                if !status.success() {
                    bail!("{failure}; cargo's errors are above");
                }
            }
            CargoOutput::Captured => {
                let result = cargo
                    .stdin(Stdio::null())
                    .output()
                    .context("cannot run cargo")?;
                if !result.status.success() {
                    // The root cause is cargo's output, the context says what failed.
                    let cargo_output = String::from_utf8_lossy(&result.stderr);
                    return Err(anyhow!(cargo_output.trim_end().to_string()).context(failure));
                }
            }
        }
        let elf = self.elf_path();
        if !elf.is_file() {
            bail!("cargo built the kernel but {} is missing", elf.display());
        }
        Ok(elf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_have_their_own_names_and_paths() {
        let plain = KernelVariant {
            kernel: Kernel::Reference,
            selftest: false,
            strategy: Strategy::Complete,
            release: false,
        };
        let test_lazy_release = KernelVariant {
            kernel: Kernel::Reference,
            selftest: true,
            strategy: Strategy::Lazy,
            release: true,
        };
        assert_eq!(plain.name(), "image");
        assert_eq!(
            test_lazy_release.name(),
            "image-selftest-lazy-top-of-stack-release"
        );
        assert!(
            plain
                .elf_path()
                .ends_with("target/kernel/image/x86_64-unknown-none/debug/topframe-kernel")
        );
        assert!(test_lazy_release.elf_path().ends_with(
            "image-selftest-lazy-top-of-stack-release/x86_64-unknown-none/release/topframe-kernel"
        ));
        let example = KernelVariant::example(Strategy::Lazy, false);
        assert_eq!(example.name(), "example-image-lazy-top-of-stack");
        assert!(example.elf_path().ends_with(
            "target/kernel/example-image-lazy-top-of-stack/x86_64-unknown-none/debug/\
             topframe-example-kernel"
        ));
        // The example has no self tests: asking for them changes nothing.
        let with_selftest = KernelVariant {
            selftest: true,
            ..KernelVariant::example(Strategy::Complete, true)
        };
        assert_eq!(with_selftest.name(), "example-image-release");
    }
}
