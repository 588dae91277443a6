//! Per-CPU processor state: control registers, FPU/SSE/AVX, SMEP/SMAP.

use core::arch::x86_64::{__cpuid, __cpuid_count, _xsetbv};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// XCR0 bits for user state Linux enables when present: x87, SSE, AVX, AVX-512
/// (opmask, ZMM_Hi256, Hi16_ZMM; all three or none).
const XCR0_X87: u64 = 1 << 0;
const XCR0_SSE: u64 = 1 << 1;
const XCR0_AVX: u64 = 1 << 2;
const XCR0_AVX512: u64 = 0b111 << 5;

/// Default MXCSR: all SIMD exceptions masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1f80;

/// What this CPU offers, read once per CPU from CPUID.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    pub xsave: bool,
    pub smep: bool,
    pub smap: bool,
    pub x2apic: bool,
    pub xcr0: u64,
}

impl Features {
    pub fn detect() -> Features {
        let leaf1 = __cpuid(1);
        let leaf7 = __cpuid_count(7, 0);
        let xsave = leaf1.ecx & (1 << 26) != 0;
        let xcr0 = if xsave {
            let supported = u64::from(__cpuid_count(0xd, 0).eax);
            let mut xcr0 = XCR0_X87 | XCR0_SSE | (supported & XCR0_AVX);
            if supported & XCR0_AVX512 == XCR0_AVX512 {
                xcr0 |= XCR0_AVX512;
            }
            xcr0
        } else {
            0
        };
        Features {
            xsave,
            smep: leaf7.ebx & (1 << 7) != 0,
            smap: leaf7.ebx & (1 << 20) != 0,
            x2apic: leaf1.ecx & (1 << 21) != 0,
            xcr0,
        }
    }
}

/// Set up this CPU's control registers and FPU. Run on every CPU before anything
/// touches SSE state.
pub fn init() -> Features {
    let features = Features::detect();
    // SAFETY: these bits only enable protections and FPU/SSE features the kernel
    // handles (no user code runs yet; the kernel itself is built without SSE).
    unsafe {
        Cr0::update(|cr0| {
            cr0.insert(
                Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR | Cr0Flags::WRITE_PROTECT,
            );
            cr0.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|cr4| {
            cr4.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE | Cr4Flags::PAGE_GLOBAL);
            if features.xsave {
                cr4.insert(Cr4Flags::OSXSAVE);
            }
            if features.smep {
                cr4.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION);
            }
            if features.smap {
                cr4.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION);
            }
        });
        // SYSCALL/SYSRET on; no-execute pages (already on from the boot code).
        Efer::update(|efer| {
            efer.insert(EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::NO_EXECUTE_ENABLE)
        });
    }
    if features.xsave {
        // SAFETY: CR4.OSXSAVE is set and every bit in xcr0 is one CPUID reports.
        unsafe { _xsetbv(0, features.xcr0) };
    }
    let mxcsr = MXCSR_DEFAULT;
    // SAFETY: fninit resets the x87 unit; ldmxcsr loads a valid MXCSR (CR4.OSFXSR set).
    unsafe {
        core::arch::asm!(
            "fninit",                       // x87 to its initial state
            "ldmxcsr [{mxcsr}]",            // SSE control: exceptions masked
            mxcsr = in(reg) &mxcsr,
            options(nostack),
        );
    }
    features
}

/// On a CPU without SMAP, CLAC and STAC raise #UD: turn every recorded one into a NOP
/// (through the direct map's writable alias of the kernel text). Boot CPU, once, before
/// the first interrupt or user copy.
pub fn patch_smap_sites(features: &Features) {
    if features.smap {
        return;
    }
    for &site in topframe_entry::smap::smap_instruction_sites() {
        let physical = topframe_kernel::layout::image_to_phys(site)
            .expect("SMAP sites are in the kernel image");
        let alias = topframe_kernel::layout::phys_to_direct(physical) as *mut [u8; 3];
        // SAFETY: the site is a 3-byte CLAC/STAC in kernel text, rewritten before any CPU
        // can execute it (no other CPU runs yet; this CPU takes no interrupts yet).
        unsafe { alias.write_volatile(topframe_entry::smap::NOP3) };
    }
}
