//! `GET /notices`: the postmaster notices recorded in the store (every node's), active ones
//! first, most recently seen first.

use axum::{Json, extract::State};
use serde_json::{Value, json};
use tern_store::model::{ModelError, notice};

use super::{AppState, error::ApiResult};

/// Every notice, with its state (`active` or `cleared`).
pub async fn list(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let mut all = s
        .dir
        .db()
        .run(|tx| async move { notice::all(&tx).await })
        .await
        .map_err(ModelError::from)?;
    all.sort_by_key(|n| (n.cleared > 0, -n.last_seen));
    let rows: Vec<Value> = all
        .into_iter()
        .map(|n| {
            let mut v = serde_json::to_value(&n).unwrap_or_default();
            v["state"] = json!(if n.cleared > 0 { "cleared" } else { "active" });
            v
        })
        .collect();
    Ok(Json(json!({ "notices": rows })))
}
