//! Record encoding for everything the store keeps as a structure: MessagePack with field
//! names, so records can gain fields (with serde defaults) without rewriting the store.

use serde::{Serialize, de::DeserializeOwned};

use crate::{RangeOptions, StoreError, Tx, keys::printable};

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt {
        key: String::new(),
        reason: e.to_string(),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: printable(key),
        reason: e.to_string(),
    })
}

/// Reads and decodes a record (serializable read).
pub(crate) async fn read<T: DeserializeOwned>(
    tx: &Tx,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    tx.get(key).await?.map(|v| decode(key, &v)).transpose()
}

/// Reads and decodes every record in a key range.
pub(crate) async fn read_all<T: DeserializeOwned>(
    tx: &Tx,
    range: &(Vec<u8>, Vec<u8>),
) -> Result<Vec<T>, StoreError> {
    let kvs = tx.get_prefix(range, RangeOptions::all()).await?;
    kvs.iter().map(|kv| decode(&kv.key, &kv.value)).collect()
}

/// Encodes and writes a record.
pub(crate) fn write<T: Serialize>(tx: &Tx, key: &[u8], value: &T) -> Result<(), StoreError> {
    tx.set(key, &encode(value)?)
}

/// Allocates the next id of a kind (1, 2, ...). Serializable: concurrent allocations conflict
/// and retry, so no id is handed out twice, on any node.
pub(crate) async fn next_id(tx: &Tx, kind: &str, count: u64) -> Result<u64, StoreError> {
    let key = crate::keys::next_id(kind);
    let last = tx.get_counter(&key).await? as u64;
    tx.set(&key, &((last + count) as i64).to_le_bytes())?;
    Ok(last + 1)
}
