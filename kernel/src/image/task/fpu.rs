//! A task's x87/SSE/AVX state, saved and restored eagerly on every context switch (as
//! Linux since 4.2): XSAVE/XRSTOR with every component of XCR0 in the standard format,
//! or FXSAVE/FXRSTOR on CPUs without XSAVE.

use crate::cpu::Features;
use alloc::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use core::arch::x86_64::__cpuid_count;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// What the boot CPU found: the save instruction and the area's size.
static USE_XSAVE: AtomicBool = AtomicBool::new(false);
static XCR0: AtomicU64 = AtomicU64::new(0);
static AREA_SIZE: AtomicUsize = AtomicUsize::new(FXSAVE_AREA_SIZE);

/// The legacy (FXSAVE) area: 512 bytes.
const FXSAVE_AREA_SIZE: usize = 512;
/// XSAVE areas are 64-byte aligned (FXSAVE's need 16).
const AREA_ALIGN: usize = 64;
/// Offsets in the legacy area: the x87 control word and MXCSR.
const FCW_OFFSET: usize = 0;
const MXCSR_OFFSET: usize = 24;
/// The initial x87 control word (exceptions masked, extended precision) and MXCSR.
const FCW_INITIAL: u16 = 0x037f;
const MXCSR_INITIAL: u32 = 0x1f80;

/// The MXCSR bits this CPU accepts (FXSAVE's MXCSR_MASK; Intel's default when it is 0).
static MXCSR_MASK: AtomicU32 = AtomicU32::new(MXCSR_MASK_DEFAULT);
const MXCSR_MASK_OFFSET: usize = 28;
const MXCSR_MASK_DEFAULT: u32 = 0xffbf;

/// Record the format every task's area uses (boot CPU, after `cpu::init`).
pub fn init(features: &Features) {
    MXCSR_MASK.store(read_mxcsr_mask(), Ordering::Relaxed);
    if features.xsave {
        // CPUID.(EAX=0DH, ECX=0).EBX: bytes XSAVE writes for the components XCR0 enables.
        let size = __cpuid_count(0xd, 0).ebx as usize;
        USE_XSAVE.store(true, Ordering::Relaxed);
        XCR0.store(features.xcr0, Ordering::Relaxed);
        AREA_SIZE.store(size.max(FXSAVE_AREA_SIZE + 64), Ordering::Relaxed);
    }
}

/// The MXCSR_MASK field of an FXSAVE image of this CPU.
fn read_mxcsr_mask() -> u32 {
    #[repr(C, align(16))]
    struct Legacy([u8; FXSAVE_AREA_SIZE]);
    let mut legacy = Legacy([0; FXSAVE_AREA_SIZE]);
    // SAFETY: a 16-byte aligned 512-byte buffer on this stack.
    unsafe {
        core::arch::asm!(
            "fxsave64 [{area}]",                // the legacy image, MXCSR_MASK included
            area = in(reg) legacy.0.as_mut_ptr(),
            options(nostack),
        );
    }
    let bytes = &legacy.0[MXCSR_MASK_OFFSET..MXCSR_MASK_OFFSET + 4];
    match u32::from_le_bytes(bytes.try_into().expect("four bytes")) {
        0 => MXCSR_MASK_DEFAULT,
        mask => mask,
    }
}

/// True when areas are in XSAVE format (else FXSAVE's 512 bytes).
pub fn uses_xsave() -> bool {
    USE_XSAVE.load(Ordering::Relaxed)
}

/// The components every XSAVE area holds (XCR0).
pub fn xfeatures() -> u64 {
    XCR0.load(Ordering::Relaxed)
}

/// Bytes of an area (what XSAVE writes for XCR0's components, or 512).
pub fn area_size() -> usize {
    AREA_SIZE.load(Ordering::Relaxed)
}

/// The MXCSR bits that may be set (others make XRSTOR/FXRSTOR fault).
pub fn mxcsr_mask() -> u32 {
    MXCSR_MASK.load(Ordering::Relaxed)
}

/// One task's saved registers.
pub struct FpuState {
    area: *mut u8,
}

// SAFETY: the area is owned by the state; the task's CPU is its only user at a time.
unsafe impl Send for FpuState {}
// SAFETY: as above: `save`/`restore` run only on the CPU switching the task.
unsafe impl Sync for FpuState {}

impl FpuState {
    fn layout() -> Layout {
        Layout::from_size_align(AREA_SIZE.load(Ordering::Relaxed), AREA_ALIGN)
            .expect("the XSAVE area size from CPUID is sane")
    }

    /// The state a new program starts with: every component initial, default control
    /// words (an XSAVE header of zeros asks XRSTOR for the initial state of each).
    pub fn initial() -> FpuState {
        let layout = Self::layout();
        // SAFETY: the layout has a non-zero size.
        let area = unsafe { alloc_zeroed(layout) };
        if area.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: both offsets lie in the legacy area, inside the allocation.
        unsafe {
            area.add(FCW_OFFSET).cast::<u16>().write(FCW_INITIAL);
            area.add(MXCSR_OFFSET).cast::<u32>().write(MXCSR_INITIAL);
        }
        FpuState { area }
    }

    /// A copy of the registers as they are on this CPU now (a `clone` child's).
    pub fn copy_of_live() -> FpuState {
        let state = FpuState::initial();
        // SAFETY: the area is this fresh state's own.
        unsafe { state.save() };
        state
    }

    /// The image, as bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the area is `area_size()` bytes owned by this state.
        unsafe { core::slice::from_raw_parts(self.area, area_size()) }
    }

    /// The image, as bytes to fill (a sigreturn's registers, validated before `restore`).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.area, area_size()) }
    }

    /// Save this CPU's registers here.
    ///
    /// # Safety
    /// Nothing else may use the area meanwhile (the task is being switched out).
    pub unsafe fn save(&self) {
        if USE_XSAVE.load(Ordering::Relaxed) {
            let xcr0 = XCR0.load(Ordering::Relaxed);
            // SAFETY: a 64-byte aligned area of the size CPUID gives for XCR0.
            unsafe {
                core::arch::asm!(
                    "xsave64 [{area}]",         // every component in EDX:EAX (= XCR0)
                    area = in(reg) self.area,
                    in("eax") xcr0 as u32,
                    in("edx") (xcr0 >> 32) as u32,
                    options(nostack),
                );
            }
        } else {
            // SAFETY: a 16-byte aligned area of at least 512 bytes.
            unsafe {
                core::arch::asm!(
                    "fxsave64 [{area}]",        // x87 and SSE registers
                    area = in(reg) self.area,
                    options(nostack),
                );
            }
        }
    }

    /// Load this CPU's registers from here.
    ///
    /// # Safety
    /// The area holds a valid image (from [`initial`](Self::initial) or a save), and
    /// nothing else uses it meanwhile (the task is being switched in).
    pub unsafe fn restore(&self) {
        if USE_XSAVE.load(Ordering::Relaxed) {
            let xcr0 = XCR0.load(Ordering::Relaxed);
            // SAFETY: a valid XSAVE image (standard format) of the components in XCR0.
            unsafe {
                core::arch::asm!(
                    "xrstor64 [{area}]",        // every component in EDX:EAX (= XCR0)
                    area = in(reg) self.area,
                    in("eax") xcr0 as u32,
                    in("edx") (xcr0 >> 32) as u32,
                    options(nostack, readonly),
                );
            }
        } else {
            // SAFETY: a valid FXSAVE image.
            unsafe {
                core::arch::asm!(
                    "fxrstor64 [{area}]",       // x87 and SSE registers
                    area = in(reg) self.area,
                    options(nostack, readonly),
                );
            }
        }
    }
}

impl Drop for FpuState {
    fn drop(&mut self) {
        // SAFETY: allocated in `initial` with this layout (fixed since boot).
        unsafe { dealloc(self.area, Self::layout()) };
    }
}
