//! A host file the kernel can run: a static x86_64 ELF executable (the kernel's loader has no
//! dynamic linker), checked before it goes into an initramfs so that a wrong file is a
//! one-line error on the host rather than a failed exec in the guest.

use std::path::Path;

use anyhow::{Result, bail};
use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind};

/// The contents of `path` if it is a static x86_64 ELF executable; otherwise an error that
/// says, in one line, what it is instead.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let shown = path.display();
    let contents = match std::fs::read(path) {
        Ok(contents) => contents,
        Err(error) => bail!("cannot read {shown}: {error}"),
    };
    if let Err(problem) = check(&contents) {
        bail!("{shown} {problem}");
    }
    Ok(contents)
}

/// `Err` completes the sentence "<path> ...".
fn check(contents: &[u8]) -> Result<(), String> {
    match FileKind::parse(contents) {
        Ok(FileKind::Elf64) => {}
        Ok(FileKind::Elf32) => return Err("is a 32-bit ELF; the kernel runs x86_64".to_string()),
        _ => return Err("is not an ELF file".to_string()),
    }
    let header = FileHeader64::<Endianness>::parse(contents)
        .map_err(|error| format!("is not a valid ELF file ({error})"))?;
    let endian = header
        .endian()
        .map_err(|error| format!("is not a valid ELF file ({error})"))?;
    if header.e_machine(endian) != elf::EM_X86_64 {
        return Err(format!(
            "is an ELF for another machine (e_machine {}); the kernel runs x86_64",
            header.e_machine(endian)
        ));
    }
    // ET_DYN without an interpreter is a static PIE, which the loader places like ET_EXEC.
    if !matches!(header.e_type(endian), elf::ET_EXEC | elf::ET_DYN) {
        return Err(format!(
            "is not an executable (ELF type {})",
            header.e_type(endian)
        ));
    }
    let program_headers = header
        .program_headers(endian, contents)
        .map_err(|error| format!("is not a valid ELF file ({error})"))?;
    if program_headers
        .iter()
        .any(|segment| segment.p_type(endian) == elf::PT_INTERP)
    {
        return Err(
            "is dynamically linked (it has a PT_INTERP); the kernel runs static \
                    executables: link it with -static"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-byte ELF64 header for x86_64 with no program headers.
    fn elf_header(class: u8, elf_type: u16, machine: u16) -> Vec<u8> {
        let mut header = vec![0; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = class;
        header[5] = elf::ELFDATA2LSB;
        header[6] = elf::EV_CURRENT;
        header[16..18].copy_from_slice(&elf_type.to_le_bytes());
        header[18..20].copy_from_slice(&machine.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes());
        // e_ehsize, e_phentsize
        header[52..54].copy_from_slice(&64u16.to_le_bytes());
        header[54..56].copy_from_slice(&56u16.to_le_bytes());
        header
    }

    #[test]
    fn static_x86_64_executables_pass() {
        assert_eq!(
            check(&elf_header(elf::ELFCLASS64, elf::ET_EXEC, elf::EM_X86_64)),
            Ok(())
        );
        assert_eq!(
            check(&elf_header(elf::ELFCLASS64, elf::ET_DYN, elf::EM_X86_64)),
            Ok(())
        );
    }

    #[test]
    fn other_files_say_what_they_are() {
        assert_eq!(check(b"#!/bin/sh\n"), Err("is not an ELF file".to_string()));
        assert!(
            check(&elf_header(elf::ELFCLASS32, elf::ET_EXEC, elf::EM_386))
                .unwrap_err()
                .starts_with("is a 32-bit ELF")
        );
        assert!(
            check(&elf_header(elf::ELFCLASS64, elf::ET_EXEC, elf::EM_AARCH64))
                .unwrap_err()
                .starts_with("is an ELF for another machine (e_machine 183)")
        );
        assert_eq!(
            check(&elf_header(elf::ELFCLASS64, elf::ET_REL, elf::EM_X86_64)),
            Err("is not an executable (ELF type 1)".to_string())
        );
    }

    #[test]
    fn dynamically_linked_programs_are_refused() {
        // This test binary: a dynamically linked host program.
        let error = read(&std::env::current_exe().unwrap()).unwrap_err();
        assert!(
            error.to_string().contains("is dynamically linked"),
            "{error}"
        );
    }

    #[test]
    fn missing_files_are_one_line_errors() {
        let error = read(Path::new("/nonexistent/init"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "cannot read /nonexistent/init: No such file or directory (os error 2)"
        );
    }
}
