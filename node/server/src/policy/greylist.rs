//! Greylisting, gated by the spam score (`[smtp.checks.greylist]`, off by default): a message
//! whose score falls in the grey band is refused for now (`451 4.7.1`) the first time each of
//! its triplets (client network — the /24, or /64 for IPv6 —, envelope sender, recipient) is
//! tried; a retry after the delay passes, and the triplet is then accepted at once until it
//! has been quiet for `pass_days`. Mail below the band (or above it: Junk or refusal decide
//! that) is never delayed. Records live in the store, so every node agrees.

use std::sync::LazyLock;

use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::{Reply, reply};
use tern_store::{
    Db,
    model::greylist::{self, Decision, Timing},
};

use super::Facts;

/// `[smtp.checks.greylist]`, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GreylistConfig {
    /// The grey band: from this score…
    pub from_score: f64,
    /// …up to (not including) this one.
    pub to_score: f64,
    /// Its timing.
    pub timing: Timing,
}

static DECISIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_greylist_total",
            "Greylisted messages by decision (deferred, retried: a retry passed, known: a \
             triplet that passed before)"
        ),
        &["decision"]
    )
    .expect("metric registers once");
    for d in ["deferred", "retried", "known"] {
        c.with_label_values(&[d]);
    }
    c
});

/// The greylist.
pub struct Greylist {
    config: GreylistConfig,
    db: Db,
}

impl Greylist {
    /// The greylist on `db`; its metrics are exported at 0 from now.
    pub fn new(config: GreylistConfig, db: Db) -> Self {
        LazyLock::force(&DECISIONS);
        Self { config, db }
    }

    /// The refusal for a message scored `score`, when it is greylisted. A store failure lets
    /// the message through (greylisting is a filter, not a gate worth losing mail over).
    pub async fn check(&self, facts: &Facts<'_>, score: f64) -> Option<Reply> {
        if !(self.config.from_score..self.config.to_score).contains(&score) {
            return None;
        }
        let net = crate::limits::network(facts.peer);
        let sender = match facts.sender.unwrap_or("") {
            "" => "<>".to_string(),
            s => s.to_ascii_lowercase(),
        };
        let triplets: Vec<String> = facts
            .recipients
            .iter()
            .map(|r| format!("{net}|{sender}|{}", r.to_ascii_lowercase()))
            .collect();
        let (now, timing) = (tern_store::model::now(), self.config.timing);
        let decisions = self
            .db
            .transact(|tx| {
                let triplets = triplets.clone();
                async move {
                    let mut out = Vec::with_capacity(triplets.len());
                    for t in &triplets {
                        out.push(greylist::check(&tx, t, now, timing).await?);
                    }
                    Ok::<_, tern_store::StoreError>(out)
                }
            })
            .await;
        let decisions = match decisions {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "greylist unreadable; the message is not delayed");
                return None;
            }
        };
        let wait = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Wait(s) => Some(*s),
                _ => None,
            })
            .max();
        let label = match (wait, decisions.contains(&Decision::Retried)) {
            (Some(_), _) => "deferred",
            (None, true) => "retried",
            (None, false) => "known",
        };
        DECISIONS.with_label_values(&[label]).inc();
        let seconds = wait?;
        tracing::info!(peer = %facts.peer, sender = %sender, score, seconds, "greylisted");
        Some(reply::greylisted(seconds))
    }
}
