//! `GET /dmarc-reports?domain=…&limit=…`: the DMARC aggregate reports receivers sent about our
//! domains (collected from mail to `smtp.checks.auth.dmarc_report_addresses`), the newest
//! period first; `limit` defaults to 50 (at most 1000).

use axum::{
    Json,
    extract::{Query, State},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::model::{ModelError, dmarc_reports};

use super::{AppState, error::ApiResult};

/// The filter.
#[derive(Deserialize)]
pub struct Filter {
    domain: Option<String>,
    limit: Option<usize>,
}

/// The reports.
pub async fn list(State(s): State<AppState>, Query(f): Query<Filter>) -> ApiResult<Json<Value>> {
    let limit = f.limit.unwrap_or(50).clamp(1, 1000);
    let domain = f.domain.map(|d| d.trim().to_ascii_lowercase());
    let d = domain.as_deref();
    let reports = s
        .dir
        .db()
        .run(|tx| async move { dmarc_reports::list(&tx, d, limit).await })
        .await
        .map_err(ModelError::from)?;
    Ok(Json(json!({ "reports": reports })))
}
