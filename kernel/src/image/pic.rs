//! The legacy 8259 interrupt controllers. The firmware leaves them delivering the PIT's
//! IRQ 0 at vector 8, which would look like a double fault once interrupts are on; the
//! kernel uses the local APIC only, so (as Linux does) it moves the PICs' vectors out of
//! the exception range and masks every line.

use pic8259::ChainedPics;

/// Vectors the PICs would use (never delivered: all lines stay masked).
const MASTER_OFFSET: u8 = 0x20;
const SLAVE_OFFSET: u8 = 0x28;

/// Remap and mask both PICs. Boot CPU, before interrupts are first enabled.
pub fn disable() {
    // SAFETY: the standard PC PIC ports; after this no line is unmasked, so no vector
    // in 0x20..0x30 is ever raised by them.
    unsafe {
        let mut pics = ChainedPics::new(MASTER_OFFSET, SLAVE_OFFSET);
        pics.initialize();
        pics.write_masks(0xff, 0xff);
    }
}
