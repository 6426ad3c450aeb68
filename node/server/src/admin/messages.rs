//! `/api/v1/accounts/{address}/mailboxes/{mailbox}/messages`: an account's messages, page by
//! page, with flags, keywords, INTERNALDATE and raw bytes (`ternctl account export`), and
//! appending one (`ternctl account import`) with APPEND's checks: size, MIME depth, disk
//! headroom and quota. Bytes travel base64-encoded.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::{
    blob,
    model::{Flags, Mailbox, ModelError, message},
};

use super::{
    AppState,
    error::{ApiError, ApiResult},
};
use crate::imap::filing::{FilingError, check_quota};

/// Most messages per page.
const PAGE_MESSAGES: usize = 50;
/// A page stops growing past this many bytes of messages.
const PAGE_BYTES: usize = 8 << 20;

/// System flags by IMAP name.
const FLAGS: [(&str, Flags); 5] = [
    ("\\Seen", Flags::SEEN),
    ("\\Answered", Flags::ANSWERED),
    ("\\Flagged", Flags::FLAGGED),
    ("\\Deleted", Flags::DELETED),
    ("\\Draft", Flags::DRAFT),
];

fn bad(text: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, text.into())
}

async fn mailbox(
    s: &AppState,
    address: &str,
    name: &str,
    create: bool,
) -> ApiResult<(u64, Mailbox)> {
    let account = s.dir.require_account(address).await?;
    match s.dir.mailbox(account.id, name).await? {
        Some(m) => Ok((account.id, m)),
        None if create => Ok((account.id, s.dir.create_mailbox(account.id, name).await?)),
        None => Err(ModelError::NotFound(format!("mailbox {name} of {address}")).into()),
    }
}

#[derive(Deserialize)]
pub struct Page {
    /// Messages after this UID (absent: from the first).
    after_uid: Option<u32>,
}

/// A page of messages; `next_after_uid` is absent after the last page.
pub async fn list(
    State(s): State<AppState>,
    Path((address, name)): Path<(String, String)>,
    Query(p): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (_, mb) = mailbox(&s, &address, &name, false).await?;
    let from = p.after_uid.map_or(1, |u| u.saturating_add(1));
    let db = s.dir.db();
    let metas = db
        .transact(|tx| async move { message::list(&tx, mb.id, from, Some(PAGE_MESSAGES)).await })
        .await
        .map_err(ModelError::from)?;
    let full_page = metas.len() == PAGE_MESSAGES;
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut last = None;
    for m in &metas {
        // A page holds at least one message, and no more once PAGE_BYTES would be passed.
        if !out.is_empty() && bytes + m.size as usize > PAGE_BYTES {
            break;
        }
        let raw = blob::read(db, m.blob).await.map_err(ModelError::from)?;
        bytes += raw.len();
        last = Some(m.uid);
        let flags: Vec<&str> = FLAGS
            .iter()
            .filter(|(_, f)| m.flags.contains(*f))
            .map(|(n, _)| *n)
            .collect();
        out.push(json!({
            "uid": m.uid,
            "flags": flags,
            "keywords": m.keywords,
            "internal_date": m.internal_date,
            "raw": STANDARD.encode(&raw),
        }));
    }
    let more = full_page || out.len() < metas.len();
    Ok(Json(json!({
        "uidvalidity": mb.uidvalidity,
        "messages": out,
        "next_after_uid": if more { last } else { None },
    })))
}

#[derive(Deserialize)]
pub struct NewMessageBody {
    /// The message, base64.
    raw: String,
    /// System flags by IMAP name (`\Seen`, ...).
    #[serde(default)]
    flags: Vec<String>,
    /// Keywords.
    #[serde(default)]
    keywords: Vec<String>,
    /// INTERNALDATE, Unix seconds (absent: now).
    internal_date: Option<i64>,
}

/// Appends one message, creating the mailbox if needed.
pub async fn append(
    State(s): State<AppState>,
    Path((address, name)): Path<(String, String)>,
    Json(b): Json<NewMessageBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let raw = STANDARD.decode(b.raw).map_err(|_| bad("raw: not base64"))?;
    if raw.is_empty() {
        return Err(bad("an empty message cannot be imported"));
    }
    if raw.len() > s.max_message_bytes {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the message has {} bytes; at most {} are accepted",
                raw.len(),
                s.max_message_bytes
            ),
        ));
    }
    let mut flags = Flags::default();
    for f in &b.flags {
        let (_, flag) = FLAGS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(f))
            .ok_or_else(|| bad(format!("{f} is not a system flag")))?;
        flags = Flags(flags.0 | flag.0);
    }
    let (account_id, mb) = mailbox(&s, &address, &name, true).await?;
    if let Err(why) = s.headroom.check("admin") {
        return Err(ApiError(StatusCode::INSUFFICIENT_STORAGE, why.to_string()));
    }
    let summary = crate::delivery::summarize(&raw).await;
    if summary.too_deep() {
        return Err(bad(format!(
            "the message nests MIME parts {} levels deep; at most {} are accepted",
            summary.depth,
            tern_store::model::summary::MAX_MIME_DEPTH
        )));
    }
    let db = s.dir.db().clone();
    let staged = blob::stage(&db, &raw).await.map_err(ModelError::from)?;
    let permit = s.hub.writing(mb.id).await;
    let (staged, summary, keywords) = (&staged, &summary, &b.keywords);
    let internal_date = b.internal_date.unwrap_or_else(tern_store::model::now);
    let size = raw.len() as u64;
    let result = db
        .transact(|tx| async move {
            check_quota(&tx, account_id, size).await?;
            let new = message::NewMessage {
                body: staged,
                summary: Some(summary),
                flags,
                keywords: keywords.clone(),
                internal_date,
            };
            Ok::<_, FilingError>(message::append(&tx, account_id, mb.id, &new).await?.uid)
        })
        .await;
    drop(permit);
    match result {
        Ok(uid) => {
            s.hub.poke(mb.id).await;
            Ok((
                StatusCode::CREATED,
                Json(json!({ "mailbox": mb.name, "uid": uid })),
            ))
        }
        Err(FilingError::OverQuota) => Err(ApiError(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("{address} would go over its quota"),
        )),
        Err(FilingError::Model(e)) => Err(e.into()),
    }
}
