//! The SQLite store's LSH band index, held in memory.
//!
//! On disk the index was a table of one row per band: a story's twelve rows
//! fell on twelve random pages of its B-tree, so every story rewrote about
//! twelve pages through the WAL and again at each checkpoint, most of what a
//! lookup cost (docs/benchmarks.md). The prints themselves stay on disk; this
//! index is rebuilt from them when the store opens, which is sound because a
//! SQLite store belongs to one worker process. It costs about 200 B of
//! memory per print in the window (twelve entries; 198 B measured over
//! 200,000 prints), against the 227 B a print its table took on disk.

use std::collections::BTreeSet;

use crate::dedup::TextPrint;
use crate::store::StoreError;

/// The index: (band key, print id) pairs, so one band's prints are one range.
#[derive(Debug, Default)]
pub(super) struct BandIndex {
    entries: BTreeSet<(u32, u32)>,
}

/// A band key, narrowed to 32 bits: the keys are already hashes, and a
/// chance collision only adds a candidate that the similarity rejects.
fn keys(print: &TextPrint) -> impl Iterator<Item = u32> {
    print.bands().into_iter().map(|band| band as u32)
}

/// Print ids are `near_prints` row ids: one per story printed, so 32 bits
/// outlast any store.
fn narrow(id: i64) -> Result<u32, StoreError> {
    u32::try_from(id).map_err(|_| StoreError::Invalid(format!("print id {id} out of range")))
}

impl BandIndex {
    pub(super) fn insert(&mut self, id: i64, print: &TextPrint) -> Result<(), StoreError> {
        let id = narrow(id)?;
        self.entries.extend(keys(print).map(|key| (key, id)));
        Ok(())
    }

    pub(super) fn remove(&mut self, id: i64, print: &TextPrint) {
        if let Ok(id) = narrow(id) {
            for key in keys(print) {
                self.entries.remove(&(key, id));
            }
        }
    }

    /// Ids below `below` of the prints that share a band with `print`,
    /// earliest (smallest) first.
    pub(super) fn candidates(&self, print: &TextPrint, below: i64) -> Vec<i64> {
        let mut ids: Vec<i64> = keys(print)
            .flat_map(|key| self.entries.range((key, 0)..=(key, u32::MAX)))
            .map(|&(_, id)| i64::from(id))
            .filter(|&id| id < below)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Band entries held (twelve a print).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::near::SLOTS;

    fn print(seed: u16) -> TextPrint {
        TextPrint {
            shingles: 100,
            slots: std::array::from_fn(|i| seed.wrapping_mul(100).wrapping_add(i as u16)),
        }
    }

    #[test]
    fn prints_that_share_a_band_are_candidates_earliest_first() {
        let mut index = BandIndex::default();
        let (a, b) = (print(1), print(2));
        let mut half = a;
        half.slots[SLOTS / 2..].copy_from_slice(&b.slots[SLOTS / 2..]);
        index.insert(7, &a).unwrap();
        index.insert(3, &half).unwrap();
        index.insert(5, &b).unwrap();
        assert_eq!(index.candidates(&a, i64::MAX), vec![3, 7]);
        assert_eq!(index.candidates(&b, i64::MAX), vec![3, 5]);
        // Only prints made before the one looked up.
        assert_eq!(index.candidates(&a, 7), vec![3]);
        assert!(index.candidates(&print(9), i64::MAX).is_empty());
    }

    #[test]
    fn a_removed_print_is_no_candidate() {
        let mut index = BandIndex::default();
        index.insert(1, &print(1)).unwrap();
        index.insert(2, &print(1)).unwrap();
        index.remove(1, &print(1));
        assert_eq!(index.candidates(&print(1), i64::MAX), vec![2]);
        assert_eq!(index.len(), SLOTS / 2);
        assert!(index.insert(i64::from(u32::MAX) + 1, &print(1)).is_err());
    }
}
