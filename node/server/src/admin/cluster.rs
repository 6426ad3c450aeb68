//! `GET /cluster`: the cluster as this node sees it (members with state, role, shards and lag;
//! leader, term, log and applied index), or that the node is not in a cluster; and an
//! operator's drain or removal of a member.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::{Value, json};
use tern_cluster::rpc::Admin;

use super::{
    AppState,
    error::{ApiError, ApiResult},
};

/// The cluster's status.
pub async fn status(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(match &s.cluster {
        Some(c) => json!({ "enabled": true, "status": c.status() }),
        None => json!({ "enabled": false }),
    }))
}

/// Which change `POST /cluster/nodes/{id}/{change}` asks for.
fn change(id: u64, change: &str) -> Result<Admin, ApiError> {
    match change {
        "drain" => Ok(Admin::Drain(id)),
        "leave" => Ok(Admin::Leave(id)),
        other => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no cluster change {other:?} (drain or leave)"),
        )),
    }
}

/// `POST /cluster/nodes/{id}/drain|leave`: the leader (wherever it is) drains or removes the
/// node; refusals (the last active member, an unknown node, no leader) are 409 with the reason.
pub async fn node_change(
    State(s): State<AppState>,
    Path((id, what)): Path<(u64, String)>,
) -> ApiResult<Json<Value>> {
    let Some(c) = &s.cluster else {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "this node is not in a cluster (listeners.cluster is not set)".into(),
        ));
    };
    let admin = change(id, &what)?;
    c.admin(admin)
        .await
        .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
    tracing::info!(node = id, change = %what, "operator: cluster change");
    Ok(Json(json!({ "node": id, "change": what })))
}
