//! Collecting DMARC aggregate reports: mail accepted for an address listed in
//! `smtp.checks.auth.dmarc_report_addresses` (the `rua=` of our domains' DMARC records) is
//! delivered as usual and also read, in the background, as a report (XML, gzip or zip, parsed
//! by mail-auth); what it says is kept in the store for the admin API
//! (`GET /dmarc-reports`, `ternctl dmarc reports`). Mail that is not a report is only counted.
//! Sending reports of our own is not built.

use std::sync::LazyLock;

use mail_auth::report::{ActionDisposition, Disposition, DmarcResult, Report};
use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_store::{
    Db,
    model::dmarc_reports::{self, MAX_ROWS, Row},
};

/// Largest report kept, decompressed.
const MAX_REPORT_BYTES: usize = 32 << 20;

static COLLECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_dmarc_reports_total",
            "Mail to the DMARC report addresses, by result (stored, unparsable, failed: the \
             store refused it)"
        ),
        &["result"]
    )
    .expect("metric registers once");
    for r in ["stored", "unparsable", "failed"] {
        c.with_label_values(&[r]);
    }
    c
});

/// Exports the counts at 0.
pub fn export_metrics() {
    LazyLock::force(&COLLECTED);
}

fn policy(p: Disposition) -> &'static str {
    match p {
        Disposition::None => "none",
        Disposition::Quarantine => "quarantine",
        Disposition::Reject => "reject",
        Disposition::Unspecified => "unspecified",
    }
}

fn disposition(d: ActionDisposition) -> &'static str {
    match d {
        ActionDisposition::None | ActionDisposition::Pass => "none",
        ActionDisposition::Quarantine => "quarantine",
        ActionDisposition::Reject => "reject",
        ActionDisposition::Unspecified => "unspecified",
    }
}

fn result(r: DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail => "fail",
        DmarcResult::Unspecified => "unspecified",
    }
}

/// What is kept of `report`, received at `now`.
pub fn stored(report: &Report, now: i64) -> dmarc_reports::Report {
    let mut rows: Vec<Row> = report
        .records()
        .iter()
        .map(|r| Row {
            source_ip: r.source_ip().map(|ip| ip.to_string()).unwrap_or_default(),
            count: u64::from(r.count()),
            header_from: r.header_from().to_ascii_lowercase(),
            disposition: disposition(r.action_disposition()).into(),
            dkim: result(r.dmarc_dkim_result()).into(),
            spf: result(r.dmarc_spf_result()).into(),
        })
        .collect();
    let messages = rows.iter().map(|r| r.count).sum();
    let failed = rows
        .iter()
        .filter(|r| r.dkim != "pass" && r.spf != "pass")
        .map(|r| r.count)
        .sum();
    rows.sort_by_key(|r| std::cmp::Reverse(r.count));
    rows.truncate(MAX_ROWS);
    dmarc_reports::Report {
        domain: report.domain().trim().to_ascii_lowercase(),
        org: report.org_name().to_string(),
        email: report.email().to_string(),
        report_id: report.report_id().to_string(),
        begin: report.date_range_begin() as i64,
        end: report.date_range_end() as i64,
        policy: policy(report.p()).into(),
        messages,
        failed,
        rows,
        received: now,
    }
}

/// Whether mail to `recipients` is read as a report, given the report addresses (lower case).
pub fn for_reports(addresses: &[String], recipients: &[&str]) -> bool {
    !addresses.is_empty()
        && recipients
            .iter()
            .any(|r| addresses.iter().any(|a| a.eq_ignore_ascii_case(r)))
}

/// Reads `message` (queue id `id`) as a report and keeps it, in the background.
pub fn collect(db: Db, id: String, message: Vec<u8>) {
    tokio::spawn(async move {
        let parsed =
            tokio::task::spawn_blocking(move || Report::parse_rfc5322(&message, MAX_REPORT_BYTES))
                .await;
        let report = match parsed {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                COLLECTED.with_label_values(&["unparsable"]).inc();
                tracing::info!(msg = %id, error = ?e, "mail to a DMARC report address is not a report");
                return;
            }
            Err(e) => {
                COLLECTED.with_label_values(&["unparsable"]).inc();
                tracing::warn!(msg = %id, error = %e, "reading a DMARC report failed");
                return;
            }
        };
        let kept = stored(&report, tern_store::model::now());
        let k = &kept;
        match db.run(|tx| async move { dmarc_reports::put(&tx, k) }).await {
            Ok(()) => {
                COLLECTED.with_label_values(&["stored"]).inc();
                tracing::info!(msg = %id, domain = %kept.domain, org = %kept.org, messages = kept.messages, failed = kept.failed, "DMARC report kept");
            }
            Err(e) => {
                COLLECTED.with_label_values(&["failed"]).inc();
                tracing::warn!(msg = %id, error = %e, "cannot keep a DMARC report");
            }
        }
    });
}
