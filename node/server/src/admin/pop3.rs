//! `/api/v1/pop3/locks`: the POP3 maildrop locks held now, and breaking one (a client that
//! vanished without QUIT holds its lock until the lease runs out; an operator need not wait).

use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};

use super::{
    AppState,
    error::{ApiError, ApiResult},
};
use crate::pop3::lock::KIND;

/// Every live lock: account, session and when it frees unless renewed.
pub async fn list_locks(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let now = tern_store::clock::now_ms();
    let locks: Vec<Value> = s
        .dir
        .mailbox_locks(KIND)
        .await?
        .into_iter()
        .map(|(mailbox, l)| {
            json!({
                "account": l.owner,
                "mailbox": mailbox,
                "session": l.holder,
                "expires": l.expires_ms / 1000,
                "expires_in_seconds": (l.expires_ms - now).max(0) / 1000,
            })
        })
        .collect();
    Ok(Json(json!({ "locks": locks })))
}

/// Breaks the lock on an account's maildrop; the session holding it ends at its next renewal.
pub async fn break_lock(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = s.dir.require_account(&address).await?;
    let inbox = s.dir.mailbox(account.id, "INBOX").await?.ok_or_else(|| {
        ApiError(
            axum::http::StatusCode::NOT_FOUND,
            format!("{address} has no INBOX"),
        )
    })?;
    let broken = s.dir.break_mailbox_lock(KIND, inbox.id).await?;
    tracing::info!(account = %account.address, held = broken.is_some(), "POP3 lock broken by an operator");
    Ok(Json(json!({
        "account": account.address,
        "was_locked": broken.is_some(),
        "session": broken.map(|l| l.holder),
    })))
}
