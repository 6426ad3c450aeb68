//! An account's own spam lists: `GET /accounts/{address}/spam-lists` (`allow` and `block`),
//! `POST /accounts/{address}/spam-lists` with `{"list": "allow"|"block", "entry": …}` (a sender
//! `user@domain` or a whole `@domain`; an entry is on one list at a time) and
//! `POST /accounts/{address}/spam-lists/remove` with `{"entry": …}`.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::model::{ModelError, spam_lists};

use super::{AppState, error::ApiResult};

/// The account's lists.
pub async fn show(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = s.dir.require_account(&address).await?;
    let id = account.id;
    let all = s
        .dir
        .db()
        .run(|tx| async move { spam_lists::all(&tx, id).await })
        .await
        .map_err(ModelError::from)?;
    let of = |list| -> Vec<&String> {
        all.iter()
            .filter(|(_, l)| *l == list)
            .map(|(e, _)| e)
            .collect()
    };
    Ok(Json(json!({
        "account": account.address,
        "allow": of(spam_lists::List::Allow),
        "block": of(spam_lists::List::Block),
    })))
}

/// An entry to put on a list.
#[derive(Deserialize)]
pub struct Add {
    list: String,
    entry: String,
}

/// An entry to take off.
#[derive(Deserialize)]
pub struct Remove {
    entry: String,
}

fn entry(text: &str) -> Result<String, ModelError> {
    spam_lists::normalise(text).ok_or_else(|| {
        ModelError::Invalid(format!(
            "entry {text:?}: expected a sender (user@domain) or a domain (@domain)"
        ))
    })
}

/// Puts an entry on the allow or block list.
pub async fn add(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(a): Json<Add>,
) -> ApiResult<Json<Value>> {
    let list = spam_lists::List::parse(&a.list).ok_or_else(|| {
        ModelError::Invalid(format!(
            "list {:?}: expected \"allow\" or \"block\"",
            a.list
        ))
    })?;
    let entry = entry(&a.entry)?;
    let account = s.dir.require_account(&address).await?;
    let (id, e) = (account.id, entry.as_str());
    s.dir
        .db()
        .run(|tx| async move { spam_lists::set(&tx, id, e, list) })
        .await
        .map_err(ModelError::from)?;
    tracing::info!(account = %account.address, list = list.name(), entry, "spam list entry set");
    Ok(Json(
        json!({ "account": account.address, "list": list.name(), "entry": entry }),
    ))
}

/// Takes an entry off the lists; 404 when it is on neither.
pub async fn remove(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(r): Json<Remove>,
) -> ApiResult<Json<Value>> {
    let entry = entry(&r.entry)?;
    let account = s.dir.require_account(&address).await?;
    let (id, e) = (account.id, entry.as_str());
    let had = s
        .dir
        .db()
        .run(|tx| async move { spam_lists::remove(&tx, id, e).await })
        .await
        .map_err(ModelError::from)?;
    if !had {
        return Err(ModelError::NotFound(format!(
            "{entry} is on neither spam list of {}",
            account.address
        ))
        .into());
    }
    Ok(Json(
        json!({ "account": account.address, "removed": entry }),
    ))
}
