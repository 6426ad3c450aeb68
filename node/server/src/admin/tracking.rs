//! `GET /trace?q=…&since=…`: the tracking events of a message, found by its Message-ID, a
//! queue id or an address, with those of the queue ids found, from every node, oldest first.

use std::collections::BTreeSet;

use axum::{
    Json,
    extract::{Query, State},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::model::{ModelError, tracking};

use super::{
    AppState,
    error::{ApiError, ApiResult},
};

/// Events returned at most.
const LIMIT: usize = 1000;

/// The lookup.
#[derive(Deserialize)]
pub struct TraceQuery {
    /// A Message-ID (with or without brackets), a queue id or an address.
    q: String,
    /// Only events of the last this many seconds (default: all that are kept).
    since: Option<i64>,
}

/// The events found.
pub async fn find(
    State(s): State<AppState>,
    Query(t): Query<TraceQuery>,
) -> ApiResult<Json<Value>> {
    if t.q.trim().is_empty() {
        return Err(ApiError(
            axum::http::StatusCode::BAD_REQUEST,
            "give a Message-ID, a queue id or an address to trace".into(),
        ));
    }
    let since = t
        .since
        .map(|secs| chrono::Utc::now().timestamp_micros() - secs.max(0).saturating_mul(1_000_000))
        .unwrap_or(0);
    let q = t.q.as_str();
    let events = s
        .dir
        .db()
        .run(|tx| async move {
            // What the query finds, then everything about the queue ids it found: a lookup
            // by Message-ID also shows the attempts and bounces of the message's queue entries.
            let mut events = tracking::find(&tx, q, since, LIMIT).await?;
            let ids: BTreeSet<String> = events
                .iter()
                .flat_map(|e| {
                    [
                        e.queue_id.clone(),
                        e.queue_id.split('.').next().unwrap_or("").to_string(),
                    ]
                })
                .filter(|id| !id.is_empty() && !id.eq_ignore_ascii_case(q))
                .collect();
            for id in &ids {
                events.extend(tracking::find(&tx, id, since, LIMIT).await?);
            }
            events.sort_by(|a, b| (a.at, &a.kind, &a.queue_id).cmp(&(b.at, &b.kind, &b.queue_id)));
            events.dedup();
            events.truncate(LIMIT);
            Ok(events)
        })
        .await
        .map_err(ModelError::from)?;
    Ok(Json(json!({ "query": t.q, "events": events })))
}
