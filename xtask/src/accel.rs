//! Which accelerator QEMU uses: KVM only where /dev/kvm is hardware virtualization.
//!
//! Some machines have a /dev/kvm that is the `kvm_pvm` module (no VMX/SVM): a normal kernel
//! cannot run under it (after SYSCALL the code at LSTAR still runs at CPL 3, ring-0 code is
//! emulated about 1,000x slower), so `auto` takes TCG there.

use std::fmt;
use std::fs::{self, OpenOptions};

use anyhow::Result;
use clap::ValueEnum;

use crate::cli::UsageError;

/// What the user asked for with `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AccelChoice {
    /// KVM where it is hardware virtualization, TCG otherwise.
    #[default]
    Auto,
    /// KVM with `-cpu host`; an error where it is not hardware virtualization.
    Kvm,
    /// QEMU's TCG emulator with `-cpu max`.
    Tcg,
}

/// The accelerator a QEMU run uses, with how TCG runs when it is TCG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization, `-cpu host`.
    Kvm,
    /// TCG, one instruction per guest TSC tick, vCPUs round-robin in one thread: deterministic.
    TcgIcount,
    /// TCG with one host thread per vCPU: not deterministic, hunts races.
    TcgMultiThreaded,
}

/// Why KVM is not hardware virtualization on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoHardwareKvm {
    KvmDoesNotOpen,
    KvmIsPvm,
    NoVirtualizationFlags,
}

impl fmt::Display for NoHardwareKvm {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            NoHardwareKvm::KvmDoesNotOpen => "/dev/kvm does not open read-write",
            NoHardwareKvm::KvmIsPvm => {
                "/dev/kvm is the kvm_pvm module, not hardware virtualization"
            }
            NoHardwareKvm::NoVirtualizationFlags => {
                "the CPU flags in /proc/cpuinfo show neither vmx nor svm"
            }
        })
    }
}

/// Whether KVM here is hardware virtualization: /dev/kvm opens read-write, no `kvm_pvm`
/// module is loaded and the CPU flags show `vmx` or `svm`.
pub fn hardware_kvm(kvm_opens: bool, cpuinfo: &str, modules: &str) -> Result<(), NoHardwareKvm> {
    let pvm_loaded = modules
        .lines()
        .any(|line| line.split_whitespace().next() == Some("kvm_pvm"));
    let virtualization_flag = cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.trim() == "flags")
        .any(|(_, flags)| {
            flags
                .split_whitespace()
                .any(|flag| flag == "vmx" || flag == "svm")
        });
    if !kvm_opens {
        Err(NoHardwareKvm::KvmDoesNotOpen)
    } else if pvm_loaded {
        Err(NoHardwareKvm::KvmIsPvm)
    } else if !virtualization_flag {
        Err(NoHardwareKvm::NoVirtualizationFlags)
    } else {
        Ok(())
    }
}

fn host_hardware_kvm() -> Result<(), NoHardwareKvm> {
    let kvm_opens = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    // A missing file reads as empty: no flags, no modules (containers often lack /proc/modules).
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let modules = fs::read_to_string("/proc/modules").unwrap_or_default();
    hardware_kvm(kvm_opens, &cpuinfo, &modules)
}

/// Resolves `--accel` on this host; `auto` prints one line saying what it took and why.
pub fn choose(choice: AccelChoice) -> Result<Accel> {
    match choice {
        AccelChoice::Tcg => Ok(Accel::TcgIcount),
        AccelChoice::Kvm => host_hardware_kvm().map(|()| Accel::Kvm).map_err(|why| {
            UsageError(format!(
                "--accel kvm needs hardware virtualization, but {why}; use --accel tcg (or auto)"
            ))
            .into()
        }),
        AccelChoice::Auto => match host_hardware_kvm() {
            Ok(()) => {
                println!("accel: kvm (hardware virtualization)");
                Ok(Accel::Kvm)
            }
            Err(why) => {
                println!("accel: tcg ({why})");
                Ok(Accel::TcgIcount)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTEL_VMX: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\n\
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic vmx smx est tm2 ssse3\n";
    const AMD_SVM: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\n\
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic svm extapic\n";
    const NO_FLAGS: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\n\
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic hypervisor\n\
        vmx flags\t: vnmi preemption_timer\n";
    const MODULES: &str = "kvm_intel 409600 0 - Live 0x0000000000000000\n\
        kvm 1388544 1 kvm_intel, Live 0x0000000000000000\n";
    const PVM_MODULES: &str = "kvm_pvm 24576 0 - Live 0x0000000000000000\n\
        kvm 1388544 1 kvm_pvm, Live 0x0000000000000000\n";

    #[test]
    fn vmx_is_hardware_kvm() {
        assert_eq!(hardware_kvm(true, INTEL_VMX, MODULES), Ok(()));
    }

    #[test]
    fn svm_is_hardware_kvm() {
        assert_eq!(hardware_kvm(true, AMD_SVM, ""), Ok(()));
    }

    #[test]
    fn kvm_pvm_means_tcg() {
        assert_eq!(
            hardware_kvm(true, INTEL_VMX, PVM_MODULES),
            Err(NoHardwareKvm::KvmIsPvm)
        );
        assert_eq!(
            hardware_kvm(true, NO_FLAGS, PVM_MODULES),
            Err(NoHardwareKvm::KvmIsPvm)
        );
    }

    #[test]
    fn no_virtualization_flags_means_tcg() {
        // The "vmx flags" line of a guest's cpuinfo is not the `vmx` flag.
        assert_eq!(
            hardware_kvm(true, NO_FLAGS, MODULES),
            Err(NoHardwareKvm::NoVirtualizationFlags)
        );
        assert_eq!(
            hardware_kvm(true, "", ""),
            Err(NoHardwareKvm::NoVirtualizationFlags)
        );
    }

    #[test]
    fn no_dev_kvm_means_tcg() {
        assert_eq!(
            hardware_kvm(false, INTEL_VMX, MODULES),
            Err(NoHardwareKvm::KvmDoesNotOpen)
        );
    }

    #[test]
    fn reasons_read_as_one_line() {
        assert_eq!(
            NoHardwareKvm::KvmIsPvm.to_string(),
            "/dev/kvm is the kvm_pvm module, not hardware virtualization"
        );
    }
}
