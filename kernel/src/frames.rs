//! Physical frame allocator: one bit per 4 KiB frame, set when the frame is free.
//!
//! The bitmap covers `[0, frame_count * 4 KiB)`; everything starts used, the boot code
//! frees the usable RAM from the firmware's memory map and then takes back what the
//! kernel image, the boot modules and the bitmap itself occupy. Allocation searches from
//! a moving hint, so repeated allocations are O(1) amortised; contiguous runs (heap,
//! DMA-like needs) are found by a linear scan.

use crate::layout::PAGE_SIZE;
use core::ops::Range;

/// Bits per bitmap word.
const WORD_BITS: u64 = 64;

/// Why a frame could not be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The address is not 4 KiB aligned.
    Unaligned,
    /// The address is beyond the memory the bitmap covers.
    OutOfRange,
    /// The frame is already free.
    AlreadyFree,
}

/// A bitmap frame allocator over caller-provided storage.
pub struct FrameBitmap<'a> {
    /// Bit `n` of word `n / 64` is set when frame `n` is free.
    words: &'a mut [u64],
    /// Number of frames covered.
    frame_count: u64,
    /// Number of free frames.
    free_frames: u64,
    /// Word index where the next single-frame search starts.
    hint: usize,
}

/// Number of `u64` words a bitmap needs to cover physical memory up to `end` (bytes).
pub const fn words_for(end: u64) -> usize {
    end.div_ceil(PAGE_SIZE).div_ceil(WORD_BITS) as usize
}

impl<'a> FrameBitmap<'a> {
    /// A bitmap with every frame in use, covering as many frames as `words` can describe.
    pub fn new(words: &'a mut [u64]) -> Self {
        words.fill(0);
        let frame_count = words.len() as u64 * WORD_BITS;
        FrameBitmap {
            words,
            frame_count,
            free_frames: 0,
            hint: 0,
        }
    }

    /// Frames covered (free or not).
    pub fn frame_count(&self) -> u64 {
        self.frame_count
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    /// Mark every whole frame inside `range` (bytes) free. Partial frames at either end
    /// stay used; the part beyond the covered memory is ignored.
    pub fn add_free(&mut self, range: Range<u64>) {
        let first = range.start.div_ceil(PAGE_SIZE);
        let end = (range.end / PAGE_SIZE).min(self.frame_count);
        for frame in first..end {
            if !self.is_free(frame) {
                self.set(frame, true);
                self.free_frames += 1;
            }
        }
    }

    /// Mark every frame that overlaps `range` (bytes) used.
    pub fn reserve(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let first = range.start / PAGE_SIZE;
        let end = range.end.div_ceil(PAGE_SIZE).min(self.frame_count);
        for frame in first..end {
            if self.is_free(frame) {
                self.set(frame, false);
                self.free_frames -= 1;
            }
        }
    }

    /// Allocate one frame; returns its physical address.
    pub fn allocate(&mut self) -> Option<u64> {
        let word_count = self.words.len();
        for step in 0..word_count {
            let index = (self.hint + step) % word_count;
            let word = self.words[index];
            if word != 0 {
                let bit = u64::from(word.trailing_zeros());
                let frame = index as u64 * WORD_BITS + bit;
                self.set(frame, false);
                self.free_frames -= 1;
                self.hint = index;
                return Some(frame * PAGE_SIZE);
            }
        }
        None
    }

    /// Allocate `count` physically contiguous frames whose first frame is aligned to
    /// `align` bytes (a power of two, at least 4 KiB); returns the first address.
    pub fn allocate_contiguous(&mut self, count: u64, align: u64) -> Option<u64> {
        if count == 0 || !align.is_power_of_two() || align < PAGE_SIZE {
            return None;
        }
        let step = align / PAGE_SIZE;
        let mut start = 0;
        while start + count <= self.frame_count {
            match (start..start + count).find(|&frame| !self.is_free(frame)) {
                None => {
                    for frame in start..start + count {
                        self.set(frame, false);
                    }
                    self.free_frames -= count;
                    return Some(start * PAGE_SIZE);
                }
                // Restart at the next aligned frame past the used one.
                Some(used) => start = (used / step + 1) * step,
            }
        }
        None
    }

    /// Return a frame to the allocator.
    pub fn free(&mut self, address: u64) -> Result<(), FreeError> {
        if !address.is_multiple_of(PAGE_SIZE) {
            return Err(FreeError::Unaligned);
        }
        let frame = address / PAGE_SIZE;
        if frame >= self.frame_count {
            return Err(FreeError::OutOfRange);
        }
        if self.is_free(frame) {
            return Err(FreeError::AlreadyFree);
        }
        self.set(frame, true);
        self.free_frames += 1;
        Ok(())
    }

    /// True when the frame with this number is free.
    fn is_free(&self, frame: u64) -> bool {
        self.words[(frame / WORD_BITS) as usize] & (1 << (frame % WORD_BITS)) != 0
    }

    fn set(&mut self, frame: u64, free: bool) {
        let word = &mut self.words[(frame / WORD_BITS) as usize];
        let mask = 1 << (frame % WORD_BITS);
        if free {
            *word |= mask;
        } else {
            *word &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn words_cover_memory() {
        assert_eq!(words_for(0), 0);
        assert_eq!(words_for(PAGE_SIZE), 1);
        assert_eq!(words_for(64 * PAGE_SIZE), 1);
        assert_eq!(words_for(64 * PAGE_SIZE + 1), 2);
        assert_eq!(words_for(512 * MIB), 2048);
    }

    #[test]
    fn only_whole_free_frames_count() {
        let mut words = vec![0; words_for(16 * MIB)];
        let mut frames = FrameBitmap::new(&mut words);
        assert_eq!(frames.free_frames(), 0);
        frames.add_free(0x800..0x3800);
        // 0x1000..0x3000: the partial frames at both ends stay used.
        assert_eq!(frames.free_frames(), 2);
        frames.add_free(0x1000..0x3000);
        assert_eq!(frames.free_frames(), 2, "freeing twice counts once");
        frames.reserve(0x2fff..0x3001);
        assert_eq!(frames.free_frames(), 1);
        assert_eq!(frames.allocate(), Some(0x1000));
        assert_eq!(frames.allocate(), None);
    }

    #[test]
    fn allocate_all_then_free() {
        let mut words = vec![0; words_for(MIB)];
        let mut frames = FrameBitmap::new(&mut words);
        frames.add_free(0..MIB);
        frames.reserve(0..PAGE_SIZE);
        let total = frames.free_frames();
        assert_eq!(total, 255);
        let mut taken = std::collections::BTreeSet::new();
        while let Some(frame) = frames.allocate() {
            assert!((PAGE_SIZE..MIB).contains(&frame) && frame.is_multiple_of(PAGE_SIZE));
            assert!(taken.insert(frame), "frame {frame:#x} handed out twice");
        }
        assert_eq!(taken.len() as u64, total);
        assert_eq!(frames.free_frames(), 0);
        for &frame in &taken {
            frames.free(frame).unwrap();
        }
        assert_eq!(frames.free_frames(), total);
    }

    #[test]
    fn free_rejects_bad_addresses() {
        let mut words = vec![0; words_for(MIB)];
        let mut frames = FrameBitmap::new(&mut words);
        frames.add_free(0..MIB);
        let frame = frames.allocate().unwrap();
        assert_eq!(frames.free(frame + 1), Err(FreeError::Unaligned));
        assert_eq!(frames.free(MIB), Err(FreeError::OutOfRange));
        assert_eq!(frames.free(frame), Ok(()));
        assert_eq!(frames.free(frame), Err(FreeError::AlreadyFree));
    }

    #[test]
    fn contiguous_runs_are_aligned_and_skip_holes() {
        let mut words = vec![0; words_for(8 * MIB)];
        let mut frames = FrameBitmap::new(&mut words);
        frames.add_free(0..8 * MIB);
        frames.reserve(0x20_0000..0x20_1000); // a hole at 2 MiB
        let run = frames.allocate_contiguous(512, 2 * MIB).unwrap();
        assert_eq!(run, 0, "the first aligned 2 MiB run");
        let run = frames.allocate_contiguous(512, 2 * MIB).unwrap();
        assert_eq!(run, 4 * MIB, "2..4 MiB has a hole");
        let before = frames.free_frames();
        let run = frames.allocate_contiguous(3, PAGE_SIZE).unwrap();
        assert_eq!(run, 0x20_1000);
        assert_eq!(frames.free_frames(), before - 3);
        assert_eq!(frames.allocate_contiguous(4096, PAGE_SIZE), None);
        assert_eq!(frames.allocate_contiguous(0, PAGE_SIZE), None);
        assert_eq!(frames.allocate_contiguous(1, 3 * PAGE_SIZE), None);
    }
}
