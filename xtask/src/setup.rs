//! Making a fresh machine ready: the Rust target and a QEMU new enough for x2APIC under TCG.
//! Installs what it can (the rustup target; QEMU from bookworm-backports when root on
//! Debian 12) and otherwise stops with the exact commands to run.

use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::LazyLock;

use anyhow::{Context, Result, bail};
use regex::Regex;

use crate::kernel_build::KERNEL_TARGET;
use crate::qemu::QEMU;
use crate::workspace;

/// Debian 12's own QEMU (7.2) offers no x2APIC under TCG.
const MINIMUM_QEMU: QemuVersion = QemuVersion { major: 8, minor: 0 };

const BACKPORTS_SOURCE_PATH: &str = "/etc/apt/sources.list.d/bookworm-backports.sources";
const BACKPORTS_SOURCE: &str = "Types: deb\n\
URIs: http://deb.debian.org/debian\n\
Suites: bookworm-backports\n\
Components: main\n\
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

pub fn ensure_host_ready() -> Result<()> {
    ensure_rust_target()?;
    ensure_qemu()
}

fn ensure_rust_target() -> Result<()> {
    let rustup_missing = || {
        anyhow::anyhow!(
            "the Rust target {KERNEL_TARGET} is needed and rustup was not found; install rustup \
             (https://rustup.rs), then run `rustup target add {KERNEL_TARGET}`"
        )
    };
    // In the workspace, so the toolchain pinned by rust-toolchain.toml is the one asked.
    let installed = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(workspace::root())
        .output()
    {
        Err(error) if error.kind() == ErrorKind::NotFound => return Err(rustup_missing()),
        result => result.context("cannot run `rustup target list --installed`")?,
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|target| target.trim() == KERNEL_TARGET)
    {
        return Ok(());
    }
    println!("setup: rustup target add {KERNEL_TARGET}");
    let status = Command::new("rustup")
        .args(["target", "add", KERNEL_TARGET])
        .current_dir(workspace::root())
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("`rustup target add {KERNEL_TARGET}` failed ({status}); run it yourself and retry");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct QemuVersion {
    major: u32,
    minor: u32,
}

/// The version in `qemu-system-x86_64 --version` output
/// (`QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)`).
fn parse_qemu_version(output: &str) -> Option<QemuVersion> {
    static VERSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"version (\d+)\.(\d+)").expect("valid regex"));
    let captures = VERSION.captures(output)?;
    Some(QemuVersion {
        major: captures[1].parse().ok()?,
        minor: captures[2].parse().ok()?,
    })
}

fn installed_qemu_version() -> Option<QemuVersion> {
    let output = Command::new(QEMU)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    parse_qemu_version(&String::from_utf8_lossy(&output.stdout))
}

fn ensure_qemu() -> Result<()> {
    let problem = match installed_qemu_version() {
        Some(version) if version >= MINIMUM_QEMU => return Ok(()),
        Some(QemuVersion { major, minor }) => format!(
            "{QEMU} {major}.{minor} is too old (x2APIC under TCG needs {}.{} or newer)",
            MINIMUM_QEMU.major, MINIMUM_QEMU.minor
        ),
        None => format!("{QEMU} was not found"),
    };
    let bookworm = is_debian_bookworm();
    if bookworm && is_root() && has_apt_get() {
        println!("setup: {problem}; installing QEMU from bookworm-backports");
        install_qemu_from_backports()?;
        return match installed_qemu_version() {
            Some(version) if version >= MINIMUM_QEMU => Ok(()),
            _ => bail!(
                "{QEMU} is still missing or older than {}.{} after installing qemu-system-x86 \
                 from bookworm-backports; check which {QEMU} comes first in PATH",
                MINIMUM_QEMU.major,
                MINIMUM_QEMU.minor
            ),
        };
    }
    if bookworm {
        bail!(
            "{problem}; as root, run:\n  printf '{}' > {BACKPORTS_SOURCE_PATH}\n  apt-get update && \
             apt-get install -y -t bookworm-backports qemu-system-x86",
            BACKPORTS_SOURCE.replace('\n', "\\n")
        );
    }
    bail!(
        "{problem}; install QEMU {}.{} or newer (Debian 13 or Ubuntu 24.04, as root: \
         apt-get install qemu-system-x86)",
        MINIMUM_QEMU.major,
        MINIMUM_QEMU.minor
    )
}

fn is_debian_bookworm() -> bool {
    std::fs::read_to_string("/etc/os-release").is_ok_and(|release| {
        release
            .lines()
            .any(|line| line.trim() == "VERSION_CODENAME=bookworm")
    })
}

fn is_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|proc_self| proc_self.uid() == 0)
}

fn has_apt_get() -> bool {
    Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn install_qemu_from_backports() -> Result<()> {
    if !std::path::Path::new(BACKPORTS_SOURCE_PATH).exists() {
        println!("setup: writing {BACKPORTS_SOURCE_PATH}");
        std::fs::write(BACKPORTS_SOURCE_PATH, BACKPORTS_SOURCE)
            .with_context(|| format!("cannot write {BACKPORTS_SOURCE_PATH}"))?;
    }
    run_apt_get(&["update"])?;
    run_apt_get(&[
        "install",
        "-y",
        "-t",
        "bookworm-backports",
        "qemu-system-x86",
    ])
}

fn run_apt_get(args: &[&str]) -> Result<()> {
    println!("setup: apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .context("cannot run apt-get")?;
    if !status.success() {
        bail!("`apt-get {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_versions() {
        let backports = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n\
                         Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers";
        assert_eq!(
            parse_qemu_version(backports),
            Some(QemuVersion {
                major: 10,
                minor: 0
            })
        );
        let bookworm = parse_qemu_version("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7)");
        assert_eq!(bookworm, Some(QemuVersion { major: 7, minor: 2 }));
        assert!(bookworm < Some(MINIMUM_QEMU));
        assert!(Some(QemuVersion { major: 8, minor: 0 }) >= Some(MINIMUM_QEMU));
        assert_eq!(
            parse_qemu_version("bash: qemu-system-x86_64: not found"),
            None
        );
    }
}
