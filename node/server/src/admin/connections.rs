//! `GET /queue/connections`: the outbound SMTP connections the queue holds open on every node
//! of the cluster, by destination (members that did not answer are listed under `unanswered`).

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::{AppState, error::ApiResult};
use crate::live::ask::{Answer, Ask, gather};

/// Lists them, by destination and age.
pub async fn list(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let (answers, unanswered) = gather(&s.live, s.cluster.as_deref(), &Ask::Outbound).await;
    let mut connections: Vec<_> = answers
        .into_iter()
        .flat_map(|a| match a {
            Answer::Outbound(list) => list,
            _ => Vec::new(),
        })
        .collect();
    connections.sort_by(|a, b| (&a.domain, a.since, a.node).cmp(&(&b.domain, b.since, b.node)));
    Ok(Json(
        json!({ "connections": connections, "unanswered": unanswered }),
    ))
}
