//! Spam score rules through the API, beside the configuration file's: `GET /spam/rules` lists
//! both (`source`: `config` or `api`), `PUT /spam/rules/{name}` adds or replaces one
//! (`{"header": "Subject", "pattern": "(?i)casino", "points": 6.0}`, or `body`, `attachment`,
//! `mime_type`, `size_over`: exactly one), checked before it is kept, and
//! `DELETE /spam/rules/{name}` removes one. Every node picks a change up with its next message.

use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};
use tern_store::model::{ModelError, spam_rules::StoredRule};

use super::{AppState, error::ApiResult};
use crate::policy::content::{Rule, Written};

/// Both kinds of rules.
pub async fn list(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let stored = s
        .dir
        .db()
        .run(|tx| async move { tern_store::model::spam_rules::all(&tx).await })
        .await
        .map_err(ModelError::from)?;
    let mut rules: Vec<Value> = s
        .spam
        .rules
        .iter()
        .map(|name| json!({ "name": name, "source": "config" }))
        .collect();
    for r in stored {
        let mut v = serde_json::to_value(&r).unwrap_or_default();
        v["source"] = json!("api");
        rules.push(v);
    }
    Ok(Json(json!({ "rules": rules })))
}

/// Adds or replaces a rule; 400 naming what is wrong with it.
pub async fn set(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Json(mut rule): Json<StoredRule>,
) -> ApiResult<Json<Value>> {
    rule.name = name.trim().to_string();
    if s.spam.rules.contains(&rule.name) {
        return Err(ModelError::Invalid(format!(
            "spam rule {}: defined in the configuration file, which the API does not change",
            rule.name
        ))
        .into());
    }
    Rule::parse(&Written::stored(&rule))
        .map_err(|why| ModelError::Invalid(format!("spam rule {}: {why}", rule.name)))?;
    let r = &rule;
    s.dir
        .db()
        .run(|tx| async move { tern_store::model::spam_rules::put(&tx, r) })
        .await
        .map_err(ModelError::from)?;
    tracing::info!(rule = %rule.name, points = rule.points, "spam rule set");
    Ok(Json(json!({ "rule": rule })))
}

/// Removes a rule; 404 when there is none by that name.
pub async fn remove(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let n = name.as_str();
    let had = s
        .dir
        .db()
        .run(|tx| async move { tern_store::model::spam_rules::remove(&tx, n).await })
        .await
        .map_err(ModelError::from)?;
    if !had {
        return Err(ModelError::NotFound(format!("spam rule {name} (set through the API)")).into());
    }
    tracing::info!(rule = %name, "spam rule removed");
    Ok(Json(json!({ "removed": name })))
}
