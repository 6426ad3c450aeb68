//! `Tx`, the handle mail logic uses inside a transaction: it checks FoundationDB's limits once
//! for every backend, decodes counters, and forwards to the backend's [`Transaction`].

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use crate::{
    api::{KeyValue, RangeOptions, ReadMode, Transaction, Watch},
    error::{Result, StoreError},
    limits,
};

/// A transaction in progress, obtained from [`crate::Db::transact`] or [`crate::Db::begin`].
/// Clones are handles to the same transaction.
#[derive(Clone)]
pub struct Tx {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Box<dyn Transaction>,
    written: AtomicUsize,
}

impl Tx {
    pub(crate) fn new(tx: Box<dyn Transaction>) -> Self {
        Self {
            inner: Arc::new(Inner {
                tx,
                written: AtomicUsize::new(0),
            }),
        }
    }

    /// Reads one key (serializable).
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        limits::check_key(key)?;
        self.inner.tx.get(key, ReadMode::Serializable).await
    }

    /// Reads one key without adding a read conflict.
    pub async fn get_snapshot(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        limits::check_key(key)?;
        self.inner.tx.get(key, ReadMode::Snapshot).await
    }

    /// Reads `[begin, end)` with the given options.
    pub async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        opts: RangeOptions,
    ) -> Result<Vec<KeyValue>> {
        limits::check_range(begin, end)?;
        if opts.limit == Some(0) {
            return Ok(Vec::new());
        }
        self.inner.tx.get_range(begin, end, opts).await
    }

    /// Reads every key under a prefix range as returned by `keys::*_range` helpers.
    pub async fn get_prefix(
        &self,
        range: &(Vec<u8>, Vec<u8>),
        opts: RangeOptions,
    ) -> Result<Vec<KeyValue>> {
        self.get_range(&range.0, &range.1, opts).await
    }

    /// Reads a little-endian i64 counter (missing = 0), serializable.
    pub async fn get_counter(&self, key: &[u8]) -> Result<i64> {
        decode_counter(key, self.get(key).await?)
    }

    /// Reads a counter without a read conflict.
    pub async fn get_counter_snapshot(&self, key: &[u8]) -> Result<i64> {
        decode_counter(key, self.get_snapshot(key).await?)
    }

    /// Sets a key, refusing oversize keys, values and transactions.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        limits::check_key(key)?;
        limits::check_value(value)?;
        self.account(key.len() + value.len())?;
        self.inner.tx.set(key, value);
        Ok(())
    }

    /// Clears a key.
    pub fn clear(&self, key: &[u8]) -> Result<()> {
        limits::check_key(key)?;
        self.account(key.len())?;
        self.inner.tx.clear(key);
        Ok(())
    }

    /// Clears `[begin, end)`.
    pub fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        limits::check_range(begin, end)?;
        self.account(begin.len() + end.len())?;
        self.inner.tx.clear_range(begin, end);
        Ok(())
    }

    /// Clears everything under a prefix range.
    pub fn clear_prefix(&self, range: &(Vec<u8>, Vec<u8>)) -> Result<()> {
        self.clear_range(&range.0, &range.1)
    }

    /// Adds to a little-endian i64 counter without a read conflict. Only keys of the counter
    /// ranges ([`crate::keys::counters`]) take adds.
    pub fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        limits::check_key(key)?;
        if !crate::keys::is_counter(key) {
            return Err(StoreError::NotACounter(crate::keys::printable(key)));
        }
        self.account(key.len() + 8)?;
        self.inner.tx.atomic_add(key, delta);
        Ok(())
    }

    /// Watches a key; the future is armed when this transaction commits.
    pub fn watch(&self, key: &[u8]) -> Result<Watch> {
        limits::check_key(key)?;
        self.inner.tx.watch(key)
    }

    /// Bytes this transaction has written so far, as counted against the 10 MB limit.
    pub fn bytes_written(&self) -> usize {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// Commits durably.
    pub async fn commit(&self) -> Result<()> {
        self.inner.tx.commit().await
    }

    fn account(&self, bytes: usize) -> Result<()> {
        let written = self.inner.written.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if written > limits::MAX_TRANSACTION_BYTES {
            return Err(StoreError::TransactionTooLarge(written));
        }
        Ok(())
    }
}

/// Decodes a little-endian i64 counter; a missing key is zero, shorter values are
/// zero-extended as FoundationDB's ADD does.
pub fn decode_counter(key: &[u8], value: Option<Vec<u8>>) -> Result<i64> {
    match value {
        None => Ok(0),
        Some(v) if v.len() <= 8 => {
            let mut buf = [0u8; 8];
            buf[..v.len()].copy_from_slice(&v);
            Ok(i64::from_le_bytes(buf))
        }
        Some(v) => Err(StoreError::Corrupt {
            key: crate::keys::printable(key),
            reason: format!("counter of {} bytes", v.len()),
        }),
    }
}

/// FoundationDB's ADD mutation on little-endian bytes: the result has the operand's length.
pub fn apply_add(existing: Option<&[u8]>, delta: i64) -> Vec<u8> {
    let mut buf = [0u8; 8];
    if let Some(v) = existing {
        let n = v.len().min(8);
        buf[..n].copy_from_slice(&v[..n]);
    }
    i64::from_le_bytes(buf)
        .wrapping_add(delta)
        .to_le_bytes()
        .to_vec()
}
