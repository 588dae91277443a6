//! A process's virtual memory areas: which user ranges exist and with what protection,
//! independent of which pages are populated (pages are mapped on first touch).
//!
//! Areas never overlap; adjacent areas with the same protection stay separate (merging
//! is an optimisation Linux makes and nothing here needs).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Range;

/// Access rights of an area (`PROT_READ` is implied by any other; `PROT_NONE` is all false).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Access {
    /// From mmap/mprotect's PROT_* bits.
    pub const fn from_prot(prot: u64) -> Access {
        Access {
            read: prot & 7 != 0,
            write: prot & 2 != 0,
            execute: prot & 4 != 0,
        }
    }

    /// True when an access of this kind is allowed.
    pub const fn allows(self, write: bool, execute: bool) -> bool {
        self.read && (!write || self.write) && (!execute || self.execute)
    }
}

/// One area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    pub start: u64,
    pub end: u64,
    pub access: Access,
}

/// The most areas a process may have (Linux's default `vm.max_map_count`); beyond it
/// mmap, mprotect and brk fail with -ENOMEM.
pub const MAX_AREAS: usize = 65_530;

/// Part of a range was not covered by any area (mprotect's -ENOMEM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotMapped;

/// The areas of one address space, keyed by start address.
#[derive(Clone, Debug, Default)]
pub struct AreaSet {
    areas: BTreeMap<u64, Area>,
}

impl AreaSet {
    pub const fn new() -> AreaSet {
        AreaSet {
            areas: BTreeMap::new(),
        }
    }

    /// The area containing `address`.
    pub fn find(&self, address: u64) -> Option<Area> {
        self.areas
            .range(..=address)
            .next_back()
            .map(|(_, area)| *area)
            .filter(|area| address < area.end)
    }

    /// Every area overlapping `range`, in address order.
    pub fn overlapping(&self, range: Range<u64>) -> Vec<Area> {
        let first = self
            .find(range.start)
            .map_or(range.start, |area| area.start);
        self.areas
            .range(first..range.end)
            .map(|(_, area)| *area)
            .filter(|area| area.end > range.start)
            .collect()
    }

    /// Remove `range` from every area (splitting those that straddle its ends).
    pub fn remove(&mut self, range: Range<u64>) {
        for area in self.overlapping(range.clone()) {
            self.areas.remove(&area.start);
            if area.start < range.start {
                self.areas.insert(
                    area.start,
                    Area {
                        end: range.start,
                        ..area
                    },
                );
            }
            if area.end > range.end {
                self.areas.insert(
                    range.end,
                    Area {
                        start: range.end,
                        ..area
                    },
                );
            }
        }
    }

    /// Make `range` one area with `access`, replacing whatever was there (MAP_FIXED).
    pub fn insert(&mut self, range: Range<u64>, access: Access) {
        self.remove(range.clone());
        self.areas.insert(
            range.start,
            Area {
                start: range.start,
                end: range.end,
                access,
            },
        );
    }

    /// Change the access of `range`, which areas must cover without gaps.
    pub fn protect(&mut self, range: Range<u64>, access: Access) -> Result<(), NotMapped> {
        if !self.covers(range.clone()) {
            return Err(NotMapped);
        }
        for area in self.overlapping(range.clone()) {
            let start = area.start.max(range.start);
            let end = area.end.min(range.end);
            self.remove(start..end);
            self.areas.insert(start, Area { start, end, access });
        }
        Ok(())
    }

    /// True when areas cover every address of `range`.
    pub fn covers(&self, range: Range<u64>) -> bool {
        let mut next = range.start;
        for area in self.overlapping(range.clone()) {
            if area.start > next {
                return false;
            }
            next = area.end;
        }
        next >= range.end
    }

    /// The highest free range of `length` bytes ending at or below `ceiling` and starting
    /// at or above `floor` (the mmap area's top-down search).
    pub fn find_free(&self, length: u64, floor: u64, ceiling: u64) -> Option<u64> {
        let mut top = ceiling;
        for (_, area) in self.areas.range(..ceiling).rev() {
            if area.end <= top && top - area.end >= length {
                break;
            }
            top = top.min(area.start);
        }
        let start = top.checked_sub(length)?;
        (start >= floor).then_some(start)
    }

    /// Number of areas.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// True when there is no area.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// All areas, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Area> {
        self.areas.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Access = Access::from_prot(3);
    const RO: Access = Access::from_prot(1);
    const NONE: Access = Access::from_prot(0);

    fn spans(set: &AreaSet) -> Vec<(u64, u64, Access)> {
        set.iter()
            .map(|area| (area.start, area.end, area.access))
            .collect()
    }

    #[test]
    fn access_from_prot() {
        assert!(RW.allows(true, false) && !RW.allows(false, true));
        assert!(RO.allows(false, false) && !RO.allows(true, false));
        assert!(!NONE.allows(false, false));
        assert!(
            Access::from_prot(4).allows(false, true),
            "PROT_EXEC implies read on x86"
        );
    }

    #[test]
    fn insert_find_and_replace() {
        let mut set = AreaSet::new();
        set.insert(0x1000..0x5000, RW);
        assert_eq!(set.find(0x1000).unwrap().end, 0x5000);
        assert_eq!(set.find(0x4fff).unwrap().start, 0x1000);
        assert!(set.find(0x5000).is_none() && set.find(0xfff).is_none());
        set.insert(0x2000..0x3000, RO); // MAP_FIXED over the middle
        assert_eq!(
            spans(&set),
            [
                (0x1000, 0x2000, RW),
                (0x2000, 0x3000, RO),
                (0x3000, 0x5000, RW)
            ]
        );
    }

    #[test]
    fn remove_splits_and_ignores_holes() {
        let mut set = AreaSet::new();
        set.insert(0x1000..0x3000, RW);
        set.insert(0x5000..0x8000, RO);
        set.remove(0x2000..0x6000);
        assert_eq!(spans(&set), [(0x1000, 0x2000, RW), (0x6000, 0x8000, RO)]);
        set.remove(0x9000..0xa000);
        assert_eq!(set.iter().count(), 2);
        set.remove(0..u64::MAX);
        assert!(set.iter().next().is_none());
    }

    #[test]
    fn protect_needs_full_cover() {
        let mut set = AreaSet::new();
        set.insert(0x1000..0x3000, RW);
        set.insert(0x3000..0x4000, RO);
        assert!(set.covers(0x1000..0x4000));
        assert_eq!(set.protect(0x2000..0x3800, NONE), Ok(()));
        assert_eq!(
            spans(&set),
            [
                (0x1000, 0x2000, RW),
                (0x2000, 0x3000, NONE),
                (0x3000, 0x3800, NONE),
                (0x3800, 0x4000, RO)
            ]
        );
        assert_eq!(set.protect(0x3000..0x5000, RW), Err(NotMapped));
        assert_eq!(
            set.find(0x3900).unwrap().access,
            RO,
            "a failed protect changes nothing"
        );
    }

    #[test]
    fn find_free_goes_top_down() {
        let mut set = AreaSet::new();
        assert_eq!(set.find_free(0x1000, 0x1000, 0x10000), Some(0xf000));
        set.insert(0xe000..0x10000, RW);
        assert_eq!(set.find_free(0x1000, 0x1000, 0x10000), Some(0xd000));
        set.insert(0x8000..0xd000, RW);
        assert_eq!(set.find_free(0x2000, 0x1000, 0x10000), Some(0x6000));
        assert_eq!(set.find_free(0x8000, 0x1000, 0x10000), None);
        assert_eq!(set.find_free(0x7000, 0x1000, 0x10000), Some(0x1000));
        assert_eq!(set.find_free(u64::MAX, 0, 0x10000), None);
    }
}
