//! `GET|PUT|DELETE /domains/{name}/dkim`: a local domain's DKIM signing key. PUT generates an
//! Ed25519 key, or imports the PEM key given (RSA ≥ 2048 bits or Ed25519); every answer shows
//! the TXT record to publish. The private key is never returned.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::model::dkim::{DkimAlgorithm, DkimKey};

use super::{
    AppState,
    error::{ApiError, ApiResult},
};

/// `PUT` body.
#[derive(Deserialize)]
pub struct SetDkim {
    selector: String,
    /// PEM private key; absent: generate Ed25519.
    private_key: Option<String>,
}

fn view(domain: &str, key: &DkimKey) -> Value {
    json!({
        "domain": domain,
        "selector": key.selector,
        "algorithm": match key.algorithm {
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        },
        "dns_name": format!("{}._domainkey.{domain}", key.selector),
        "dns_txt": crate::dkim::dns_record(key),
        "created": key.created,
    })
}

/// Shows the key and its DNS record.
pub async fn show(State(s): State<AppState>, Path(domain): Path<String>) -> ApiResult<Json<Value>> {
    let key = s.dir.dkim(&domain).await?.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("{domain} has no DKIM key (set one with `ternctl dkim set {domain}`)"),
        )
    })?;
    Ok(Json(json!({ "dkim": view(&domain, &key) })))
}

/// Sets (generates or imports) the key.
pub async fn set(
    State(s): State<AppState>,
    Path(domain): Path<String>,
    Json(body): Json<SetDkim>,
) -> ApiResult<Json<Value>> {
    let selector = body.selector.trim();
    if selector.is_empty()
        || !selector
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("selector {selector:?}: letters, digits, '-' and '.' only"),
        ));
    }
    let key = match body.private_key.as_deref() {
        Some(pem) => crate::dkim::import(selector, pem),
        None => crate::dkim::generate_ed25519(selector),
    }
    .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    s.dir.set_dkim(&domain, key).await?;
    let stored = s
        .dir
        .dkim(&domain)
        .await?
        .ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "key not stored".into()))?;
    tracing::info!(domain, selector, "DKIM key set");
    Ok(Json(json!({ "dkim": view(&domain, &stored) })))
}

/// Stops signing.
pub async fn remove(
    State(s): State<AppState>,
    Path(domain): Path<String>,
) -> ApiResult<Json<Value>> {
    s.dir.remove_dkim(&domain).await?;
    tracing::info!(domain, "DKIM key removed");
    Ok(Json(json!({ "removed": domain })))
}
