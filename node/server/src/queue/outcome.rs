//! What an attempt does to a queue entry, without I/O: per-recipient statuses, the attempt in
//! the history, the next attempt from the retry schedule, expiry after the maximum lifetime,
//! and which delivery status notifications (failure, delay, success) are due under each
//! recipient's NOTIFY.

use std::collections::BTreeMap;

use tern_store::model::queue::{Attempt, Notify, QueueEntry, RecipientStatus};

use crate::config::queue::QueueConfig;

/// Seconds between delay warnings after the first.
const DELAY_REPEAT: i64 = 86_400;

/// The result of an attempt for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Result {
    /// Accepted by the remote server.
    Delivered(String),
    /// Temporary failure; the text starts with the reply code or an enhanced status.
    Deferred(String),
    /// Permanent failure; likewise.
    Failed(String),
}

/// Which notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Action `failed`.
    Failure,
    /// Action `delayed`.
    Delay,
    /// Action `relayed` (accepted by a server that may not return DSNs itself).
    Success,
}

/// One recipient in a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecipient {
    /// The address.
    pub address: String,
    /// ORCPT.
    pub orcpt: Option<String>,
    /// The reply or error (Diagnostic-Code).
    pub diagnostic: String,
}

/// A notification to send to the envelope sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Failure, delay or success.
    pub kind: ReportKind,
    /// The recipients it is about.
    pub recipients: Vec<ReportRecipient>,
}

/// The entry after the attempt, and what to tell the sender.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The updated entry.
    pub entry: QueueEntry,
    /// No recipient is left to deliver: the entry goes.
    pub done: bool,
    /// Notifications to send.
    pub reports: Vec<Report>,
}

fn wants(notify: Notify, bit: u8) -> bool {
    if notify.0 & Notify::NEVER != 0 {
        return false;
    }
    if notify.0 == 0 {
        // RFC 3461 §4.1: without NOTIFY, failures (and, by custom, delays) are reported.
        return bit != Notify::SUCCESS;
    }
    notify.0 & bit != 0
}

/// Applies `results` (by recipient address) from an attempt at `host` ending at `now`.
pub fn apply(
    entry: &QueueEntry,
    results: &BTreeMap<String, Result>,
    host: &str,
    config: &QueueConfig,
    now: i64,
) -> Applied {
    let mut e = entry.clone();
    e.attempts += 1;
    let mut failed = Vec::new();
    let mut delivered = Vec::new();
    let (mut ok, mut later, mut bad) = (0, 0, 0);
    let mut last = String::new();
    for r in e.recipients.iter_mut().filter(|r| r.status.is_open()) {
        let Some(result) = results.get(&r.address) else {
            continue;
        };
        match result {
            Result::Delivered(reply) => {
                ok += 1;
                r.status = RecipientStatus::Delivered {
                    reply: reply.clone(),
                };
                if wants(r.notify, Notify::SUCCESS) {
                    delivered.push(recipient(&r.address, &r.orcpt, reply));
                }
            }
            Result::Deferred(reply) => {
                later += 1;
                last = reply.clone();
                r.status = RecipientStatus::Deferred {
                    reply: reply.clone(),
                };
            }
            Result::Failed(reply) => {
                bad += 1;
                last = reply.clone();
                r.status = RecipientStatus::Failed {
                    reply: reply.clone(),
                };
                if wants(r.notify, Notify::FAILURE) {
                    failed.push(recipient(&r.address, &r.orcpt, reply));
                }
            }
        }
    }
    let mut summary = format!("delivered {ok}, deferred {later}, failed {bad}");
    if !last.is_empty() {
        summary.push_str(&format!(": {last}"));
    }
    let age = now - e.created;
    let expired = age >= config.max_lifetime.as_secs() as i64;
    if expired {
        for r in e.recipients.iter_mut().filter(|r| r.status.is_open()) {
            let reply = match &r.status {
                RecipientStatus::Deferred { reply } => format!(
                    "4.4.7 delivery period expired after {} days; last error: {reply}",
                    age / 86_400
                ),
                _ => format!("4.4.7 delivery period expired after {} days", age / 86_400),
            };
            if wants(r.notify, Notify::FAILURE) {
                failed.push(recipient(&r.address, &r.orcpt, &reply));
            }
            r.status = RecipientStatus::Failed { reply };
        }
        summary.push_str("; lifetime expired, returned to sender");
    }
    e.record(Attempt {
        at: now,
        host: host.to_string(),
        result: summary,
    });
    let done = e.open_recipients().next().is_none();
    let mut reports = Vec::new();
    if !done {
        e.next_attempt = now + config.retry_after(&e.domain, e.attempts).as_secs() as i64;
        if let Some(first) = config.delay_warning {
            let due = first.as_secs() as i64 + i64::from(e.delay_warnings) * DELAY_REPEAT;
            if age >= due {
                e.delay_warnings += 1;
                let delayed: Vec<_> = e
                    .recipients
                    .iter()
                    .filter(|r| r.status.is_open() && wants(r.notify, Notify::DELAY))
                    .map(|r| {
                        let reply = match &r.status {
                            RecipientStatus::Deferred { reply } => reply.as_str(),
                            _ => "not tried yet",
                        };
                        recipient(&r.address, &r.orcpt, reply)
                    })
                    .collect();
                if !delayed.is_empty() {
                    reports.push(Report {
                        kind: ReportKind::Delay,
                        recipients: delayed,
                    });
                }
            }
        }
    }
    if !failed.is_empty() {
        reports.push(Report {
            kind: ReportKind::Failure,
            recipients: failed,
        });
    }
    if !delivered.is_empty() {
        reports.push(Report {
            kind: ReportKind::Success,
            recipients: delivered,
        });
    }
    if e.sender.is_empty() {
        // Never a notification about a notification (RFC 3461 §6.2 / RFC 5321 §4.5.5).
        reports.clear();
    }
    Applied {
        entry: e,
        done,
        reports,
    }
}

fn recipient(address: &str, orcpt: &Option<String>, diagnostic: &str) -> ReportRecipient {
    ReportRecipient {
        address: address.to_string(),
        orcpt: orcpt.clone(),
        diagnostic: diagnostic.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_store::{
        blob::BlobId,
        model::queue::{QueuedRecipient, Ret},
    };

    use crate::config::queue::RawQueue;

    fn config() -> QueueConfig {
        QueueConfig::try_from(&RawQueue::default()).expect("defaults")
    }

    fn entry(sender: &str, notify: &[u8]) -> QueueEntry {
        QueueEntry {
            id: "q1".into(),
            domain: "remote.test".into(),
            shard: 0,
            sender: sender.into(),
            recipients: notify
                .iter()
                .enumerate()
                .map(|(i, n)| QueuedRecipient {
                    address: format!("r{i}@remote.test"),
                    orcpt: None,
                    notify: Notify(*n),
                    status: RecipientStatus::Pending,
                })
                .collect(),
            blob: BlobId([0; 32]),
            skip: 0,
            size: 10,
            envid: None,
            ret: Some(Ret::Headers),
            smtputf8: false,
            body_8bit: false,
            submitted_by: None,
            created: 1_000,
            next_attempt: 1_000,
            attempts: 0,
            held: false,
            history: Vec::new(),
            delay_warnings: 0,
        }
    }

    fn results(list: &[(&str, Result)]) -> BTreeMap<String, Result> {
        list.iter()
            .map(|(a, r)| (a.to_string(), r.clone()))
            .collect()
    }

    #[test]
    fn partial_failure_bounces_only_the_failed_recipient_and_retries_the_rest() {
        let e = entry("s@local.test", &[0, 0, 0]);
        let r = results(&[
            ("r0@remote.test", Result::Delivered("250 ok".into())),
            (
                "r1@remote.test",
                Result::Failed("550 5.1.1 no such user".into()),
            ),
            (
                "r2@remote.test",
                Result::Deferred("451 4.3.0 try later".into()),
            ),
        ]);
        let a = apply(&e, &r, "mx.remote.test", &config(), 1_010);
        assert!(!a.done);
        assert_eq!(a.entry.attempts, 1);
        assert_eq!(a.entry.next_attempt, 1_010 + 120);
        assert_eq!(a.reports.len(), 1);
        assert_eq!(a.reports[0].kind, ReportKind::Failure);
        assert_eq!(a.reports[0].recipients[0].address, "r1@remote.test");
        assert_eq!(a.entry.history.len(), 1);
        assert!(
            a.entry.history[0]
                .result
                .contains("delivered 1, deferred 1, failed 1")
        );
        // Second attempt delivers the last one: done, no more reports.
        let r = results(&[("r2@remote.test", Result::Delivered("250 ok".into()))]);
        let b = apply(&a.entry, &r, "mx.remote.test", &config(), 1_200);
        assert!(b.done);
        assert!(b.reports.is_empty());
    }

    #[test]
    fn notify_never_success_and_null_sender() {
        let e = entry(
            "s@local.test",
            &[
                Notify::NEVER,
                Notify::SUCCESS,
                Notify::FAILURE | Notify::SUCCESS,
            ],
        );
        let r = results(&[
            ("r0@remote.test", Result::Failed("550 5.1.1 unknown".into())),
            ("r1@remote.test", Result::Delivered("250 ok".into())),
            ("r2@remote.test", Result::Failed("552 5.2.2 full".into())),
        ]);
        let a = apply(&e, &r, "mx", &config(), 1_001);
        assert!(a.done);
        let kinds: Vec<_> = a
            .reports
            .iter()
            .map(|r| (r.kind, r.recipients.len()))
            .collect();
        assert_eq!(
            kinds,
            vec![(ReportKind::Failure, 1), (ReportKind::Success, 1)]
        );
        assert_eq!(a.reports[0].recipients[0].address, "r2@remote.test");
        let null = apply(
            &entry("", &[0]),
            &results(&[("r0@remote.test", Result::Failed("550 x".into()))]),
            "mx",
            &config(),
            1_001,
        );
        assert!(null.done && null.reports.is_empty());
    }

    #[test]
    fn delay_warning_once_then_daily_and_expiry_bounces() {
        let cfg = config();
        let mut e = entry("s@local.test", &[0]);
        let deferred = results(&[(
            "r0@remote.test",
            Result::Deferred("4.4.1 could not connect".into()),
        )]);
        let a = apply(&e, &deferred, "mx", &cfg, 1_000 + 3_600);
        assert!(a.reports.is_empty());
        let b = apply(&a.entry, &deferred, "mx", &cfg, 1_000 + 4 * 3_600);
        assert_eq!(b.reports.len(), 1);
        assert_eq!(b.reports[0].kind, ReportKind::Delay);
        let c = apply(&b.entry, &deferred, "mx", &cfg, 1_000 + 5 * 3_600);
        assert!(c.reports.is_empty(), "the next warning is a day later");
        e = c.entry;
        let d = apply(&e, &deferred, "mx", &cfg, 1_000 + 5 * 86_400);
        assert!(d.done);
        assert_eq!(d.reports.len(), 1);
        assert_eq!(d.reports[0].kind, ReportKind::Failure);
        assert!(
            d.reports[0].recipients[0]
                .diagnostic
                .contains("4.4.7 delivery period expired")
        );
        assert!(
            d.reports[0].recipients[0]
                .diagnostic
                .contains("could not connect")
        );
    }
}
