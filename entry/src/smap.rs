//! SMAP's CLAC/STAC instructions, listed so a kernel can turn them into NOPs on a CPU
//! without SMAP (where they raise #UD): Linux's alternatives, in miniature.
//!
//! Assembly that needs one writes the instruction and records its address in the
//! `topframe_smap_sites` section ([`SMAP_SITE_SECTION`]): `1: clac` then
//! `.pushsection topframe_smap_sites, "a"; .quad 1b; .popsection`.

/// Name of the linker section listing the addresses of every CLAC and STAC.
pub const SMAP_SITE_SECTION: &str = "topframe_smap_sites";

/// Length of CLAC and STAC (`0f 01 ca`, `0f 01 cb`).
pub const SMAP_INSTRUCTION_LEN: usize = 3;

/// A 3-byte NOP (`nop dword ptr [rax]`), the replacement on CPUs without SMAP.
pub const NOP3: [u8; 3] = [0x0f, 0x1f, 0x00];

unsafe extern "C" {
    static __start_topframe_smap_sites: u64;
    static __stop_topframe_smap_sites: u64;
}

/// Addresses of every recorded CLAC and STAC in the program.
pub fn smap_instruction_sites() -> &'static [u64] {
    let start = &raw const __start_topframe_smap_sites;
    let stop = &raw const __stop_topframe_smap_sites;
    // SAFETY: the linker brackets the section, which holds only u64 addresses written by
    // `.quad` directives, contiguously.
    unsafe { core::slice::from_raw_parts(start, stop.offset_from(start) as usize) }
}

// The section always exists (an empty program still links the bounds).
core::arch::global_asm!(".pushsection topframe_smap_sites, \"a\"", ".popsection");
