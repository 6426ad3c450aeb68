//! Postmaster notices: every `server.notice_check_seconds` the node evaluates the doctor's
//! conditions (its store, disk and certificate; the queue; the cluster), records each warning
//! or error in the store, and mails the postmaster about it — the same condition at most once
//! per `server.notice_interval_seconds` across the cluster (the store's transaction decides
//! which node sends), or at once when it gets worse. Conditions no longer seen are marked
//! cleared. `GET /api/v1/notices` and `ternctl notices` list them.

mod message;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use prometheus::{
    IntCounter, IntCounterVec, IntGauge, register_int_counter, register_int_counter_vec,
    register_int_gauge,
};
use std::sync::LazyLock;
use tern_store::model::{
    notice::{self, Notice},
    now,
};

use crate::{
    doctor::{Doctor, Finding, Severity},
    shutdown::Shutdown,
};

struct Metrics {
    evaluations: IntCounter,
    active: IntGauge,
    sent: IntCounterVec,
    failed: IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    evaluations: register_int_counter!(
        "tern_notices_evaluations_total",
        "Evaluations of the conditions postmaster notices are about"
    )
    .expect("metric registers once"),
    active: register_int_gauge!(
        "tern_notices_active",
        "Conditions (warnings and errors) this node saw at its last evaluation"
    )
    .expect("metric registers once"),
    sent: register_int_counter_vec!(
        prometheus::Opts::new(
            "tern_notices_sent_total",
            "Postmaster notices this node mailed, by severity"
        ),
        &["severity"]
    )
    .expect("metric registers once"),
    failed: register_int_counter!(
        "tern_notices_failed_total",
        "Postmaster notices that could not be handed to delivery"
    )
    .expect("metric registers once"),
});

/// Exports the families at 0 from start.
pub fn init() {
    let m = &*METRICS;
    for severity in ["warning", "error"] {
        m.sent.with_label_values(&[severity]);
    }
}

/// What the notices need.
pub struct Notices {
    /// The checks.
    pub doctor: Arc<Doctor>,
    /// `server.postmaster` (`None`: postmaster@ the primary domain).
    pub postmaster: Option<String>,
    /// This node in ids: `node-<cluster id>`, or `node` alone.
    pub node: String,
    /// The same condition is mailed at most this often.
    pub interval: Duration,
    /// Conditions are evaluated this often.
    pub every: Duration,
}

/// Runs until shutdown.
pub async fn run(n: Notices, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        if let Err(e) = n.evaluate().await {
            tracing::warn!(error = %e, "postmaster notices: evaluation failed");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(n.every) => {}
        }
    }
}

/// Whether `check` is about this node alone (else about the whole cluster).
fn node_local(check: &str) -> bool {
    ["store.", "disk.", "tls."]
        .iter()
        .any(|p| check.starts_with(p))
}

impl Notices {
    fn id(&self, f: &Finding) -> String {
        let scope = if node_local(f.check) {
            self.node.as_str()
        } else {
            "cluster"
        };
        format!("{scope}/{}/{}", f.check, f.subject)
    }

    async fn evaluate(&self) -> anyhow::Result<()> {
        let found: Vec<Finding> = self
            .doctor
            .conditions()
            .await
            .into_iter()
            .filter(|f| f.severity >= Severity::Warning)
            .collect();
        METRICS.evaluations.inc();
        METRICS.active.set(found.len() as i64);
        let mut seen = BTreeSet::new();
        for f in &found {
            let id = self.id(f);
            seen.insert(id.clone());
            if let Some(n) = self.record(&id, f).await? {
                self.mail(&n).await;
            }
        }
        self.clear(&seen).await?;
        Ok(())
    }

    /// Records a sighting; returns the notice when it is to be mailed now (the claim to send it
    /// is committed with the sighting, so one node sends it).
    async fn record(&self, id: &str, f: &Finding) -> anyhow::Result<Option<Notice>> {
        let interval = self.interval.as_secs() as i64;
        let severity = f.severity.label();
        let notice = self
            .doctor
            .dir
            .db()
            .run(|tx| async move {
                let at = now();
                let mut n = notice::get(&tx, id).await?.unwrap_or_default();
                let worse = n.severity == "warning" && severity == "error";
                if n.id.is_empty() || n.cleared > 0 {
                    n.first_seen = at;
                    n.cleared = 0;
                }
                n.id = id.to_string();
                n.check = f.check.to_string();
                n.subject = f.subject.clone();
                n.severity = severity.to_string();
                n.message = f.message.clone();
                n.fix = f.fix.clone();
                n.last_seen = at;
                let due = n.last_sent == 0 || at - n.last_sent >= interval || worse;
                if due {
                    n.last_sent = at;
                    n.sent += 1;
                }
                notice::put(&tx, &n)?;
                Ok(due.then_some(n))
            })
            .await?;
        Ok(notice)
    }

    /// Marks the conditions this node would see but did not as cleared.
    async fn clear(&self, seen: &BTreeSet<String>) -> anyhow::Result<()> {
        let mine = format!("{}/", self.node);
        let mine = mine.as_str();
        self.doctor
            .dir
            .db()
            .run(|tx| async move {
                let at = now();
                for mut n in notice::all(&tx).await? {
                    let ours = n.id.starts_with(mine) || n.id.starts_with("cluster/");
                    if ours && n.cleared == 0 && !seen.contains(&n.id) {
                        n.cleared = at;
                        notice::put(&tx, &n)?;
                    }
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn mail(&self, n: &Notice) {
        let q = &self.doctor.queue;
        let to = match crate::smtp::postmaster::address(
            &self.doctor.dir,
            self.postmaster.as_deref(),
            &self.doctor.hostname,
        )
        .await
        {
            Ok(Some(a)) => a.to_string(),
            Ok(None) => {
                METRICS.failed.inc();
                tracing::warn!(notice = %n.id, "postmaster notice not sent: no postmaster address (set server.postmaster or add a domain)");
                return;
            }
            Err(e) => {
                METRICS.failed.inc();
                tracing::warn!(notice = %n.id, error = %e, "postmaster notice not sent: the postmaster address cannot be read");
                return;
            }
        };
        let secs = self.interval.as_secs();
        let every = if secs >= 3600 {
            format!("{} hours", secs / 3600)
        } else {
            format!("{} minutes", (secs / 60).max(1))
        };
        let raw = message::build(n, &self.doctor.hostname, &to, &self.node, &every);
        let why = format!("postmaster notice about {}", n.id);
        match crate::queue::inject::inject(q, &raw, Some(String::new()), vec![to.clone()], &why)
            .await
        {
            Ok(id) => {
                METRICS.sent.with_label_values(&[n.severity.as_str()]).inc();
                tracing::info!(notice = %n.id, queue_id = %id, to = %to, "postmaster notice sent");
            }
            Err(e) => {
                METRICS.failed.inc();
                tracing::warn!(notice = %n.id, error = %e, "postmaster notice could not be handed to delivery");
            }
        }
    }
}
