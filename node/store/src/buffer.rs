//! A transaction's buffered mutations, answering read-your-writes questions before anything
//! reaches the backend, and the merge of committed pairs with them for range reads. Shared by
//! the backends that buffer writes until commit (embedded, postgres).

use std::{cmp::Ordering, collections::BTreeMap, iter::Peekable, ops::Bound};

use crate::{
    api::KeyValue,
    error::{Result, StoreError},
    tx::apply_add,
};

/// One buffered mutation of a single key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// The key will hold this value.
    Set(Vec<u8>),
    /// The key will be absent.
    Clear,
    /// Add this delta to whatever the key holds at commit.
    Add(i64),
}

/// What the buffer alone knows about a key.
pub(crate) enum Local {
    /// The transaction decided the key's value.
    Known(Option<Vec<u8>>),
    /// The committed value plus this delta.
    AddTo(i64),
    /// Nothing: read the committed value.
    Unknown,
}

/// Buffered mutations: per-key operations plus the ranges cleared before them.
///
/// A `clear_range` drops the buffered operations inside it, so applying the cleared ranges
/// first and then the per-key operations gives the transaction's final state.
#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    pub(crate) ops: BTreeMap<Vec<u8>, Op>,
    pub(crate) cleared: Vec<(Vec<u8>, Vec<u8>)>,
}

impl WriteBuffer {
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.cleared.is_empty()
    }

    pub(crate) fn set(&mut self, key: &[u8], value: &[u8]) {
        self.ops.insert(key.to_vec(), Op::Set(value.to_vec()));
    }

    pub(crate) fn clear(&mut self, key: &[u8]) {
        self.ops.insert(key.to_vec(), Op::Clear);
    }

    pub(crate) fn clear_range(&mut self, begin: &[u8], end: &[u8]) {
        let doomed: Vec<Vec<u8>> = self
            .ops
            .range::<[u8], _>(bounds(begin, end))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.ops.remove(&key);
        }
        self.cleared.push((begin.to_vec(), end.to_vec()));
    }

    pub(crate) fn atomic_add(&mut self, key: &[u8], delta: i64) {
        let next = match self.ops.get(key) {
            Some(Op::Set(v)) => Op::Set(apply_add(Some(v), delta)),
            Some(Op::Clear) => Op::Set(apply_add(None, delta)),
            Some(Op::Add(d)) => Op::Add(d.wrapping_add(delta)),
            None if self.in_cleared(key) => Op::Set(apply_add(None, delta)),
            None => Op::Add(delta),
        };
        self.ops.insert(key.to_vec(), next);
    }

    pub(crate) fn lookup(&self, key: &[u8]) -> Local {
        match self.ops.get(key) {
            Some(Op::Set(v)) => Local::Known(Some(v.clone())),
            Some(Op::Clear) => Local::Known(None),
            Some(Op::Add(d)) => Local::AddTo(*d),
            None if self.in_cleared(key) => Local::Known(None),
            None => Local::Unknown,
        }
    }

    pub(crate) fn in_cleared(&self, key: &[u8]) -> bool {
        self.cleared
            .iter()
            .any(|(b, e)| key >= b.as_slice() && key < e.as_slice())
    }

    /// Buffered operations in `[begin, end)`, in key order.
    pub(crate) fn range(
        &self,
        begin: &[u8],
        end: &[u8],
    ) -> impl DoubleEndedIterator<Item = (&Vec<u8>, &Op)> {
        self.ops.range::<[u8], _>(bounds(begin, end))
    }

    /// Bytes the buffered mutations will write (keys, values, range ends).
    pub(crate) fn written_bytes(&self) -> usize {
        let ops: usize = self
            .ops
            .iter()
            .map(|(k, op)| k.len() + if let Op::Set(v) = op { v.len() } else { 8 })
            .sum();
        ops + self
            .cleared
            .iter()
            .map(|(b, e)| b.len() + e.len())
            .sum::<usize>()
    }
}

/// The first key after `key` (`key` followed by a zero byte).
pub(crate) fn key_after(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.extend_from_slice(key);
    k.push(0);
    k
}

/// `[begin, end)` as slice bounds for `BTreeMap::range`.
pub(crate) fn bounds<'a>(begin: &'a [u8], end: &'a [u8]) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (Bound::Included(begin), Bound::Excluded(end))
}

/// Merges committed pairs with buffered operations in walk order (`Less` forwards, `Greater`
/// backwards), stopping after `limit` results.
pub(crate) fn merge<'a, K: AsRef<[u8]>, V: AsRef<[u8]>>(
    committed: impl Iterator<Item = Result<(K, V)>>,
    local: impl Iterator<Item = (&'a Vec<u8>, &'a Op)>,
    buffer: &WriteBuffer,
    limit: usize,
    order: Ordering,
) -> Result<Vec<KeyValue>> {
    let mut committed: Peekable<_> = committed
        .filter(|r| !matches!(r, Ok((k, _)) if buffer.in_cleared(k.as_ref())))
        .peekable();
    let mut local = local.peekable();
    let mut out = Vec::new();
    while out.len() < limit {
        let take_local = match (committed.peek(), local.peek()) {
            (None, None) => break,
            (Some(Err(_)), _) => {
                return Err(committed
                    .next()
                    .and_then(|r| r.err())
                    .unwrap_or(StoreError::Io("range read".into())));
            }
            (Some(Ok((ck, _))), Some((lk, _))) => {
                let ord = ck.as_ref().cmp(lk.as_slice());
                if ord == Ordering::Equal {
                    None
                } else {
                    Some(ord != order)
                }
            }
            (Some(_), None) => Some(false),
            (None, Some(_)) => Some(true),
        };
        match take_local {
            Some(false) => {
                if let Some(Ok((k, v))) = committed.next() {
                    out.push(KeyValue {
                        key: k.as_ref().to_vec(),
                        value: v.as_ref().to_vec(),
                    });
                }
            }
            Some(true) | None => {
                // On equal keys the buffered operation applies to the committed value.
                let base = match take_local {
                    None => committed.next().and_then(|r| r.ok()),
                    Some(_) => None,
                };
                if let Some((k, op)) = local.next() {
                    let value = match op {
                        Op::Set(v) => Some(v.clone()),
                        Op::Add(d) => Some(apply_add(base.as_ref().map(|(_, v)| v.as_ref()), *d)),
                        Op::Clear => None,
                    };
                    if let Some(value) = value {
                        out.push(KeyValue {
                            key: k.clone(),
                            value,
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_after_clear_range_starts_from_zero() {
        let mut b = WriteBuffer::default();
        b.set(b"a2", b"x");
        b.clear_range(b"a", b"b");
        assert!(matches!(b.lookup(b"a2"), Local::Known(None)));
        b.atomic_add(b"a5", 3);
        assert!(matches!(b.lookup(b"a5"), Local::Known(Some(ref v)) if v == &3i64.to_le_bytes()));
        b.atomic_add(b"c", 2);
        b.atomic_add(b"c", 5);
        assert!(matches!(b.lookup(b"c"), Local::AddTo(7)));
    }
}
