//! Admin API views of stored mail: an account's mailboxes with their counters.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Serialize;

use super::{AppState, error::ApiResult};

/// A mailbox and its STATUS counters.
#[derive(Serialize)]
pub struct MailboxView {
    name: String,
    special_use: Option<String>,
    messages: i64,
    unseen: i64,
    bytes: i64,
    uidnext: u32,
    uidvalidity: u32,
}

pub async fn list_mailboxes(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Vec<MailboxView>>> {
    let account = s.dir.require_account(&address).await?;
    let mut out = Vec::new();
    for m in s.dir.mailboxes(account.id).await? {
        let st = s.dir.mailbox_status(&m).await?;
        out.push(MailboxView {
            name: m.name,
            special_use: m.special_use.map(|u| format!("{u:?}")),
            messages: st.messages,
            unseen: st.unseen,
            bytes: st.bytes,
            uidnext: st.uidnext,
            uidvalidity: st.uidvalidity,
        });
    }
    Ok(Json(out))
}
