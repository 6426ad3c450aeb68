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
use crate::delivery::DeliverError;

/// `GET /queue` filters.
#[derive(Deserialize, Default)]
pub struct Filter {
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
    let destinations = s
        .dir
        .db()
        .transact(|tx| async move { destination::all(&tx).await })
        .await
        .map_err(ModelError::from)?;
    Ok((entries, destinations))
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

/// `GET /queue`: entries (filtered) and the destinations' states.
pub async fn list(State(s): State<AppState>, Query(f): Query<Filter>) -> ApiResult<Json<Value>> {
    let (entries, destinations) = everything(&s).await?;
    let at = now();
    let entries: Vec<EntryView> = entries
        .iter()
        .filter(|e| matches(e, &f, at))
        .map(|e| view(e, at))
        .collect();
    Ok(Json(
        json!({ "entries": entries, "destinations": destinations }),
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

/// Changes one entry in a transaction; 404 when it does not exist.
async fn change(
    s: &AppState,
    id: &str,
    f: impl Fn(&mut QueueEntry) + Copy,
) -> ApiResult<QueueEntry> {
    s.dir
        .db()
        .transact(|tx| async move {
            let Some(current) = ops::get(&tx, id).await? else {
                return Ok(None);
            };
            let mut after = current.clone();
            f(&mut after);
            ops::update(&tx, &current, &after)?;
            Ok::<_, ModelError>(Some(after))
        })
        .await?
        .ok_or_else(|| unknown(id))
}

async fn clear_suspension(s: &AppState, domain: Option<&str>) -> ApiResult<()> {
    s.dir
        .db()
        .transact(|tx| async move {
            for mut d in destination::all(&tx).await? {
                if domain.is_none_or(|x| x.eq_ignore_ascii_case(&d.domain)) {
                    d.failures = 0;
                    d.suspended_until = 0;
                    destination::put(&tx, &d)?;
                }
            }
            Ok::<_, ModelError>(())
        })
        .await?;
    Ok(())
}

/// `POST /queue/{id}/retry`: try now (clears the destination's suspension).
pub async fn retry(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let at = now();
    let e = change(&s, &id, |e| e.next_attempt = at).await?;
    clear_suspension(&s, Some(&e.domain)).await?;
    tracing::info!(queue_id = %id, "operator: retry now");
    Ok(Json(json!({ "entry": view(&e, at) })))
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
    let at = now();
    let domain = r.domain.as_deref();
    // Paged: a large queue is rescheduled in many small transactions, not one too large.
    let ids: Vec<String> = ops::scan(s.dir.db())
        .await
        .map_err(ModelError::from)?
        .into_iter()
        .filter(|e| !e.held && domain.is_none_or(|d| d.eq_ignore_ascii_case(&e.domain)))
        .map(|e| e.id)
        .collect();
    let mut count = 0u64;
    for chunk in ids.chunks(500) {
        count += s
            .dir
            .db()
            .transact(|tx| async move {
                let mut n = 0u64;
                for id in chunk {
                    let Some(current) = ops::get(&tx, id).await? else {
                        continue;
                    };
                    if current.held {
                        continue;
                    }
                    let mut after = current.clone();
                    after.next_attempt = at;
                    ops::update(&tx, &current, &after)?;
                    n += 1;
                }
                Ok::<_, ModelError>(n)
            })
            .await?;
    }
    clear_suspension(&s, domain).await?;
    tracing::info!(domain = ?domain, count, "operator: retry now");
    Ok(Json(json!({ "retried": count })))
}

/// `POST /queue/{id}/hold`.
pub async fn hold(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let e = change(&s, &id, |e| e.held = true).await?;
    tracing::info!(queue_id = %id, "operator: hold");
    Ok(Json(json!({ "entry": view(&e, now()) })))
}

/// `POST /queue/{id}/release`: back in the queue, due now.
pub async fn release(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let at = now();
    let e = change(&s, &id, |e| {
        e.held = false;
        e.next_attempt = at;
    })
    .await?;
    tracing::info!(queue_id = %id, "operator: release");
    Ok(Json(json!({ "entry": view(&e, at) })))
}

/// `DELETE /queue/{id}`: drop without notifying anyone.
pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = &id;
    let removed = s
        .dir
        .db()
        .transact(|tx| async move {
            let Some(current) = ops::get(&tx, id).await? else {
                return Ok(false);
            };
            ops::remove(&tx, &current)?;
            Ok::<_, ModelError>(true)
        })
        .await?;
    if !removed {
        return Err(unknown(id));
    }
    tracing::info!(queue_id = %id, "operator: delete");
    Ok(Json(json!({ "deleted": id })))
}

/// `POST /queue/{id}/bounce`: fail every open recipient now and notify the sender.
pub async fn bounce(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let entry = load(&s, &id).await?;
    crate::queue::bounce_now(&s.queue, &entry)
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
    match crate::queue::inject::inject(&s.queue, &file, body.from, body.to).await {
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
