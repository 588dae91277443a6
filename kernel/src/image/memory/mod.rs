//! Physical and virtual memory of the kernel: frames, page tables, stacks, heap.

pub mod frames;
pub mod heap;
pub mod paging;
pub mod stacks;

/// Addresses of the kernel image's sections, from the linker script.
pub mod image {
    use topframe_kernel::layout::image_to_phys;

    unsafe extern "C" {
        static __image_start: u8;
        static __image_end: u8;
        static __text_start: u8;
        static __text_end: u8;
        static __rodata_start: u8;
        static __rodata_end: u8;
        static __data_start: u8;
        static __data_end: u8;
    }

    /// A section's virtual range.
    #[derive(Clone, Copy, Debug)]
    pub struct Section {
        pub start: u64,
        pub end: u64,
    }

    impl Section {
        /// Physical address of the section's start.
        pub fn phys_start(&self) -> u64 {
            image_to_phys(self.start).expect("image sections are linked in the image window")
        }
    }

    pub fn whole() -> Section {
        Section {
            start: &raw const __image_start as u64,
            end: &raw const __image_end as u64,
        }
    }
    pub fn text() -> Section {
        Section {
            start: &raw const __text_start as u64,
            end: &raw const __text_end as u64,
        }
    }
    pub fn rodata() -> Section {
        Section {
            start: &raw const __rodata_start as u64,
            end: &raw const __rodata_end as u64,
        }
    }
    pub fn data() -> Section {
        Section {
            start: &raw const __data_start as u64,
            end: &raw const __data_end as u64,
        }
    }
}
