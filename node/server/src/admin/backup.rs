//! `/api/v1/backup`: a consistent copy of the whole store streamed to `ternctl backup`. POST
//! opens a snapshot (held on this node, dropped after 10 idle minutes or on DELETE); GET reads
//! it in bounded chunks after a cursor, so a client that lost its connection resumes where it
//! stopped, from the same snapshot. Keys and values travel base64-encoded.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::Snapshot;

use super::{
    AppState,
    error::{ApiError, ApiResult},
};

/// A snapshot nobody read for this long is dropped.
const IDLE: Duration = Duration::from_secs(600);
/// Most pairs per chunk.
const MAX_PAIRS: usize = 1000;
/// Chunks stop growing past this many bytes of keys and values.
const MAX_BYTES: usize = 4 << 20;
/// The end of the keyspace.
const END: &[u8] = b"\xff\xff\xff\xff";

struct Open {
    snapshot: Arc<dyn Snapshot>,
    used: Instant,
}

/// The snapshots open on this node.
#[derive(Clone, Default)]
pub struct Backups(Arc<Mutex<HashMap<String, Open>>>);

impl Backups {
    fn get(&self, id: &str) -> Option<Arc<dyn Snapshot>> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, o| o.used.elapsed() < IDLE);
        let o = open.get_mut(id)?;
        o.used = Instant::now();
        Some(o.snapshot.clone())
    }
}

fn gone(id: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!(
            "no backup {id} on this node (finished, idle for 10 minutes, or the node restarted); start a new one"
        ),
    )
}

/// Opens a snapshot.
pub async fn start(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let snapshot = s
        .dir
        .db()
        .backend()
        .snapshot()
        .await
        .map_err(|e| ApiError(StatusCode::NOT_IMPLEMENTED, e.to_string()))?;
    let id = format!("{:016x}", rand::random::<u64>());
    s.backups
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id.clone(),
            Open {
                snapshot: Arc::from(snapshot),
                used: Instant::now(),
            },
        );
    tracing::info!(backup = %id, "backup snapshot opened");
    Ok(Json(json!({
        "id": id,
        "backend": s.dir.db().backend().backend(),
        "created": tern_store::model::now(),
    })))
}

#[derive(Deserialize)]
pub struct Cursor {
    /// Base64 of the last key already received; absent: from the start.
    after: Option<String>,
}

/// The next chunk after the cursor; `next` is absent once everything was sent.
pub async fn chunk(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(c): Query<Cursor>,
) -> ApiResult<Json<Value>> {
    let snapshot = s.backups.get(&id).ok_or_else(|| gone(&id))?;
    let begin = match c.after {
        None => Vec::new(),
        Some(a) => {
            let mut k = STANDARD
                .decode(a)
                .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "after: not base64".into()))?;
            k.push(0);
            k
        }
    };
    let mut pairs = Vec::new();
    let mut bytes = 0;
    let mut from = begin;
    let mut more = true;
    while pairs.len() < MAX_PAIRS && bytes < MAX_BYTES {
        let batch = snapshot
            .get_range(&from, END, 100.min(MAX_PAIRS - pairs.len()))
            .await
            .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        if batch.is_empty() {
            more = false;
            break;
        }
        for kv in batch {
            bytes += kv.key.len() + kv.value.len();
            from = kv.key.clone();
            from.push(0);
            pairs.push(json!([
                STANDARD.encode(&kv.key),
                STANDARD.encode(&kv.value)
            ]));
        }
    }
    let next = more.then(|| pairs.last().map(|p| p[0].clone())).flatten();
    Ok(Json(json!({ "pairs": pairs, "next": next })))
}

/// Drops a snapshot.
pub async fn finish(State(s): State<AppState>, Path(id): Path<String>) -> StatusCode {
    let removed = s
        .backups
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id)
        .is_some();
    tracing::info!(backup = %id, removed, "backup snapshot closed");
    StatusCode::NO_CONTENT
}
