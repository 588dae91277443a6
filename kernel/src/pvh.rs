//! The PVH boot ABI: `struct hvm_start_info` (Xen's `arch-x86/hvm/start_info.h`), which
//! QEMU's `-kernel` loader hands to the 32-bit entry point in EBX.
//!
//! Parsing reads physical memory through [`PhysicalRead`] and copies everything into a
//! fixed-size [`BootInfo`], so it needs no heap and can be tested on the host.

use core::ops::Range;

/// `hvm_start_info.magic`: "xEn3" with the top bit of each byte cleared.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Memory-map entry type for usable RAM (the E820 numbering).
pub const MEMORY_TYPE_RAM: u32 = 1;
/// Memory-map entry type for ACPI tables that may be reclaimed once parsed.
pub const MEMORY_TYPE_ACPI_RECLAIMABLE: u32 = 3;

/// Memory-map entries kept; the rest are reported as an error.
pub const MAX_MEMORY_REGIONS: usize = 128;
/// Boot modules kept (the initramfs is the first).
pub const MAX_MODULES: usize = 4;
/// Longest kernel command line kept, in bytes.
pub const MAX_CMDLINE: usize = 1024;

// Field offsets in `struct hvm_start_info` (version 1).
const MAGIC: u64 = 0;
const VERSION: u64 = 4;
const NR_MODULES: u64 = 12;
const MODLIST_PADDR: u64 = 16;
const CMDLINE_PADDR: u64 = 24;
const RSDP_PADDR: u64 = 32;
const MEMMAP_PADDR: u64 = 40;
const MEMMAP_ENTRIES: u64 = 48;
/// Bytes of a `struct hvm_modlist_entry` (paddr, size, cmdline_paddr, reserved).
const MODLIST_ENTRY_SIZE: u64 = 32;
/// Bytes of a `struct hvm_memmap_table_entry` (addr, size, type, reserved).
const MEMMAP_ENTRY_SIZE: u64 = 24;

/// Reads bytes of physical memory.
pub trait PhysicalRead {
    /// Fill `out` from physical address `address`; `false` when that memory is unreadable.
    fn read(&self, address: u64, out: &mut [u8]) -> bool;
}

/// Why the start info could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvhError {
    /// No `hvm_start_info` magic: not started through PVH.
    BadMagic(u32),
    /// Version 0 has no memory map, which this kernel needs.
    NoMemoryMap,
    /// More memory-map entries or modules than this kernel keeps.
    TooManyEntries,
    /// A pointer in the structure leads to unreadable memory.
    Unreadable(u64),
}

/// One memory-map entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: u64,
    pub size: u64,
    pub kind: u32,
}

impl MemoryRegion {
    /// The region as a byte range.
    pub fn range(&self) -> Range<u64> {
        self.start..self.start.saturating_add(self.size)
    }

    /// True for RAM the kernel may allocate.
    pub fn is_usable(&self) -> bool {
        self.kind == MEMORY_TYPE_RAM
    }
}

/// One boot module (`-initrd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Module {
    pub start: u64,
    pub size: u64,
}

/// What the kernel keeps of `hvm_start_info`.
#[derive(Clone, Debug)]
pub struct BootInfo {
    regions: [MemoryRegion; MAX_MEMORY_REGIONS],
    region_count: usize,
    modules: [Module; MAX_MODULES],
    module_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// Physical address of the ACPI RSDP, when the loader gave one.
    pub rsdp: Option<u64>,
}

impl BootInfo {
    /// Parse the structure at physical address `start_info`.
    pub fn parse(memory: &impl PhysicalRead, start_info: u64) -> Result<BootInfo, PvhError> {
        let read_u32 = |address: u64| -> Result<u32, PvhError> {
            let mut bytes = [0; 4];
            if memory.read(address, &mut bytes) {
                Ok(u32::from_le_bytes(bytes))
            } else {
                Err(PvhError::Unreadable(address))
            }
        };
        let read_u64 = |address: u64| -> Result<u64, PvhError> {
            let mut bytes = [0; 8];
            if memory.read(address, &mut bytes) {
                Ok(u64::from_le_bytes(bytes))
            } else {
                Err(PvhError::Unreadable(address))
            }
        };

        let magic = read_u32(start_info + MAGIC)?;
        if magic != START_INFO_MAGIC {
            return Err(PvhError::BadMagic(magic));
        }
        if read_u32(start_info + VERSION)? < 1 {
            return Err(PvhError::NoMemoryMap);
        }
        let mut info = BootInfo {
            regions: [MemoryRegion::default(); MAX_MEMORY_REGIONS],
            region_count: 0,
            modules: [Module::default(); MAX_MODULES],
            module_count: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            rsdp: None,
        };

        let memmap = read_u64(start_info + MEMMAP_PADDR)?;
        let entries = read_u32(start_info + MEMMAP_ENTRIES)? as usize;
        if entries > MAX_MEMORY_REGIONS {
            return Err(PvhError::TooManyEntries);
        }
        for index in 0..entries {
            let entry = memmap + index as u64 * MEMMAP_ENTRY_SIZE;
            info.regions[index] = MemoryRegion {
                start: read_u64(entry)?,
                size: read_u64(entry + 8)?,
                kind: read_u32(entry + 16)?,
            };
        }
        info.region_count = entries;

        let modules = read_u32(start_info + NR_MODULES)? as usize;
        if modules > MAX_MODULES {
            return Err(PvhError::TooManyEntries);
        }
        let modlist = read_u64(start_info + MODLIST_PADDR)?;
        for index in 0..modules {
            let entry = modlist + index as u64 * MODLIST_ENTRY_SIZE;
            info.modules[index] = Module {
                start: read_u64(entry)?,
                size: read_u64(entry + 8)?,
            };
        }
        info.module_count = modules;

        let cmdline = read_u64(start_info + CMDLINE_PADDR)?;
        if cmdline != 0 {
            while info.cmdline_len < MAX_CMDLINE {
                let mut byte = [0];
                let address = cmdline + info.cmdline_len as u64;
                if !memory.read(address, &mut byte) {
                    return Err(PvhError::Unreadable(address));
                }
                if byte[0] == 0 {
                    break;
                }
                info.cmdline[info.cmdline_len] = byte[0];
                info.cmdline_len += 1;
            }
        }

        let rsdp = read_u64(start_info + RSDP_PADDR)?;
        info.rsdp = (rsdp != 0).then_some(rsdp);
        Ok(info)
    }

    /// The firmware's memory map.
    pub fn memory_regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// The boot modules, in order.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.module_count]
    }

    /// The kernel command line (invalid UTF-8 is cut at the first bad byte).
    pub fn cmdline(&self) -> &str {
        let bytes = &self.cmdline[..self.cmdline_len];
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or(""),
        }
    }

    /// One past the highest usable RAM address.
    pub fn usable_end(&self) -> u64 {
        self.memory_regions()
            .iter()
            .filter(|region| region.is_usable())
            .map(|region| region.range().end)
            .max()
            .unwrap_or(0)
    }

    /// Total usable RAM in bytes.
    pub fn usable_bytes(&self) -> u64 {
        self.memory_regions()
            .iter()
            .filter(|region| region.is_usable())
            .map(|region| region.size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake physical memory: a byte vector starting at address 0.
    struct FakeMemory(Vec<u8>);

    impl PhysicalRead for FakeMemory {
        fn read(&self, address: u64, out: &mut [u8]) -> bool {
            let start = address as usize;
            match self.0.get(start..start + out.len()) {
                Some(bytes) => {
                    out.copy_from_slice(bytes);
                    true
                }
                None => false,
            }
        }
    }

    impl FakeMemory {
        fn put_u32(&mut self, address: u64, value: u32) {
            let at = address as usize;
            self.0[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        fn put_u64(&mut self, address: u64, value: u64) {
            let at = address as usize;
            self.0[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
    }

    /// Start info at 0x100, memory map at 0x200, modules at 0x400, command line at 0x500.
    fn qemu_like() -> FakeMemory {
        let mut memory = FakeMemory(vec![0; 0x1000]);
        memory.put_u32(0x100 + MAGIC, START_INFO_MAGIC);
        memory.put_u32(0x100 + VERSION, 1);
        memory.put_u32(0x100 + NR_MODULES, 1);
        memory.put_u64(0x100 + MODLIST_PADDR, 0x400);
        memory.put_u64(0x100 + CMDLINE_PADDR, 0x500);
        memory.put_u64(0x100 + RSDP_PADDR, 0xf_5a40);
        memory.put_u64(0x100 + MEMMAP_PADDR, 0x200);
        memory.put_u32(0x100 + MEMMAP_ENTRIES, 3);
        let regions = [
            (0, 0x9_fc00, MEMORY_TYPE_RAM),
            (0xf_0000, 0x1_0000, 2),
            (0x10_0000, 0x1ff0_0000, MEMORY_TYPE_RAM),
        ];
        for (index, (start, size, kind)) in regions.into_iter().enumerate() {
            let entry = 0x200 + index as u64 * MEMMAP_ENTRY_SIZE;
            memory.put_u64(entry, start);
            memory.put_u64(entry + 8, size);
            memory.put_u32(entry + 16, kind);
        }
        memory.put_u64(0x400, 0x1000_0000);
        memory.put_u64(0x408, 0x2345);
        memory.0[0x500..0x50d].copy_from_slice(b"selftest smp\0");
        memory
    }

    #[test]
    fn parses_what_qemu_passes() {
        let info = BootInfo::parse(&qemu_like(), 0x100).unwrap();
        assert_eq!(info.memory_regions().len(), 3);
        assert_eq!(info.memory_regions()[2].range(), 0x10_0000..0x2000_0000);
        assert!(!info.memory_regions()[1].is_usable());
        assert_eq!(info.usable_end(), 0x2000_0000);
        assert_eq!(info.usable_bytes(), 0x9_fc00 + 0x1ff0_0000);
        assert_eq!(
            info.modules(),
            &[Module {
                start: 0x1000_0000,
                size: 0x2345
            }]
        );
        assert_eq!(info.cmdline(), "selftest smp");
        assert_eq!(info.rsdp, Some(0xf_5a40));
    }

    #[test]
    fn rejects_wrong_magic_and_version() {
        let mut memory = qemu_like();
        memory.put_u32(0x100 + VERSION, 0);
        assert_eq!(
            BootInfo::parse(&memory, 0x100).err(),
            Some(PvhError::NoMemoryMap)
        );
        memory.put_u32(0x100 + MAGIC, 0x1234);
        assert_eq!(
            BootInfo::parse(&memory, 0x100).err(),
            Some(PvhError::BadMagic(0x1234))
        );
    }

    #[test]
    fn bad_pointers_are_errors_not_crashes() {
        let mut memory = qemu_like();
        memory.put_u64(0x100 + MEMMAP_PADDR, 0xffff_0000);
        assert!(matches!(
            BootInfo::parse(&memory, 0x100),
            Err(PvhError::Unreadable(_))
        ));
        let mut memory = qemu_like();
        memory.put_u32(0x100 + MEMMAP_ENTRIES, MAX_MEMORY_REGIONS as u32 + 1);
        assert_eq!(
            BootInfo::parse(&memory, 0x100).err(),
            Some(PvhError::TooManyEntries)
        );
        assert!(BootInfo::parse(&memory, 0xfff0).is_err());
    }

    #[test]
    fn missing_cmdline_and_rsdp() {
        let mut memory = qemu_like();
        memory.put_u64(0x100 + CMDLINE_PADDR, 0);
        memory.put_u64(0x100 + RSDP_PADDR, 0);
        let info = BootInfo::parse(&memory, 0x100).unwrap();
        assert_eq!(info.cmdline(), "");
        assert_eq!(info.rsdp, None);
    }
}
