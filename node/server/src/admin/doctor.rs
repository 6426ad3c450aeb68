//! `GET /doctor`: every finding of the troubleshooter, with counts by severity and the worst.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::AppState;
use crate::doctor::Severity;

/// The findings in check order, the error and warning counts, and the worst severity.
pub async fn run(State(s): State<AppState>) -> Json<Value> {
    let findings = s.doctor.examine().await;
    let worst = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    let count = |sev: Severity| findings.iter().filter(|f| f.severity == sev).count();
    tracing::info!(
        errors = count(Severity::Error),
        warnings = count(Severity::Warning),
        "doctor ran"
    );
    Json(json!({
        "worst": worst,
        "errors": count(Severity::Error),
        "warnings": count(Severity::Warning),
        "findings": findings,
    }))
}
