//! `GET /doctor`: every finding of the troubleshooter, with counts by severity and the worst.

use std::sync::LazyLock;

use axum::{Json, extract::State};
use prometheus::{IntGaugeVec, Opts, register_int_gauge_vec};
use serde_json::{Value, json};

use super::AppState;
use crate::doctor::Severity;

/// `tern_doctor_findings{severity}`: the findings of the last run.
static FINDINGS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "tern_doctor_findings",
            "Findings of the last doctor run on this node, by severity"
        ),
        &["severity"]
    )
    .expect("metric registers once")
});

/// Exports the family at 0 from start.
pub fn init() {
    for s in [
        Severity::Ok,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
    ] {
        FINDINGS.with_label_values(&[s.label()]);
    }
}

/// The findings in check order, the error and warning counts, and the worst severity.
pub async fn run(State(s): State<AppState>) -> Json<Value> {
    let findings = s.doctor.examine().await;
    let worst = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    let count = |sev: Severity| findings.iter().filter(|f| f.severity == sev).count();
    for s in [
        Severity::Ok,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
    ] {
        FINDINGS
            .with_label_values(&[s.label()])
            .set(count(s) as i64);
    }
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
