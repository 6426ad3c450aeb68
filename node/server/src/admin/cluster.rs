//! `GET /cluster`: the cluster as this node sees it (members with state, role, shards and lag;
//! leader, term, log and applied index), or that the node is not in a cluster.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::{AppState, error::ApiResult};

/// The cluster's status.
pub async fn status(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(match &s.cluster {
        Some(c) => json!({ "enabled": true, "status": c.status() }),
        None => json!({ "enabled": false }),
    }))
}
