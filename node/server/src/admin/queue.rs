//! Operator commands on the outbound queue: list with filters, a summary by destination and age
//! (like Postfix's qshape), one entry with every attempt, retry now (one entry, a destination —
//! clearing its suspension — or everything), hold, release, delete, bounce now, and re-inject a
//! message file. Unknown ids get 404 with the id named.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tern_store::model::{
    ModelError, now,
    queue::{
        Attempt, QueueEntry, RecipientStatus,
        destination::{self, Destination},
        ops,
    },
    summary::MAX_MIME_DEPTH,
};

use super::{
    AppState,
    error::{ApiError, ApiResult},
};
use crate::{delivery::DeliverError, queue::operator};

/// Entries `GET /queue` returns when no `limit` is given, and at most.
const LIST_DEFAULT: usize = 1000;
const LIST_MAX: usize = 10_000;
/// Entries read per transaction while listing.
const LIST_PAGE: usize = 500;

/// `GET /queue` filters and paging.
#[derive(Deserialize, Default)]
pub struct Filter {
    /// Entries at most (default 1000, at most 10 000).
    limit: Option<usize>,
    /// Only entries after this id (the `next` of the previous answer).
    after: Option<String>,
    domain: Option<String>,
    sender: Option<String>,
    recipient: Option<String>,
    /// `pending`, `deferred`, `held`.
    status: Option<String>,
    /// Only entries at least this old.
    min_age_seconds: Option<i64>,
}

/// A recipient as listed.
#[derive(Serialize)]
struct RecipientView {
    address: String,
    status: &'static str,
    reply: Option<String>,
    orcpt: Option<String>,
    /// DSN NOTIFY as given (empty: the default, failures and delays).
    notify: Vec<&'static str>,
}

/// An entry as listed.
#[derive(Serialize)]
struct EntryView {
    id: String,
    domain: String,
    sender: String,
    size: u64,
    created: i64,
    age_seconds: i64,
    next_attempt: i64,
    attempts: u32,
    held: bool,
    status: &'static str,
    recipients: Vec<RecipientView>,
    last_attempt: Option<Attempt>,
}

fn view(e: &QueueEntry, at: i64) -> EntryView {
    EntryView {
        id: e.id.clone(),
        domain: e.domain.clone(),
        sender: e.sender.clone(),
        size: e.size,
        created: e.created,
        age_seconds: at - e.created,
        next_attempt: e.next_attempt,
        attempts: e.attempts,
        held: e.held,
        status: e.status_label(),
        recipients: e
            .recipients
            .iter()
            .map(|r| RecipientView {
                address: r.address.clone(),
                status: r.status.label(),
                reply: match &r.status {
                    RecipientStatus::Pending => None,
                    RecipientStatus::Delivered { reply }
                    | RecipientStatus::Deferred { reply }
                    | RecipientStatus::Failed { reply } => Some(reply.clone()),
                },
                orcpt: r.orcpt.clone(),
                notify: r.notify.names(),
            })
            .collect(),
        last_attempt: e.history.last().cloned(),
    }
}

async fn everything(s: &AppState) -> ApiResult<(Vec<QueueEntry>, Vec<Destination>)> {
    let entries = ops::scan(s.dir.db()).await.map_err(ModelError::from)?;
    Ok((entries, destinations(s).await?))
}

async fn destinations(s: &AppState) -> ApiResult<Vec<Destination>> {
    Ok(s.dir
        .db()
        .transact(|tx| async move { destination::all(&tx).await })
        .await
        .map_err(ModelError::from)?)
}

fn matches(e: &QueueEntry, f: &Filter, at: i64) -> bool {
    let has = |needle: &Option<String>, hay: &str| {
        needle
            .as_ref()
            .is_none_or(|n| hay.to_ascii_lowercase().contains(&n.to_ascii_lowercase()))
    };
    has(&f.domain, &e.domain)
        && has(&f.sender, &e.sender)
        && f.recipient.as_ref().is_none_or(|r| {
            let r = r.to_ascii_lowercase();
            e.recipients
                .iter()
                .any(|x| x.address.to_ascii_lowercase().contains(&r))
        })
        && f.status.as_ref().is_none_or(|s| s == e.status_label())
        && f.min_age_seconds.is_none_or(|m| at - e.created >= m)
}

/// `GET /queue`: entries (filtered, in id order, at most `limit`, with `next` to pass as
/// `after` when there are more) and the destinations' states. Reads page by page and stops at
/// the limit, so a large queue is never read whole.
pub async fn list(State(s): State<AppState>, Query(f): Query<Filter>) -> ApiResult<Json<Value>> {
    let limit = f.limit.unwrap_or(LIST_DEFAULT).clamp(1, LIST_MAX);
    let at = now();
    let mut entries: Vec<EntryView> = Vec::new();
    let mut cursor = f.after.clone();
    let mut next = None;
    'pages: loop {
        let after = cursor.as_deref();
        let page = s
            .dir
            .db()
            .transact(|tx| async move { ops::page(&tx, after, LIST_PAGE).await })
            .await
            .map_err(ModelError::from)?;
        for e in &page {
            if !matches(e, &f, at) {
                continue;
            }
            if entries.len() == limit {
                next = entries.last().map(|v| v.id.clone());
                break 'pages;
            }
            entries.push(view(e, at));
        }
        if page.len() < LIST_PAGE {
            break;
        }
        cursor = page.last().map(|e| e.id.clone());
    }
    Ok(Json(
        json!({ "entries": entries, "next": next, "destinations": destinations(&s).await? }),
    ))
}

/// Age buckets of the summary, in minutes (qshape's defaults).
const BUCKETS: [i64; 9] = [5, 10, 20, 40, 80, 160, 320, 640, 1280];

/// `GET /queue/summary`: entries per destination and age bucket, with suspension.
pub async fn summary(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let (entries, destinations) = everything(&s).await?;
    let at = now();
    let mut rows: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in &entries {
        let age_min = (at - e.created) / 60;
        let i = BUCKETS
            .iter()
            .position(|b| age_min < *b)
            .unwrap_or(BUCKETS.len());
        rows.entry(e.domain.clone())
            .or_insert_with(|| vec![0; BUCKETS.len() + 1])[i] += 1;
    }
    let suspended: BTreeMap<&str, &Destination> = destinations
        .iter()
        .filter(|d| d.is_suspended(at))
        .map(|d| (d.domain.as_str(), d))
        .collect();
    let mut labels: Vec<String> = BUCKETS.iter().map(|b| format!("<{b}m")).collect();
    labels.push(format!("{}m+", BUCKETS[BUCKETS.len() - 1]));
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(domain, counts)| {
            let d = suspended.get(domain.as_str());
            json!({
                "domain": domain,
                "total": counts.iter().sum::<u64>(),
                "by_age": labels.iter().cloned().zip(counts).collect::<BTreeMap<_, _>>(),
                "suspended_until": d.map(|d| d.suspended_until),
                "failing_since": d.map(|d| d.failing_since),
                "last_error": d.map(|d| d.last_error.clone()),
            })
        })
        .collect();
    Ok(Json(
        json!({ "total": entries.len(), "destinations": rows }),
    ))
}

fn unknown(id: &str) -> ApiError {
    ApiError(
        axum::http::StatusCode::NOT_FOUND,
        format!("no queued message with id {id} (it may have been delivered or removed)"),
    )
}

/// One entry, or 404 naming the id.
async fn load(s: &AppState, id: &str) -> ApiResult<QueueEntry> {
    s.dir
        .db()
        .transact(|tx| async move { ops::get(&tx, id).await })
        .await
        .map_err(ModelError::from)?
        .ok_or_else(|| unknown(id))
}

/// `GET /queue/{id}`: one entry with its whole history.
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let entry = load(&s, &id).await?;
    Ok(Json(
        json!({ "entry": view(&entry, now()), "history": entry.history }),
    ))
}

/// `POST /queue/{id}/retry`: try now (clears the destination's suspension).
pub async fn retry(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let e = operator::retry(&s.queue, &id)
        .await?
        .ok_or_else(|| unknown(&id))?;
    tracing::info!(queue_id = %id, "operator: retry now");
    Ok(Json(json!({ "entry": view(&e, now()) })))
}

/// `POST /queue/retry` with `{"domain": …}` or `{}` for everything.
#[derive(Deserialize, Default)]
pub struct RetryAll {
    domain: Option<String>,
}

/// Retries every entry (of a destination), clearing suspensions.
pub async fn retry_all(
    State(s): State<AppState>,
    Json(r): Json<RetryAll>,
) -> ApiResult<Json<Value>> {
    let domain = r.domain.as_deref();
    let count = operator::retry_all(&s.queue, domain).await?;
    tracing::info!(domain = ?domain, count, "operator: retry now");
    Ok(Json(json!({ "retried": count })))
}

/// `POST /queue/{id}/hold`.
pub async fn hold(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let e = operator::hold(&s.queue, &id)
        .await?
        .ok_or_else(|| unknown(&id))?;
    tracing::info!(queue_id = %id, "operator: hold");
    Ok(Json(json!({ "entry": view(&e, now()) })))
}

/// `POST /queue/{id}/release`: back in the queue, due now.
pub async fn release(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let e = operator::release(&s.queue, &id)
        .await?
        .ok_or_else(|| unknown(&id))?;
    tracing::info!(queue_id = %id, "operator: release");
    Ok(Json(json!({ "entry": view(&e, now()) })))
}

/// `DELETE /queue/{id}`: drop without notifying anyone.
pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if !operator::delete(&s.queue, &id).await? {
        return Err(unknown(&id));
    }
    tracing::info!(queue_id = %id, "operator: delete");
    Ok(Json(json!({ "deleted": id })))
}

/// `POST /queue/{id}/bounce`: fail every open recipient now and notify the sender.
pub async fn bounce(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let entry = load(&s, &id).await?;
    operator::bounce(&s.queue, &entry)
        .await
        .map_err(|e| ApiError(axum::http::StatusCode::SERVICE_UNAVAILABLE, e))?;
    tracing::info!(queue_id = %id, "operator: bounce now");
    Ok(Json(json!({ "bounced": id })))
}

/// `POST /queue/inject` body: the file (base64) and an optional envelope.
#[derive(Deserialize)]
pub struct Inject {
    message_base64: String,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
}

/// Re-injects a message file.
pub async fn inject(State(s): State<AppState>, Json(body): Json<Inject>) -> ApiResult<Json<Value>> {
    use base64::Engine as _;
    let file = base64::engine::general_purpose::STANDARD
        .decode(body.message_base64.trim())
        .map_err(|e| {
            ApiError(
                axum::http::StatusCode::BAD_REQUEST,
                format!("message_base64: {e}"),
            )
        })?;
    if file.len() > s.max_message_bytes {
        return Err(ApiError(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the file is {} bytes, over the message size limit of {} bytes; nothing was queued",
                file.len(),
                s.max_message_bytes
            ),
        ));
    }
    if let Err(why) = s.headroom.check("inject") {
        return Err(ApiError(
            axum::http::StatusCode::INSUFFICIENT_STORAGE,
            format!("insufficient system storage ({why}); nothing was queued"),
        ));
    }
    match crate::queue::inject::inject(
        &s.queue,
        &file,
        body.from,
        body.to,
        "injected through the admin API (ternctl queue inject)",
    )
    .await
    {
        Ok(id) => Ok(Json(json!({ "id": id }))),
        Err(crate::queue::inject::InjectError::Envelope(e)) => {
            Err(ApiError(axum::http::StatusCode::BAD_REQUEST, e))
        }
        Err(crate::queue::inject::InjectError::Store(DeliverError::TooDeep(depth))) => {
            Err(ApiError(
                axum::http::StatusCode::BAD_REQUEST,
                format!(
                    "the message nests MIME parts {depth} levels deep (at most {MAX_MIME_DEPTH}); nothing was queued"
                ),
            ))
        }
        Err(crate::queue::inject::InjectError::Store(e)) => {
            tracing::error!(error = ?e, "re-inject failed");
            Err(ApiError(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the message could not be stored; nothing was queued".into(),
            ))
        }
    }
}
