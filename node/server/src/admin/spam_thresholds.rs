//! Spam score thresholds of a domain or an account, over the configured ones
//! (`[smtp.checks.score]`): `GET /domains/{name}/spam-thresholds` and
//! `GET /accounts/{address}/spam-thresholds` show what is set there and what holds (an
//! account's own over its domain's over the configuration's); `PUT` either with
//! `{"junk": 8.0, "reject": 20.0}` sets them (`null` or absent: inherit).

use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};
use tern_store::model::{
    ModelError,
    spam_thresholds::{self, Scope, Thresholds},
};

use super::{AppState, error::ApiResult};

/// The configured thresholds.
fn configured(s: &AppState) -> Thresholds {
    s.spam.thresholds
}

/// The domain `name`, or 404.
async fn domain(s: &AppState, name: &str) -> Result<String, ModelError> {
    let name = name.trim().to_ascii_lowercase();
    match s.dir.domain(&name).await? {
        Some(_) => Ok(name),
        None => Err(ModelError::NotFound(format!("domain {name}"))),
    }
}

fn shown(subject: (&str, &str), set: Thresholds, holds: Thresholds) -> Json<Value> {
    Json(json!({
        subject.0: subject.1,
        "set": { "junk": set.junk, "reject": set.reject },
        "effective": { "junk": holds.junk, "reject": holds.reject },
    }))
}

/// What is set for a domain and what holds for its accounts without their own.
pub async fn show_domain(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let name = domain(&s, &name).await?;
    let n = name.as_str();
    let set = s
        .dir
        .db()
        .run(|tx| async move { spam_thresholds::get(&tx, Scope::Domain(n)).await })
        .await
        .map_err(ModelError::from)?;
    Ok(shown(("domain", &name), set, set.over(configured(&s))))
}

/// What is set for an account and what holds for it.
pub async fn show_account(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = s.dir.require_account(&address).await?;
    let id = account.id;
    let (set, holds) = s
        .dir
        .db()
        .run(|tx| async move {
            Ok((
                spam_thresholds::get(&tx, Scope::Account(id)).await?,
                spam_thresholds::effective(&tx, id).await?,
            ))
        })
        .await
        .map_err(ModelError::from)?;
    Ok(shown(
        ("account", &account.address),
        set,
        holds.over(configured(&s)),
    ))
}

/// `t`, refused with a 400 naming the problem when it cannot be set (or hold, with the levels
/// below filled in).
fn valid(t: Thresholds) -> Result<Thresholds, ModelError> {
    match t.invalid() {
        Some(why) => Err(ModelError::Invalid(format!("spam thresholds: {why}"))),
        None => Ok(t),
    }
}

/// Sets a domain's thresholds.
pub async fn set_domain(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Json(t): Json<Thresholds>,
) -> ApiResult<Json<Value>> {
    valid(t)?;
    let holds = valid(t.over(configured(&s)))?;
    let name = domain(&s, &name).await?;
    let n = name.as_str();
    s.dir
        .db()
        .run(|tx| async move { spam_thresholds::set(&tx, Scope::Domain(n), t) })
        .await
        .map_err(ModelError::from)?;
    tracing::info!(domain = %name, junk = ?t.junk, reject = ?t.reject, "spam thresholds set");
    Ok(shown(("domain", &name), t, holds))
}

/// Sets an account's thresholds.
pub async fn set_account(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(t): Json<Thresholds>,
) -> ApiResult<Json<Value>> {
    valid(t)?;
    let account = s.dir.require_account(&address).await?;
    let id = account.id;
    let domain = account
        .address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let d = domain.as_str();
    let db = s.dir.db();
    let below = db
        .run(|tx| async move { spam_thresholds::get(&tx, Scope::Domain(d)).await })
        .await
        .map_err(ModelError::from)?;
    let holds = valid(t.over(below).over(configured(&s)))?;
    db.run(|tx| async move { spam_thresholds::set(&tx, Scope::Account(id), t) })
        .await
        .map_err(ModelError::from)?;
    tracing::info!(account = %account.address, junk = ?t.junk, reject = ?t.reject, "spam thresholds set");
    Ok(shown(("account", &account.address), t, holds))
}
