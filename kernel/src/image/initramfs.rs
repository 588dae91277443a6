//! The initramfs: a cpio (newc) archive passed as the first PVH module (`-initrd`).

use alloc::vec::Vec;
use topframe_kernel::layout::phys_to_direct;
use topframe_kernel::pvh::BootInfo;

/// The archive's bytes, if the loader passed one.
pub fn archive(boot: &BootInfo) -> Option<&'static [u8]> {
    let module = boot.modules().first()?;
    // SAFETY: the module is RAM reserved from the frame allocator for good and
    // direct-mapped; nothing writes it.
    Some(unsafe {
        core::slice::from_raw_parts(
            phys_to_direct(module.start) as *const u8,
            module.size as usize,
        )
    })
}

/// The contents of the file at `path` (with or without the leading `/`), copied out:
/// cpio data is only 4-byte aligned, too little for parsing an ELF in place.
pub fn read_file(archive: &[u8], path: &str) -> Option<Vec<u8>> {
    let wanted = path.trim_start_matches('/');
    cpio_reader::iter_files(archive)
        .find(|entry| {
            entry
                .name()
                .trim_start_matches("./")
                .trim_start_matches('/')
                == wanted
        })
        .map(|entry| entry.file().to_vec())
}
