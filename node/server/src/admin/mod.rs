//! The node's HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, and the admin API under
//! `/api/v1`, which requires a bearer token.

mod backup;
mod cluster;
mod connections;
mod directory;
mod dkim;
mod dmarc;
pub(crate) mod doctor;
mod error;
mod log;
mod mail;
mod messages;
mod notices;
mod pop3;
mod queue;
mod security;
mod sessions;
mod spam;
mod spam_rules;
mod spam_thresholds;
mod tracking;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde_json::json;
use tern_store::model::Directory;

use crate::{metrics, throttle::Throttle};

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    /// The directory on the node's store.
    pub dir: Directory,
    /// The outbound queue (for bounce now).
    pub queue: std::sync::Arc<crate::queue::QueueContext>,
    /// Disk headroom for re-injected mail.
    pub headroom: std::sync::Arc<crate::headroom::Headroom>,
    /// The largest message (the SMTP limit), also the largest re-injected file.
    pub max_message_bytes: usize,
    /// Backup snapshots open on this node.
    pub backups: backup::Backups,
    /// The mailbox hub, so imported messages reach open sessions.
    pub hub: crate::imap::hub::Hub,
    /// This node's part in the cluster, if it is in one.
    pub cluster: Option<std::sync::Arc<tern_cluster::node::Cluster>>,
    /// The node's shutdown: once triggered the node drains and `/readyz` fails.
    pub shutdown: crate::shutdown::Shutdown,
    /// The troubleshooter's view of the node (its data directory is the one the metrics
    /// report the filesystem of).
    pub doctor: std::sync::Arc<crate::doctor::Doctor>,
    /// The node's running sessions and outbound connections.
    pub live: crate::live::Live,
    /// What the configuration file sets of the spam score.
    pub spam: SpamDefaults,
}

/// What the configuration file sets of the spam score, beside what the admin API changes.
#[derive(Clone, Default)]
pub struct SpamDefaults {
    /// The thresholds, under each domain's and account's own.
    pub thresholds: tern_store::model::spam_thresholds::Thresholds,
    /// The names of its content rules (the API cannot change those).
    pub rules: Vec<String>,
}

/// The whole HTTP router.
pub fn router(state: AppState) -> Router {
    use directory as d;
    let api = Router::new()
        .route("/domains", get(d::list_domains).post(d::add_domain))
        .route("/domains/{name}", axum::routing::delete(d::remove_domain))
        .route(
            "/domains/{name}/dkim",
            get(dkim::show).put(dkim::set).delete(dkim::remove),
        )
        .route(
            "/domains/{name}/catch-all",
            get(d::show_catch_all)
                .put(d::set_catch_all)
                .delete(d::remove_catch_all),
        )
        .route("/dmarc-reports", get(dmarc::list))
        .route("/spam/rules", get(spam_rules::list))
        .route(
            "/spam/rules/{name}",
            put(spam_rules::set).delete(spam_rules::remove),
        )
        .route("/accounts", get(d::list_accounts).post(d::add_account))
        .route(
            "/accounts/{address}",
            get(d::show_account).delete(d::remove_account),
        )
        .route("/accounts/{address}/password", put(d::set_password))
        .route("/accounts/{address}/quota", put(d::set_quota))
        .route("/accounts/{address}/permissions", put(d::set_permissions))
        .route(
            "/accounts/{address}/forward",
            get(d::show_forward)
                .put(d::set_forward)
                .delete(d::remove_forward),
        )
        .route("/accounts/{address}/mailboxes", get(mail::list_mailboxes))
        .route(
            "/accounts/{address}/spam-lists",
            get(spam::show).post(spam::add),
        )
        .route("/accounts/{address}/spam-lists/remove", post(spam::remove))
        .route(
            "/accounts/{address}/spam-thresholds",
            get(spam_thresholds::show_account).put(spam_thresholds::set_account),
        )
        .route(
            "/domains/{name}/spam-thresholds",
            get(spam_thresholds::show_domain).put(spam_thresholds::set_domain),
        )
        .route(
            "/accounts/{address}/mailboxes/{mailbox}/messages",
            get(messages::list)
                .post(messages::append)
                .layer(DefaultBodyLimit::max(
                    state.max_message_bytes / 3 * 4 + 64 * 1024,
                )),
        )
        .route("/cluster", get(cluster::status))
        .route("/doctor", get(doctor::run))
        .route("/notices", get(notices::list))
        .route("/security/bans", get(security::list))
        .route("/security/bans/lift", post(security::lift))
        .route("/trace", get(tracking::find))
        .route(
            "/cluster/nodes/{id}/{change}",
            axum::routing::post(cluster::node_change),
        )
        .route("/queue", get(queue::list))
        .route("/queue/summary", get(queue::summary))
        .route("/queue/connections", get(connections::list))
        .route("/sessions", get(sessions::list))
        .route("/sessions/kick", post(sessions::kick))
        .route("/queue/retry", post(queue::retry_all))
        .route(
            "/queue/inject",
            // The file comes base64-encoded in JSON: a third larger, plus the envelope.
            post(queue::inject).layer(DefaultBodyLimit::max(
                state.max_message_bytes / 3 * 4 + 64 * 1024,
            )),
        )
        .route("/queue/{id}", get(queue::show).delete(queue::delete))
        .route("/queue/{id}/retry", post(queue::retry))
        .route("/queue/{id}/hold", post(queue::hold))
        .route("/queue/{id}/release", post(queue::release))
        .route("/queue/{id}/bounce", post(queue::bounce))
        .route("/backup", post(backup::start))
        .route("/backup/{id}", get(backup::chunk).delete(backup::finish))
        .route("/pop3/locks", get(pop3::list_locks))
        .route(
            "/pop3/locks/{address}",
            axum::routing::delete(pop3::break_lock),
        )
        .route("/log/level", get(log::show_level).put(log::set_level))
        .route("/log/trace", get(log::show_trace).put(log::set_trace))
        .route("/aliases", get(d::list_aliases))
        .route(
            "/aliases/{address}",
            put(d::set_alias).delete(d::remove_alias),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .nest("/api/v1", api)
        .layer(middleware::from_fn(count_requests))
        .with_state(state)
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let refuse = |message: &str| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": message })),
        )
            .into_response()
    };
    let Some(token) = token else {
        return refuse("missing bearer token (set TERN_ADMIN_TOKEN or pass --token)");
    };
    match state.dir.check_admin_token(token).await {
        Ok(true) => next.run(request).await,
        Ok(false) => {
            static BAD_TOKENS: Throttle = Throttle::new(std::time::Duration::from_secs(10));
            if let Some(suppressed) = BAD_TOKENS.allow() {
                tracing::warn!(suppressed, "admin API request with an invalid token");
            }
            refuse("invalid admin token")
        }
        Err(e) => error::ApiError::from(e).into_response(),
    }
}

async fn count_requests(request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let response = next.run(request).await;
    metrics::HTTP_REQUESTS
        .with_label_values(&[&method, response.status().as_str()])
        .inc();
    response
}

async fn metrics_page(State(state): State<AppState>) -> impl IntoResponse {
    state.dir.db().refresh_metrics();
    metrics::NODE_READY.set(i64::from(
        !state.shutdown.is_triggered() && state.dir.db().health().is_ok(),
    ));
    metrics::refresh_data_filesystem(&state.doctor.data_dir);
    crate::memory::refresh(state.dir.db());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(),
    )
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.shutdown.is_triggered() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_string());
    }
    if let Err(why) = state.dir.db().health() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {why}\n"),
        );
    }
    match state.dir.domains().await {
        Ok(_) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store unavailable: {e}\n"),
            )
        }
    }
}
