//! `/api/v1/log/level` and `/api/v1/log/trace`: the node's log filter and its protocol trace,
//! read and changed while it runs (this node only; each node of a cluster has its own).

use axum::{Json, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use crate::{logging, trace};

#[derive(Deserialize)]
pub struct LevelBody {
    /// A filter: `info`, `smtp=debug`, `info,tern::queue=trace`.
    filter: String,
}

/// The filter in force (dependency defaults not shown).
pub async fn show_level() -> Json<Value> {
    Json(json!({ "filter": logging::level() }))
}

/// Replaces the filter.
pub async fn set_level(Json(b): Json<LevelBody>) -> ApiResult<Json<Value>> {
    let filter = logging::set_level(&b.filter)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    tracing::info!(filter = %filter, "log filter changed");
    Ok(Json(json!({ "filter": filter })))
}

/// Who is traced.
pub async fn show_trace() -> Json<trace::Targets> {
    Json(trace::current())
}

/// Replaces who is traced (empty lists: nobody).
pub async fn set_trace(Json(targets): Json<trace::Targets>) -> Json<trace::Targets> {
    tracing::info!(
        ips = targets.ips.len(),
        accounts = targets.accounts.len(),
        "protocol trace changed"
    );
    trace::set(targets);
    Json(trace::current())
}
