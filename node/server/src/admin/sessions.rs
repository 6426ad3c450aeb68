//! `GET /sessions?account=&ip=&protocol=`: the client sessions running on every node of the
//! cluster (this node alone without one), and `POST /sessions/kick` with `{"id": …}` or
//! `{"account": …}`, which ends them wherever they run with their protocol's goodbye. Members
//! that did not answer are listed under `unanswered`, so a partial answer says so.

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    AppState,
    error::{ApiError, ApiResult},
};
use crate::live::{
    ask::{Answer, Ask, gather},
    sessions::{Filter, Target},
};

/// The sessions wanted.
#[derive(Deserialize)]
pub struct ListQuery {
    account: Option<String>,
    ip: Option<String>,
    protocol: Option<String>,
}

/// Lists sessions, oldest first.
pub async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let ip = match q.ip.as_deref().filter(|i| !i.is_empty()) {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("ip: {text:?} is not an IP address"),
            )
        })?),
    };
    let protocol = q.protocol.filter(|p| !p.is_empty());
    if let Some(p) = &protocol
        && !["smtp", "imap", "pop3"].contains(&p.to_ascii_lowercase().as_str())
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("protocol: {p:?} is not smtp, imap or pop3"),
        ));
    }
    let filter = Filter {
        account: q.account.filter(|a| !a.is_empty()),
        ip,
        protocol,
    };
    let (answers, unanswered) = gather(&s.live, s.cluster.as_deref(), &Ask::Sessions(filter)).await;
    let mut sessions: Vec<_> = answers
        .into_iter()
        .flat_map(|a| match a {
            Answer::Sessions(list) => list,
            _ => Vec::new(),
        })
        .collect();
    sessions.sort_by(|a, b| (a.since, a.node, &a.id).cmp(&(b.since, b.node, &b.id)));
    Ok(Json(
        json!({ "sessions": sessions, "unanswered": unanswered }),
    ))
}

/// Which sessions to end: exactly one of the two.
#[derive(Deserialize)]
pub struct KickRequest {
    id: Option<String>,
    account: Option<String>,
}

/// Ends sessions; an id that no node knows is 404.
pub async fn kick(State(s): State<AppState>, Json(k): Json<KickRequest>) -> ApiResult<Json<Value>> {
    let target = match (
        k.id.filter(|i| !i.is_empty()),
        k.account.filter(|a| !a.is_empty()),
    ) {
        (Some(id), None) => Target::Id(id),
        (None, Some(account)) => Target::Account(account),
        _ => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "give either a session id or an account".into(),
            ));
        }
    };
    let (answers, unanswered) =
        gather(&s.live, s.cluster.as_deref(), &Ask::Kick(target.clone())).await;
    let kicked: Vec<_> = answers
        .into_iter()
        .flat_map(|a| match a {
            Answer::Kicked(list) => list,
            _ => Vec::new(),
        })
        .collect();
    if let (Target::Id(id), true, true) = (&target, kicked.is_empty(), unanswered.is_empty()) {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no session {id} on any node (it may have ended)"),
        ));
    }
    Ok(Json(json!({ "kicked": kicked, "unanswered": unanswered })))
}
