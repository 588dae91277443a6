//! The kernel's physical frame allocator: a [`FrameBitmap`] over the PVH memory map,
//! with its bitmap in the first free memory after the kernel image.

use super::image;
use crate::sync::IrqSafeLock;
use topframe_kernel::frames::{FrameBitmap, words_for};
use topframe_kernel::layout::{PAGE_SIZE, align_up, phys_to_direct};
use topframe_kernel::pvh::BootInfo;
use x86_64::PhysAddr;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};

static FRAMES: IrqSafeLock<Option<FrameBitmap<'static>>> = IrqSafeLock::new(None);

/// Build the allocator: usable RAM free, minus everything below the end of the kernel
/// image (real-mode area, boot code, the image), the bitmap itself and the boot modules.
/// Runs on the boot page tables, whose direct map covers the first 4 GiB.
pub fn init(boot: &BootInfo) {
    let words = words_for(boot.usable_end());
    let image_end = image::whole().phys_start() + (image::whole().end - image::whole().start);
    let bitmap_start = align_up(image_end, PAGE_SIZE).expect("image ends below 4 GiB");
    let bitmap_end = bitmap_start + (words as u64 * 8);
    let fits = boot.memory_regions().iter().any(|region| {
        region.is_usable() && region.start <= bitmap_start && bitmap_end <= region.range().end
    });
    let clear_of_modules = boot
        .modules()
        .iter()
        .all(|module| module.start >= bitmap_end || module.start + module.size <= bitmap_start);
    assert!(
        fits && clear_of_modules,
        "no usable RAM right after the kernel image for the frame bitmap"
    );
    // SAFETY: [bitmap_start, bitmap_end) is usable RAM, past the image, used by nothing
    // else (checked above), direct-mapped, and reserved below so it is never handed out.
    let storage =
        unsafe { core::slice::from_raw_parts_mut(phys_to_direct(bitmap_start) as *mut u64, words) };
    let mut frames = FrameBitmap::new(storage);
    for region in boot
        .memory_regions()
        .iter()
        .filter(|region| region.is_usable())
    {
        frames.add_free(region.range());
    }
    frames.reserve(0..bitmap_end);
    for module in boot.modules() {
        frames.reserve(module.start..module.start + module.size);
    }
    *FRAMES.lock() = Some(frames);
}

fn with_frames<R>(f: impl FnOnce(&mut FrameBitmap<'static>) -> R) -> R {
    f(FRAMES
        .lock()
        .as_mut()
        .expect("frame allocator used before memory::frames::init"))
}

/// One frame, contents undefined.
pub fn allocate() -> Option<u64> {
    with_frames(|frames| frames.allocate())
}

/// One frame, zero-filled.
pub fn allocate_zeroed() -> Option<u64> {
    let frame = allocate()?;
    // SAFETY: the frame was just allocated, so nothing else uses it; it is direct-mapped.
    unsafe { core::ptr::write_bytes(phys_to_direct(frame) as *mut u8, 0, PAGE_SIZE as usize) };
    Some(frame)
}

/// `count` contiguous frames aligned to `align` bytes.
pub fn allocate_contiguous(count: u64, align: u64) -> Option<u64> {
    with_frames(|frames| frames.allocate_contiguous(count, align))
}

/// Give a frame back.
pub fn free(frame: u64) -> Result<(), topframe_kernel::frames::FreeError> {
    with_frames(|frames| frames.free(frame))
}

/// (free, covered) frame counts.
pub fn counts() -> (u64, u64) {
    with_frames(|frames| (frames.free_frames(), frames.frame_count()))
}

/// The allocator as the `x86_64` crate's page-table code wants it.
pub struct KernelFrames;

// SAFETY: every frame handed out is unused until freed, as FrameBitmap guarantees.
unsafe impl FrameAllocator<Size4KiB> for KernelFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        allocate().map(|frame| PhysFrame::containing_address(PhysAddr::new(frame)))
    }
}
