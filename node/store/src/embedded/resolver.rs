//! Optimistic conflict detection, FoundationDB's resolver in miniature: remembers which keys
//! and ranges were written at which version during the last few seconds and refuses a commit
//! whose serializable reads overlap a write newer than its read version.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use crate::buffer::bounds;
use crate::limits::MAX_TRANSACTION_AGE;

/// How long written keys are remembered: longer than any transaction may live.
const HORIZON: Duration = Duration::from_secs(MAX_TRANSACTION_AGE.as_secs() + 1);

/// Keys and ranges written by one group commit.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub(crate) keys: Vec<Vec<u8>>,
    pub(crate) ranges: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Written {
    /// Whether any read range overlaps these writes.
    pub(crate) fn overlaps(&self, reads: &[(Vec<u8>, Vec<u8>)]) -> bool {
        reads.iter().any(|(b, e)| {
            self.keys.iter().any(|k| k >= b && k < e)
                || self.ranges.iter().any(|(wb, we)| wb < e && b < we)
        })
    }
}

#[derive(Default)]
pub(crate) struct Resolver {
    keys: BTreeMap<Vec<u8>, u64>,
    ranges: Vec<(Vec<u8>, Vec<u8>, u64)>,
    log: VecDeque<(Instant, u64, Vec<Vec<u8>>)>,
}

impl Resolver {
    /// Whether a transaction that read `reads` at `read_version` conflicts with a write
    /// committed after it.
    pub(crate) fn conflicts(&self, reads: &[(Vec<u8>, Vec<u8>)], read_version: u64) -> bool {
        reads.iter().any(|(b, e)| {
            self.keys
                .range::<[u8], _>(bounds(b, e))
                .any(|(_, v)| *v > read_version)
                || self
                    .ranges
                    .iter()
                    .any(|(wb, we, v)| *v > read_version && wb < e && b < we)
        })
    }

    /// Remembers a group's writes at the version they became visible, and forgets writes older
    /// than any live transaction.
    pub(crate) fn record(&mut self, written: Written, version: u64, now: Instant) {
        for key in &written.keys {
            self.keys.insert(key.clone(), version);
        }
        for (b, e) in written.ranges {
            self.ranges.push((b, e, version));
        }
        self.log.push_back((now, version, written.keys));
        while let Some((at, _, _)) = self.log.front() {
            if now.duration_since(*at) < HORIZON {
                break;
            }
            let Some((_, old_version, keys)) = self.log.pop_front() else {
                break;
            };
            for key in keys {
                if self.keys.get(&key) == Some(&old_version) {
                    self.keys.remove(&key);
                }
            }
            self.ranges.retain(|(_, _, v)| *v > old_version);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(k: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut e = k.to_vec();
        e.push(0);
        (k.to_vec(), e)
    }

    #[test]
    fn newer_write_conflicts_older_does_not() {
        let mut r = Resolver::default();
        let now = Instant::now();
        r.record(
            Written {
                keys: vec![b"k".to_vec()],
                ranges: vec![],
            },
            10,
            now,
        );
        assert!(r.conflicts(&[point(b"k")], 9));
        assert!(!r.conflicts(&[point(b"k")], 10));
        assert!(!r.conflicts(&[point(b"j")], 0));
        assert!(r.conflicts(&[(b"a".to_vec(), b"z".to_vec())], 5));
    }

    #[test]
    fn cleared_ranges_conflict_with_reads_inside() {
        let mut r = Resolver::default();
        r.record(
            Written {
                keys: vec![],
                ranges: vec![(b"b".to_vec(), b"d".to_vec())],
            },
            4,
            Instant::now(),
        );
        assert!(r.conflicts(&[point(b"c")], 3));
        assert!(!r.conflicts(&[point(b"d")], 3));
    }

    #[test]
    fn old_writes_are_forgotten() {
        let mut r = Resolver::default();
        let t0 = Instant::now();
        r.record(
            Written {
                keys: vec![b"k".to_vec()],
                ranges: vec![],
            },
            1,
            t0,
        );
        r.record(
            Written {
                keys: vec![b"m".to_vec()],
                ranges: vec![],
            },
            2,
            t0 + HORIZON,
        );
        assert_eq!(r.len(), 1);
    }
}
