//! A session's sequence-number ↔ UID map kept as runs of consecutive UIDs, so a selected
//! mailbox of 10 000 messages with few gaps costs a few bytes instead of an entry per message
//! (thousands of IDLE sessions each hold one).

/// Consecutive UIDs `start .. start + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: u32,
    len: u32,
}

/// UIDs in ascending order; position `i` is sequence number `i + 1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidMap {
    runs: Vec<Run>,
    /// Messages before each run.
    before: Vec<u32>,
}

impl UidMap {
    /// From UIDs in ascending order.
    pub fn from_sorted(uids: &[u32]) -> Self {
        let mut m = UidMap::default();
        for &u in uids {
            m.push(u);
        }
        m
    }

    fn reindex(&mut self) {
        self.before.clear();
        let mut n = 0;
        for r in &self.runs {
            self.before.push(n);
            n += r.len;
        }
        self.runs.shrink_to_fit();
        self.before.shrink_to_fit();
    }

    /// Messages.
    pub fn len(&self) -> usize {
        match (self.runs.last(), self.before.last()) {
            (Some(r), Some(b)) => (b + r.len) as usize,
            _ => 0,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The highest UID.
    pub fn last(&self) -> Option<u32> {
        self.runs.last().map(|r| r.start + r.len - 1)
    }

    /// Appends a UID above every other.
    pub fn push(&mut self, uid: u32) {
        let n = self.len() as u32;
        match self.runs.last_mut() {
            Some(r) if r.start + r.len == uid => r.len += 1,
            Some(r) if r.start + r.len > uid => {}
            _ => {
                self.runs.push(Run { start: uid, len: 1 });
                self.before.push(n);
            }
        }
    }

    fn run_of_uid(&self, uid: u32) -> Option<usize> {
        let i = self.runs.partition_point(|r| r.start + r.len <= uid);
        (i < self.runs.len() && self.runs[i].start <= uid).then_some(i)
    }

    /// The position of `uid`.
    pub fn index_of(&self, uid: u32) -> Option<usize> {
        let i = self.run_of_uid(uid)?;
        Some((self.before[i] + uid - self.runs[i].start) as usize)
    }

    /// The UID at `index`.
    pub fn uid_at(&self, index: usize) -> Option<u32> {
        let index = u32::try_from(index).ok()?;
        let i = self
            .before
            .partition_point(|b| *b <= index)
            .checked_sub(1)?;
        let r = self.runs[i];
        let off = index - self.before[i];
        (off < r.len).then_some(r.start + off)
    }

    /// Removes `uid`; returns the position it had.
    pub fn remove(&mut self, uid: u32) -> Option<usize> {
        let i = self.run_of_uid(uid)?;
        let at = (self.before[i] + uid - self.runs[i].start) as usize;
        let r = self.runs[i];
        let head = Run {
            start: r.start,
            len: uid - r.start,
        };
        let tail = Run {
            start: uid + 1,
            len: r.start + r.len - uid - 1,
        };
        let parts: Vec<Run> = [head, tail].into_iter().filter(|p| p.len > 0).collect();
        self.runs.splice(i..=i, parts);
        self.reindex();
        Some(at)
    }

    /// Every UID, ascending.
    pub fn to_vec(&self) -> Vec<u32> {
        self.runs
            .iter()
            .flat_map(|r| r.start..r.start + r.len)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_positions_and_removal() {
        let mut m = UidMap::from_sorted(&[1, 2, 3, 7, 8, 20]);
        assert_eq!(m.len(), 6);
        assert_eq!(m.runs.len(), 3);
        assert_eq!(m.index_of(7), Some(3));
        assert_eq!(m.index_of(5), None);
        assert_eq!(m.uid_at(5), Some(20));
        assert_eq!(m.uid_at(6), None);
        assert_eq!(m.remove(2), Some(1));
        assert_eq!(m.to_vec(), vec![1, 3, 7, 8, 20]);
        assert_eq!(m.index_of(20), Some(4));
        assert_eq!(m.remove(20), Some(4));
        assert_eq!(m.remove(20), None);
        m.push(21);
        m.push(22);
        m.push(5);
        assert_eq!(m.to_vec(), vec![1, 3, 7, 8, 21, 22]);
        assert_eq!(m.last(), Some(22));
        let big = UidMap::from_sorted(&(1..=10_000).collect::<Vec<_>>());
        assert_eq!(
            (big.runs.len(), big.len(), big.uid_at(9_999)),
            (1, 10_000, Some(10_000))
        );
    }
}
