//! The statements of the postgres backend and the folding of a key's rows (its value plus its
//! pending atomic adds) into the value FoundationDB's ADD would have produced.

use tokio_postgres::Row;

use crate::{api::KeyValue, error::StoreError, tx::apply_add};

/// One key's value and pending adds, folded: one row per key (the value is row `seq = 0`).
pub(crate) const GET: &str = "SELECT (array_agg(value) FILTER (WHERE seq = 0))[1], \
     sum(delta)::text, count(*) FILTER (WHERE seq > 0) FROM tern_kv WHERE key = $1";

/// Keys of `[$1, $2)` folded, in key order, at most `$3` (NULL: all).
pub(crate) const RANGE: &str = "SELECT key, (array_agg(value) FILTER (WHERE seq = 0))[1], \
     sum(delta)::text, count(*) FILTER (WHERE seq > 0) FROM tern_kv \
     WHERE key >= $1 AND key < $2 GROUP BY key ORDER BY key LIMIT $3";

/// [`RANGE`] walked from the end.
pub(crate) const RANGE_REVERSE: &str = "SELECT key, (array_agg(value) FILTER (WHERE seq = 0))[1], \
     sum(delta)::text, count(*) FILTER (WHERE seq > 0) FROM tern_kv \
     WHERE key >= $1 AND key < $2 GROUP BY key ORDER BY key DESC LIMIT $3";

/// Clears `[$1, $2)`.
pub(crate) const CLEAR_RANGE: &str = "DELETE FROM tern_kv WHERE key >= $1 AND key < $2";

/// Clears the keys of `$1` (values and pending adds).
pub(crate) const CLEAR: &str = "DELETE FROM tern_kv WHERE key = ANY($1)";

/// Drops the pending adds of the keys of `$1` (about to be set).
pub(crate) const DROP_ADDS: &str = "DELETE FROM tern_kv WHERE key = ANY($1) AND seq > 0";

/// Sets the keys of `$1` to the values of `$2`.
pub(crate) const SET: &str = "INSERT INTO tern_kv (key, seq, value) \
     SELECT k, 0, v FROM unnest($1::bytea[], $2::bytea[]) AS t(k, v) \
     ON CONFLICT (key, seq) DO UPDATE SET value = EXCLUDED.value";

/// Appends the deltas of `$2` to the keys of `$1`; no read, so concurrent adders never conflict.
pub(crate) const ADD: &str = "INSERT INTO tern_kv (key, seq, delta) \
     SELECT k, nextval('tern_delta_seq'), d FROM unnest($1::bytea[], $2::int8[]) AS t(k, d)";

/// A key's rows folded, and how many pending adds it has (for compaction).
pub(crate) struct Folded {
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) pending_adds: i64,
}

/// Folds the value, the text of the sum of the deltas and their number.
fn fold(
    key: &[u8],
    base: Option<Vec<u8>>,
    sum: Option<String>,
    adds: i64,
) -> Result<Folded, StoreError> {
    let value = match sum {
        None => base,
        Some(sum) => {
            // The sum is NUMERIC (it may exceed 64 bits); FoundationDB's ADD wraps.
            let sum: i128 = sum.parse().map_err(|_| StoreError::Corrupt {
                key: crate::keys::printable(key),
                reason: format!("sum of adds {sum:?}"),
            })?;
            Some(apply_add(base.as_deref(), sum as i64))
        }
    };
    Ok(Folded {
        value,
        pending_adds: adds,
    })
}

/// Folds a [`GET`] row.
pub(crate) fn fold_get(key: &[u8], row: &Row) -> Result<Folded, StoreError> {
    fold(key, row.get(0), row.get(1), row.get(2))
}

/// Folds a [`RANGE`] row into its pair (every row of a range holds a value or an add).
pub(crate) fn fold_range(row: &Row) -> Result<(KeyValue, i64), StoreError> {
    let key: Vec<u8> = row.get(0);
    let folded = fold(&key, row.get(1), row.get(2), row.get(3))?;
    let value = folded.value.ok_or_else(|| StoreError::Corrupt {
        key: crate::keys::printable(&key),
        reason: "a row with neither value nor add".into(),
    })?;
    Ok((KeyValue { key, value }, folded.pending_adds))
}

/// The keys of `$1` folded (absent keys have no row).
pub(crate) const GET_MANY: &str = "SELECT key, (array_agg(value) FILTER (WHERE seq = 0))[1], \
     sum(delta)::text, count(*) FILTER (WHERE seq > 0) FROM tern_kv \
     WHERE key = ANY($1) GROUP BY key";
