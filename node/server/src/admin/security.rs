//! `GET /security/bans`: the login bans in force (every node's: they are in the store), and
//! `POST /security/bans/lift` with `{"kind": "ip"|"account", "subject": …}`, which ends one at
//! once (the failures before it then no longer count).

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::model::{ModelError, limits, now};

use super::{AppState, error::ApiResult};

/// The bans in force, the newest first.
pub async fn list(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let mut all = s
        .dir
        .db()
        .run(|tx| async move { limits::all(&tx).await })
        .await
        .map_err(ModelError::from)?;
    let at = now();
    all.retain(|b| b.until > at);
    all.sort_by_key(|b| -b.since);
    Ok(Json(json!({ "bans": all })))
}

/// Which ban to lift.
#[derive(Deserialize)]
pub struct Lift {
    kind: String,
    subject: String,
}

/// Lifts a ban in force; 404 when there is none.
pub async fn lift(State(s): State<AppState>, Json(l): Json<Lift>) -> ApiResult<Json<Value>> {
    if !matches!(l.kind.as_str(), "ip" | "account") {
        return Err(ModelError::Invalid(format!(
            "kind {:?}: expected \"ip\" or \"account\"",
            l.kind
        ))
        .into());
    }
    let subject = l.subject.trim().to_ascii_lowercase();
    let (kind, subj) = (l.kind.as_str(), subject.as_str());
    let at = now();
    let lifted = s
        .dir
        .db()
        .run(|tx| async move {
            match limits::get(&tx, kind, subj).await? {
                Some(mut ban) if ban.until > at => {
                    ban.until = at;
                    limits::put(&tx, &ban)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
        .map_err(ModelError::from)?;
    if !lifted {
        return Err(ModelError::NotFound(format!("no {kind} ban of {subject} in force")).into());
    }
    tracing::info!(kind, subject, "login ban lifted");
    Ok(Json(
        json!({ "lifted": { "kind": kind, "subject": subject } }),
    ))
}
