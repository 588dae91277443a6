//! The CPUs of the machine, from the ACPI MADT (through the `acpi` crate).

use crate::memory::paging::{self, PageKind};
use acpi::sdt::madt::{Madt, MadtEntry};
use acpi::{AcpiTables, Handler, PciAddress, PhysicalMapping};
use core::ptr::NonNull;
use topframe_kernel::MAX_CPUS;
use x86_64::instructions::port::Port;

/// MADT processor flags: enabled, or may be brought online.
const PROCESSOR_ENABLED: u32 = 1 << 0;
const PROCESSOR_ONLINE_CAPABLE: u32 = 1 << 1;

/// Gives the `acpi` crate access to physical memory through the direct map, and to
/// ports and PCI configuration space for completeness of its interface.
#[derive(Clone, Copy, Debug)]
struct DirectMapHandler;

/// Legacy PCI configuration mechanism #1 ports.
const PCI_CONFIG_ADDRESS: u16 = 0xcf8;
const PCI_CONFIG_DATA: u16 = 0xcfc;

fn pci_config_address(address: PciAddress, offset: u16) -> u32 {
    (1 << 31)
        | (u32::from(address.bus()) << 16)
        | (u32::from(address.device()) << 11)
        | (u32::from(address.function()) << 8)
        | (u32::from(offset) & 0xfc)
}

impl DirectMapHandler {
    fn pci_read(&self, address: PciAddress, offset: u16) -> u32 {
        // SAFETY: configuration mechanism #1 is how PC firmware exposes PCI config space;
        // reading it has no side effects on the devices QEMU models.
        unsafe {
            Port::<u32>::new(PCI_CONFIG_ADDRESS).write(pci_config_address(address, offset));
            Port::<u32>::new(PCI_CONFIG_DATA).read()
        }
    }

    fn pci_write(&self, address: PciAddress, offset: u16, value: u32) {
        // SAFETY: as in pci_read; only the AML interpreter (not enabled) would write.
        unsafe {
            Port::<u32>::new(PCI_CONFIG_ADDRESS).write(pci_config_address(address, offset));
            Port::<u32>::new(PCI_CONFIG_DATA).write(value);
        }
    }
}

macro_rules! mmio_access {
    ($read:ident, $write:ident, $ty:ty) => {
        fn $read(&self, address: usize) -> $ty {
            let virt =
                paging::map_physical(address as u64, size_of::<$ty>() as u64, PageKind::Device);
            // SAFETY: the address was just mapped; firmware asked for this access.
            unsafe { core::ptr::read_volatile(virt as *const $ty) }
        }
        fn $write(&self, address: usize, value: $ty) {
            let virt =
                paging::map_physical(address as u64, size_of::<$ty>() as u64, PageKind::Device);
            // SAFETY: as for the read.
            unsafe { core::ptr::write_volatile(virt as *mut $ty, value) }
        }
    };
}

macro_rules! port_access {
    ($read:ident, $write:ident, $ty:ty) => {
        fn $read(&self, port: u16) -> $ty {
            // SAFETY: firmware-directed port access.
            unsafe { Port::<$ty>::new(port).read() }
        }
        fn $write(&self, port: u16, value: $ty) {
            // SAFETY: firmware-directed port access.
            unsafe { Port::<$ty>::new(port).write(value) }
        }
    };
}

impl Handler for DirectMapHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> acpi::RawPhysicalMapping<T> {
        let virt = paging::map_physical(physical_address as u64, size as u64, PageKind::ReadOnly);
        let virtual_start =
            NonNull::new(virt as *mut T).expect("direct-map addresses are never null");
        // SAFETY: direct-map addresses are unique per physical address and never unmapped.
        unsafe { acpi::RawPhysicalMapping::new(physical_address, virtual_start, size, size) }
    }

    // The direct map stays; nothing to undo.
    unsafe fn unmap_physical_region<T>(&self, _region: acpi::RawPhysicalMapping<T>) {}

    mmio_access!(read_u8, write_u8, u8);
    mmio_access!(read_u16, write_u16, u16);
    mmio_access!(read_u32, write_u32, u32);
    mmio_access!(read_u64, write_u64, u64);
    port_access!(read_io_u8, write_io_u8, u8);
    port_access!(read_io_u16, write_io_u16, u16);
    port_access!(read_io_u32, write_io_u32, u32);

    fn read_pci_u8(&self, address: PciAddress, offset: u16) -> u8 {
        (self.pci_read(address, offset) >> ((offset & 3) * 8)) as u8
    }
    fn read_pci_u16(&self, address: PciAddress, offset: u16) -> u16 {
        (self.pci_read(address, offset) >> ((offset & 2) * 8)) as u16
    }
    fn read_pci_u32(&self, address: PciAddress, offset: u16) -> u32 {
        self.pci_read(address, offset)
    }
    fn write_pci_u8(&self, address: PciAddress, offset: u16, value: u8) {
        let shift = (offset & 3) * 8;
        let word = self.pci_read(address, offset) & !(0xff << shift);
        self.pci_write(address, offset, word | (u32::from(value) << shift));
    }
    fn write_pci_u16(&self, address: PciAddress, offset: u16, value: u16) {
        let shift = (offset & 2) * 8;
        let word = self.pci_read(address, offset) & !(0xffff << shift);
        self.pci_write(address, offset, word | (u32::from(value) << shift));
    }
    fn write_pci_u32(&self, address: PciAddress, offset: u16, value: u32) {
        self.pci_write(address, offset, value);
    }

    fn nanos_since_boot(&self) -> u64 {
        crate::tsc::nanoseconds()
    }
    fn stall(&self, microseconds: u64) {
        crate::tsc::delay_us(microseconds);
    }
    fn sleep(&self, milliseconds: u64) {
        crate::tsc::delay_us(milliseconds * 1000);
    }
}

/// The processors the MADT lists as usable, by APIC ID, boot CPU first.
pub struct Processors {
    apic_ids: [u32; MAX_CPUS],
    count: usize,
    /// Usable processors beyond MAX_CPUS, left offline.
    pub ignored: usize,
}

impl Processors {
    pub fn apic_ids(&self) -> &[u32] {
        &self.apic_ids[..self.count]
    }

    fn push(&mut self, apic_id: u32) {
        if self.apic_ids().contains(&apic_id) {
            return;
        }
        if self.count < MAX_CPUS {
            self.apic_ids[self.count] = apic_id;
            self.count += 1;
        } else {
            self.ignored += 1;
        }
    }
}

/// Read the MADT. `boot_apic_id` goes first whatever the table's order.
pub fn processors(rsdp: u64, boot_apic_id: u32) -> Result<Processors, acpi::AcpiError> {
    // SAFETY: the RSDP address comes from the PVH start info, i.e. from firmware.
    let tables = unsafe { AcpiTables::from_rsdp(DirectMapHandler, rsdp as usize)? };
    let madt: PhysicalMapping<DirectMapHandler, Madt> = tables
        .find_table::<Madt>()
        .ok_or(acpi::AcpiError::TableNotFound(acpi::sdt::Signature::MADT))?;
    let mut processors = Processors {
        apic_ids: [0; MAX_CPUS],
        count: 0,
        ignored: 0,
    };
    processors.push(boot_apic_id);
    for entry in madt.get().entries() {
        let (apic_id, flags) = match entry {
            MadtEntry::LocalApic(entry) => (u32::from(entry.apic_id), entry.flags),
            MadtEntry::LocalX2Apic(entry) => (entry.x2apic_id, entry.flags),
            _ => continue,
        };
        if flags & (PROCESSOR_ENABLED | PROCESSOR_ONLINE_CAPABLE) != 0 {
            processors.push(apic_id);
        }
    }
    Ok(processors)
}
