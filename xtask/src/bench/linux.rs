//! The `linux` column: Debian's own cloud kernel, fetched with `apt-get download` into
//! `target/xtask/linux-cache/`, unpacked with `dpkg-deb -x`, and booted in the same QEMU
//! with the `bench` program as `/init`.
//!
//! `linux-image-cloud-amd64` is a metapackage that depends on the current versioned image
//! (`linux-image-6.1.0-56-cloud-amd64` on Debian 12 as of writing); `apt-cache depends`
//! names it. The command line gives a console on COM1, hides ERMS and FSRM (icount counts
//! each iteration of a REP string instruction as one instruction, so with them Linux would
//! clear a page in a few "instructions"), and turns init's exit (a panic) into a power-off
//! (`panic=-1` with QEMU's `-no-reboot`). Debian's kernel has CONFIG_IA32_EMULATION, so the
//! program's `int $0x80` output works there as on topframe.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

use crate::bench::json::LinuxKernel;
use crate::workspace;

/// The metapackage that follows Debian's current cloud kernel.
const METAPACKAGE: &str = "linux-image-cloud-amd64";

/// Linux's command line before ` -- ` and the program's arguments.
pub const CMDLINE: &str = "console=ttyS0 clearcpuid=erms,fsrm panic=-1 quiet";

/// A Debian kernel ready to boot.
#[derive(Debug)]
pub struct DebianKernel {
    pub vmlinuz: PathBuf,
    pub description: LinuxKernel,
}

/// The cache folder.
fn cache_dir() -> PathBuf {
    workspace::xtask_dir().join("linux-cache")
}

/// What to run by hand where this machine cannot fetch the kernel itself.
fn manual_commands() -> String {
    let cache = cache_dir();
    format!(
        "on Debian, as root:\n  apt-get update\n  mkdir -p {cache} && cd {cache}\n  \
         apt-get download $(apt-cache depends {METAPACKAGE} | sed -n 's/.*Depends: //p')",
        cache = cache.display()
    )
}

/// Fetches (or finds in the cache) and unpacks Debian's current cloud kernel.
pub fn fetch(on_step: &mut dyn FnMut(&str)) -> Result<DebianKernel> {
    for tool in ["apt-get", "apt-cache", "dpkg-deb"] {
        if !tool_runs(tool) {
            bail!(
                "--linux needs {tool}, which is not here; {}",
                manual_commands()
            );
        }
    }
    let package = versioned_package(on_step)?;
    let cache = cache_dir();
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {}", cache.display()))?;
    let deb = match cached_deb(&cache, &package)? {
        Some(deb) => deb,
        None => {
            on_step(&format!("apt-get download {package}"));
            let output = run(Command::new("apt-get")
                .args(["download", &package])
                .current_dir(&cache))?;
            if !output.status.success() {
                bail!(
                    "`apt-get download {package}` failed: {}; {}",
                    String::from_utf8_lossy(&output.stderr).trim(),
                    manual_commands()
                );
            }
            cached_deb(&cache, &package)?.with_context(|| {
                format!(
                    "apt-get download left no {package}_*.deb in {}",
                    cache.display()
                )
            })?
        }
    };
    let unpacked = cache.join(&package);
    if find_vmlinuz(&unpacked).is_none() {
        on_step(&format!("dpkg-deb -x {}", file_name(&deb)));
        let output = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
        if !output.status.success() {
            bail!(
                "`dpkg-deb -x {}` failed: {}",
                deb.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    let vmlinuz = find_vmlinuz(&unpacked)
        .with_context(|| format!("{} holds no boot/vmlinuz-*", unpacked.display()))?;
    let version = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Version"))?;
    Ok(DebianKernel {
        vmlinuz,
        description: LinuxKernel {
            package,
            version: String::from_utf8_lossy(&version.stdout).trim().to_string(),
            cmdline: CMDLINE.to_string(),
        },
    })
}

/// The versioned image the metapackage depends on; runs `apt-get update` once (as root)
/// when the package lists do not know the metapackage yet.
fn versioned_package(on_step: &mut dyn FnMut(&str)) -> Result<String> {
    let depends = || -> Result<Option<String>> {
        let output = run(Command::new("apt-cache").args(["depends", METAPACKAGE]))?;
        Ok(parse_depends(&String::from_utf8_lossy(&output.stdout)))
    };
    if let Some(package) = depends()? {
        return Ok(package);
    }
    on_step("apt-get update");
    let updated = run(Command::new("apt-get").arg("update"))?;
    if !updated.status.success() {
        bail!(
            "`apt-get update` failed: {}; {}",
            String::from_utf8_lossy(&updated.stderr).trim(),
            manual_commands()
        );
    }
    depends()?.with_context(|| {
        format!(
            "`apt-cache depends {METAPACKAGE}` names no linux-image package; {}",
            manual_commands()
        )
    })
}

/// The first `Depends: linux-image-...` of `apt-cache depends` output.
fn parse_depends(output: &str) -> Option<String> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Depends: "))
        .find(|package| package.starts_with("linux-image-"))
        .map(str::to_string)
}

/// `<package>_<version>_amd64.deb` in `cache`, the newest by name if there are several.
fn cached_deb(cache: &Path, package: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(cache)
        .with_context(|| format!("cannot list {}", cache.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = file_name(path);
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .collect();
    debs.sort();
    Ok(debs.pop())
}

fn find_vmlinuz(unpacked: &Path) -> Option<PathBuf> {
    std::fs::read_dir(unpacked.join("boot"))
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| file_name(path).starts_with("vmlinuz-"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn tool_runs(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn run(command: &mut Command) -> Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metapackage_names_the_versioned_image() {
        let output = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(
            parse_depends(output),
            Some("linux-image-6.1.0-56-cloud-amd64".to_string())
        );
        assert_eq!(parse_depends(""), None);
        assert_eq!(
            parse_depends("linux-image-cloud-amd64\n  Recommends: firmware-linux-free\n"),
            None
        );
    }

    #[test]
    fn the_newest_cached_package_is_taken() {
        let cache = std::env::temp_dir().join(format!("bench-linux-cache-{}", std::process::id()));
        std::fs::create_dir_all(&cache).unwrap();
        for name in [
            "linux-image-6.1.0-56-cloud-amd64_6.1.192-1_amd64.deb",
            "linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",
            "linux-image-6.1.0-55-cloud-amd64_6.1.190-1_amd64.deb",
            "linux-image-6.1.0-56-cloud-amd64_6.1.192-3_amd64.deb.partial",
        ] {
            std::fs::write(cache.join(name), b"").unwrap();
        }
        let found = cached_deb(&cache, "linux-image-6.1.0-56-cloud-amd64").unwrap();
        let missing = cached_deb(&cache, "linux-image-6.1.0-57-cloud-amd64").unwrap();
        std::fs::remove_dir_all(&cache).unwrap();
        assert_eq!(
            found.as_deref().map(file_name).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb")
        );
        assert_eq!(missing, None);
    }
}
