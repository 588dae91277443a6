//! Loading a static x86_64 ELF executable (ET_EXEC, no interpreter) into an address
//! space, with the `xmas-elf` crate.

use super::address_space::{AddressSpace, MapError, Protection};
use super::memory::UserMemory;
use alloc::collections::BTreeMap;
use topframe_kernel::layout::{PAGE_SIZE, USER_SPACE_END, align_down, align_up, phys_to_direct};
use topframe_kernel::vma::Access;
use xmas_elf::ElfFile;
use xmas_elf::header::{Class, Machine, Type};
use xmas_elf::program::Type as SegmentType;

/// Why a program cannot be loaded (the ENOEXEC and ENOMEM cases of execve).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    NotElf(&'static str),
    Unsupported(&'static str),
    BadSegment,
    OutOfMemory,
}

/// Where the loaded program lives.
#[derive(Clone, Copy, Debug)]
pub struct LoadedProgram {
    pub entry: u64,
    /// Address of the program headers in the process (AT_PHDR), 0 if not loaded.
    pub program_headers: u64,
    pub program_header_count: u64,
    pub program_header_size: u64,
    /// First address past the highest segment: where the heap (brk) starts.
    pub end: u64,
}

/// Write `data` at user address `address` of `space` (which need not be active),
/// through the direct map; every page must be mapped.
pub fn write_into(space: &AddressSpace, mut address: u64, mut data: &[u8]) -> Result<(), MapError> {
    while !data.is_empty() {
        let in_page = ((PAGE_SIZE - address % PAGE_SIZE) as usize).min(data.len());
        let physical = space.translate(address).ok_or(MapError::OutOfMemory)?;
        // SAFETY: the frame belongs to this address space (mapped by the loader) and is
        // direct-mapped; the write stays inside the page.
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.as_ptr(),
                phys_to_direct(physical) as *mut u8,
                in_page,
            );
        }
        address += in_page as u64;
        data = &data[in_page..];
    }
    Ok(())
}

/// Map and fill the PT_LOAD segments of `image`, and record them as areas of `memory`.
pub fn load(
    space: &AddressSpace,
    memory: &mut UserMemory,
    image: &[u8],
) -> Result<LoadedProgram, LoadError> {
    let elf = ElfFile::new(image).map_err(LoadError::NotElf)?;
    let header = &elf.header;
    if header.pt1.class() != Class::SixtyFour
        || header.pt2.machine().as_machine() != Machine::X86_64
    {
        return Err(LoadError::Unsupported("not an x86_64 ELF64 file"));
    }
    if header.pt2.type_().as_type() != Type::Executable {
        return Err(LoadError::Unsupported("not a static executable (ET_EXEC)"));
    }

    // Every page any segment touches, with the union of the permissions asking for it.
    let mut pages: BTreeMap<u64, Protection> = BTreeMap::new();
    let mut end = 0;
    let mut program_headers = 0;
    for segment in elf.program_iter() {
        match segment.get_type() {
            Ok(SegmentType::Load) => {}
            Ok(SegmentType::Interp) => return Err(LoadError::Unsupported("dynamically linked")),
            _ => continue,
        }
        let start = segment.virtual_addr();
        let segment_end = start
            .checked_add(segment.mem_size())
            .ok_or(LoadError::BadSegment)?;
        if segment.file_size() > segment.mem_size()
            || segment_end > USER_SPACE_END
            || segment
                .offset()
                .checked_add(segment.file_size())
                .is_none_or(|e| e > image.len() as u64)
        {
            return Err(LoadError::BadSegment);
        }
        let flags = segment.flags();
        let protection = Protection {
            write: flags.is_write(),
            execute: flags.is_execute(),
        };
        let mut page = align_down(start, PAGE_SIZE);
        while page < segment_end {
            let entry = pages.entry(page).or_insert(Protection {
                write: false,
                execute: false,
            });
            entry.write |= protection.write;
            entry.execute |= protection.execute;
            page += PAGE_SIZE;
        }
        end = end.max(segment_end);
        // The program headers, if this segment carries them from the file.
        let phoff = header.pt2.ph_offset();
        if phoff >= segment.offset() && phoff < segment.offset() + segment.file_size() {
            program_headers = start + (phoff - segment.offset());
        }
    }
    if pages.is_empty() {
        return Err(LoadError::BadSegment);
    }
    for (&page, &protection) in &pages {
        space
            .map_zeroed(page, protection)
            .map_err(|_| LoadError::OutOfMemory)?;
        let access = Access {
            read: true,
            write: protection.write,
            execute: protection.execute,
        };
        memory.areas.insert(page..page + PAGE_SIZE, access);
    }
    for segment in elf
        .program_iter()
        .filter(|s| s.get_type() == Ok(SegmentType::Load))
    {
        let bytes =
            &image[segment.offset() as usize..(segment.offset() + segment.file_size()) as usize];
        write_into(space, segment.virtual_addr(), bytes).map_err(|_| LoadError::OutOfMemory)?;
    }
    Ok(LoadedProgram {
        entry: header.pt2.entry_point(),
        program_headers,
        program_header_count: u64::from(header.pt2.ph_count()),
        program_header_size: u64::from(header.pt2.ph_entry_size()),
        end: align_up(end, PAGE_SIZE).ok_or(LoadError::BadSegment)?,
    })
}
