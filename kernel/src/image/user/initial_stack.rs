//! Linux's initial process stack: argc, argv, envp, auxv, then the strings and the
//! AT_RANDOM bytes above them (`fs/binfmt_elf.c: create_elf_tables`).

use super::address_space::{AddressSpace, MapError};
use super::elf::{LoadedProgram, write_into};
use super::memory::UserMemory;
use alloc::vec::Vec;
use topframe_kernel::layout::{PAGE_SIZE, USER_SPACE_END};
use topframe_kernel::vma::Access;

/// Top of the user stack (the highest user page, as on Linux without randomisation).
pub const STACK_TOP: u64 = USER_SPACE_END;
/// The stack's area: 8 MiB, Linux's default RLIMIT_STACK, populated as it is touched.
pub const STACK_SIZE: u64 = 8 << 20;
/// Most bytes of arguments and environment (Linux allows a quarter of the stack limit).
const MAX_ARGUMENT_BYTES: u64 = STACK_SIZE / 4;

// Auxiliary vector keys (include/uapi/linux/auxvec.h, arch/x86/include/uapi/asm/auxvec.h).
const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;
const AT_MINSIGSTKSZ: u64 = 51;

/// Linux's MINSIGSTKSZ floor for x86_64 (the signal frame grows with XSAVE state).
const MINSIGSTKSZ: u64 = 2048;

/// Create the stack area and write the initial frame; returns the RSP to start with.
pub fn build(
    space: &AddressSpace,
    memory: &mut UserMemory,
    program: &LoadedProgram,
    argv: &[&[u8]],
    envp: &[&[u8]],
    random: [u8; 16],
) -> Result<u64, MapError> {
    let strings: u64 = argv
        .iter()
        .chain(envp)
        .map(|text| text.len() as u64 + 1)
        .sum();
    let words = (argv.len() + envp.len()) as u64 + 64;
    let needed = strings + 64 + words * 8;
    if needed > MAX_ARGUMENT_BYTES {
        return Err(MapError::OutOfMemory);
    }
    memory.areas.insert(
        STACK_TOP - STACK_SIZE..STACK_TOP,
        Access {
            read: true,
            write: true,
            execute: false,
        },
    );
    if !memory.populate(space, STACK_TOP - needed - PAGE_SIZE, STACK_TOP) {
        return Err(MapError::OutOfMemory);
    }

    // Strings and random bytes at the top, growing down.
    let mut cursor = STACK_TOP;
    let mut push_bytes = |bytes: &[u8], nul: bool| -> Result<u64, MapError> {
        cursor -= bytes.len() as u64 + u64::from(nul);
        write_into(space, cursor, bytes)?;
        if nul {
            write_into(space, cursor + bytes.len() as u64, &[0])?;
        }
        Ok(cursor)
    };
    let execfn = push_bytes(argv.first().copied().unwrap_or(b""), true)?;
    let platform = push_bytes(b"x86_64", true)?;
    let random_address = push_bytes(&random, false)?;
    let mut argv_addresses = Vec::with_capacity(argv.len());
    for arg in argv {
        argv_addresses.push(push_bytes(arg, true)?);
    }
    let mut envp_addresses = Vec::with_capacity(envp.len());
    for var in envp {
        envp_addresses.push(push_bytes(var, true)?);
    }

    let hwcap = u64::from(core::arch::x86_64::__cpuid(1).edx);
    let auxv: [(u64, u64); 17] = [
        (AT_PHDR, program.program_headers),
        (AT_PHENT, program.program_header_size),
        (AT_PHNUM, program.program_header_count),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_ENTRY, program.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_PLATFORM, platform),
        (AT_HWCAP, hwcap),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random_address),
        (AT_HWCAP2, 0),
        (AT_EXECFN, execfn),
        (AT_MINSIGSTKSZ, MINSIGSTKSZ),
    ];

    // The word area: argc, argv..., 0, envp..., 0, auxv pairs..., AT_NULL pair.
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&argv_addresses);
    words.push(0);
    words.extend(&envp_addresses);
    words.push(0);
    for (key, value) in auxv {
        words.extend([key, value]);
    }
    words.extend([AT_NULL, 0]);

    // RSP (pointing at argc) must be 16-byte aligned at entry.
    let rsp = (cursor - words.len() as u64 * 8) & !15;
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    write_into(space, rsp, &bytes)?;
    Ok(rsp)
}
