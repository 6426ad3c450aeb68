//! DMARC aggregate reports (RFC 7489 §7.2) that receivers sent about our domains, as the
//! admin API lists them: who reported, the period, and per sending address how many messages
//! passed or failed DMARC and what the receiver did with them. A report sent twice is kept
//! once (keyed by domain, period start, reporter and report id).

use serde::{Deserialize, Serialize};

use crate::{RangeOptions, StoreError, Tx, codec, keys::dmarc_reports as k};

/// Rows of one report kept at most (a report about a large sender can list thousands).
pub const MAX_ROWS: usize = 1000;

/// Reports read at most to list the newest of every domain.
const ALL_READ: usize = 5000;

/// One row of a report: the mail one address sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The sending address.
    pub source_ip: String,
    /// Messages.
    pub count: u64,
    /// The From domain.
    pub header_from: String,
    /// What the receiver did (`none`, `quarantine`, `reject`).
    pub disposition: String,
    /// DMARC's DKIM and SPF results (`pass`, `fail`).
    pub dkim: String,
    /// See `dkim`.
    pub spf: String,
}

/// One report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The domain it is about.
    pub domain: String,
    /// Who sent it, and their address.
    pub org: String,
    /// See `org`.
    pub email: String,
    /// Its id at the reporter.
    pub report_id: String,
    /// The period (Unix seconds).
    pub begin: i64,
    /// See `begin`.
    pub end: i64,
    /// The policy the reporter saw published (`none`, `quarantine`, `reject`).
    pub policy: String,
    /// Messages in all, and those that failed DMARC (neither DKIM nor SPF aligned).
    pub messages: u64,
    /// See `messages`.
    pub failed: u64,
    /// The rows (at most [`MAX_ROWS`], the largest first).
    pub rows: Vec<Row>,
    /// When it was received.
    pub received: i64,
}

/// Keeps `report` (replacing the same one received before).
pub fn put(tx: &Tx, report: &Report) -> Result<(), StoreError> {
    let key = k::report(&report.domain, report.begin, &report.org, &report.report_id);
    codec::write(tx, &key, report)
}

/// The newest `limit` reports, of `domain` or of every domain.
pub async fn list(tx: &Tx, domain: Option<&str>, limit: usize) -> Result<Vec<Report>, StoreError> {
    // One domain's keys are in period order; across domains the newest are found by reading
    // a bounded number of them all.
    let (range, take) = match domain {
        Some(d) => (k::of(d), limit),
        None => (k::all(), ALL_READ),
    };
    let kvs = tx
        .get_prefix(&range, RangeOptions::all().limit(take).reverse())
        .await?;
    let mut out: Vec<Report> = kvs
        .iter()
        .map(|kv| codec::decode(&kv.key, &kv.value))
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| b.begin.cmp(&a.begin).then_with(|| a.domain.cmp(&b.domain)));
    out.truncate(limit);
    Ok(out)
}
