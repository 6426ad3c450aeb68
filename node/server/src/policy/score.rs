//! The spam score, at the `data` stage after every other check (`"score"` last in a listener's
//! checks): the points the other checks marked the message with (authentication results, DNS
//! list weights under their threshold), those of the content rules that match
//! ([`super::content`]), points for a message whose fuzzy digest ([`super::fuzzy`]) the
//! cluster has seen `similar_threshold` times within the window (a campaign), and points for
//! one whose digest users reported as spam ([`super::learn`]), added up. Each local recipient's
//! thresholds are its account's own, else its domain's, else the configuration's: at its
//! `junk` or more its copy is filed into Junk; the message is refused with `550 5.7.1` giving
//! the score and its reasons only when it reaches every local recipient's `reject` (the
//! others' copies go to Junk). A score in the grey band may be greylisted first
//! ([`super::greylist`]). Every message gets `X-Spam-Score` and `X-Spam-Status` (`Yes`/`No`,
//! the score, the threshold and each item). A false-positive guard: for mail whose From
//! domain is authenticated (DMARC passing through an aligned DKIM signature) no single item
//! counts for more than just under `junk`, so one rule alone never junks it.

use std::{
    collections::BTreeSet,
    sync::{Arc, LazyLock, RwLock},
    time::Duration,
};

use mail_parser::{Message, MessageParser};
use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::reply;
use tern_store::{
    Db,
    model::{
        spam_rules::{self, StoredRule},
        spam_thresholds::{self, Thresholds},
    },
};

use super::{
    Check, CheckFuture, Facts, Marks, Stage, Verdict,
    content::{Rule, Written},
    fuzzy,
    greylist::Greylist,
    learn,
};
use crate::limits::counters::{Counters, Totals};

/// Counting near-identical messages.
#[derive(Debug, Clone)]
pub struct Similar {
    /// Copies within the window from which a message counts as bulk.
    pub threshold: u32,
    /// The window.
    pub window: Duration,
    /// Its points.
    pub points: f64,
}

/// Counting users' reports of near-identical messages ([`super::learn`]).
#[derive(Debug, Clone)]
pub struct Reported {
    /// Reports of spam more than of ham within the window from which a message counts as
    /// reported (0: not counted).
    pub threshold: u32,
    /// The window.
    pub window: Duration,
    /// Its points.
    pub points: f64,
}

/// `[smtp.checks.score]`, validated.
#[derive(Debug, Clone)]
pub struct ScoreConfig {
    /// From this score on, into Junk.
    pub junk: f64,
    /// From this score on, refused.
    pub reject: f64,
    /// The content rules.
    pub rules: Vec<Rule>,
    /// Counting near-identical messages, when on.
    pub similar: Option<Similar>,
    /// Counting users' reports.
    pub reported: Reported,
    /// Whether users' moves into and out of Junk are learned from.
    pub learn: bool,
    /// Greylisting the grey band, when on.
    pub greylist: Option<super::greylist::GreylistConfig>,
}

static VERDICTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_spam_verdicts_total",
            "Messages scored, by outcome (ham, junk, reject)"
        ),
        &["verdict"]
    )
    .expect("metric registers once");
    for v in ["ham", "junk", "reject"] {
        c.with_label_values(&[v]);
    }
    c
});

static HITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "tern_spam_rule_hits_total",
            "Content rules that matched, by rule (BULK_SIMILAR: the fuzzy digest's count; \
             REPORTED_SPAM: users' reports of it)"
        ),
        &["rule"]
    )
    .expect("metric registers once")
});

/// The check.
pub struct Score {
    config: ScoreConfig,
    counters: Arc<Counters>,
    db: Db,
    greylist: Option<Greylist>,
    /// The rules added through the admin API, compiled, with their version (-1: not read).
    stored: RwLock<(i64, Arc<Vec<Rule>>)>,
}

impl Score {
    /// The check, counting digests in `counters` and reading the domains' and accounts' own
    /// thresholds from `db`; its metrics are exported at 0 from now.
    pub fn new(config: ScoreConfig, counters: Arc<Counters>, db: Db) -> Self {
        LazyLock::force(&VERDICTS);
        for r in &config.rules {
            HITS.with_label_values(&[&r.name]);
        }
        HITS.with_label_values(&["BULK_SIMILAR"]);
        HITS.with_label_values(&["REPORTED_SPAM"]);
        let greylist = config.greylist.map(|g| Greylist::new(g, db.clone()));
        Self {
            config,
            counters,
            db,
            greylist,
            stored: RwLock::new((-1, Arc::new(Vec::new()))),
        }
    }

    /// The items of `message` (`parsed`, when it parses): the marks', then the rules' and
    /// the digest's (its `bands` counted as seen).
    fn items(
        &self,
        message: &[u8],
        parsed: Option<&Message<'_>>,
        bands: &[String],
        marks: &Marks,
        stored: &[Rule],
    ) -> Vec<(String, f64)> {
        let mut items = marks.score.clone();
        let Some(parsed) = parsed else {
            return items;
        };
        for rule in self.config.rules.iter().chain(stored) {
            if rule.matches(parsed, message.len()) {
                HITS.with_label_values(&[&rule.name]).inc();
                items.push((rule.name.clone(), rule.points));
            }
        }
        if let Some(similar) = &self.config.similar {
            let seen = bands
                .iter()
                .map(|band| self.counters.hit("fuzzy", similar.window, band, 1))
                .fold(0.0, f64::max);
            if seen >= f64::from(similar.threshold) {
                HITS.with_label_values(&["BULK_SIMILAR"]).inc();
                items.push(("BULK_SIMILAR".into(), similar.points));
            }
        }
        items
    }

    /// The `REPORTED_SPAM` item, when users reported a band as spam often enough (more than
    /// as ham) across the cluster: `reported` holds the store's totals of spam and ham
    /// reports of the message's bands.
    fn reported(&self, reported: Option<(Totals, Totals)>) -> Option<(String, f64)> {
        let (spam, ham) = reported?;
        let net = self
            .counters
            .absorb(spam)
            .iter()
            .zip(&self.counters.absorb(ham))
            .map(|(s, h)| s - h)
            .fold(0.0, f64::max);
        if net < f64::from(self.config.reported.threshold) {
            return None;
        }
        HITS.with_label_values(&["REPORTED_SPAM"]).inc();
        Some(("REPORTED_SPAM".into(), self.config.reported.points))
    }

    /// What the score needs from the store, in one snapshot read: the thresholds of each
    /// local account in `accounts` (their own, else their domain's, else the
    /// configuration's; the configuration's alone when the store cannot say), the rules
    /// added through the admin API when their version moved (compiled here), and the
    /// reports of the digest's `bands` when reports are counted.
    async fn read(
        &self,
        accounts: &[u64],
        bands: &[String],
    ) -> (Vec<(u64, f64, f64)>, Option<(Totals, Totals)>) {
        let configured = Thresholds {
            junk: Some(self.config.junk),
            reject: Some(self.config.reject),
        };
        let known = self.stored.read().unwrap_or_else(|p| p.into_inner()).0;
        let r = &self.config.reported;
        let count_reports = r.threshold > 0 && !bands.is_empty();
        let read = self
            .db
            .run(|tx| async move {
                let mut out = Vec::with_capacity(accounts.len());
                for id in accounts {
                    out.push((*id, spam_thresholds::effective(&tx, *id).await?));
                }
                let version = spam_rules::version(&tx).await?;
                let rules = match version == known {
                    true => None,
                    false => Some((version, spam_rules::all(&tx).await?)),
                };
                let reports = match count_reports {
                    false => None,
                    true => Some((
                        Totals::read(&tx, learn::SPAM_SPACE, r.window, bands).await?,
                        Totals::read(&tx, learn::HAM_SPACE, r.window, bands).await?,
                    )),
                };
                Ok((out, rules, reports))
            })
            .await;
        let (set, reports) = match read {
            Ok((set, rules, reports)) => {
                if let Some((version, rules)) = rules {
                    self.load(version, &rules);
                }
                (set, reports)
            }
            Err(e) => {
                tracing::warn!(error = %e, "spam thresholds, rules and reports unreadable; the configured thresholds hold");
                (Vec::new(), None)
            }
        };
        let thresholds = accounts
            .iter()
            .map(|id| {
                let t = set
                    .iter()
                    .find(|(a, _)| a == id)
                    .map_or(configured, |(_, t)| t.over(configured));
                let reject = t.reject.unwrap_or(self.config.reject);
                // Past its reject threshold, Junk is what is left for an account another
                // recipient's acceptance outvoted.
                let junk = t.junk.unwrap_or(self.config.junk).min(reject);
                (*id, junk, reject)
            })
            .collect();
        (thresholds, reports)
    }

    /// Compiles the stored rules of `version` (each was checked when it was set; one that no
    /// longer compiles is skipped and logged).
    fn load(&self, version: i64, rules: &[StoredRule]) {
        let compiled: Vec<Rule> = rules
            .iter()
            .filter(|r| !self.config.rules.iter().any(|c| c.name == r.name))
            .filter_map(|r| match Rule::parse(&Written::stored(r)) {
                Ok(rule) => {
                    HITS.with_label_values(&[&rule.name]);
                    Some(rule)
                }
                Err(why) => {
                    tracing::warn!(rule = %r.name, why, "stored spam rule skipped");
                    None
                }
            })
            .collect();
        tracing::info!(version, rules = compiled.len(), "spam rules reloaded");
        *self.stored.write().unwrap_or_else(|p| p.into_inner()) = (version, Arc::new(compiled));
    }

    async fn judge(&self, facts: &Facts<'_>, marks: &Marks) -> Verdict {
        let Some(message) = facts.message else {
            return Verdict::Pass;
        };
        let parsed = MessageParser::default().parse(message);
        let bands = match (
            &parsed,
            self.config.similar.is_some() || self.config.reported.threshold > 0,
        ) {
            (Some(parsed), true) => fuzzy::of_message(parsed),
            _ => Vec::new(),
        };
        let (thresholds, reports) = self.read(facts.accounts, &bands).await;
        let stored = self
            .stored
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone();
        let mut items = self.items(message, parsed.as_ref(), &bands, marks, &stored);
        items.extend(self.reported(reports));
        // The junk threshold the headers report: the recipients' when they share one.
        let junk = match thresholds.split_first() {
            Some(((_, j, _), rest)) if rest.iter().all(|(_, o, _)| o == j) => *j,
            _ => self.config.junk,
        };
        // Refused only when every local recipient's threshold refuses it.
        let reject = thresholds
            .iter()
            .map(|(_, _, r)| *r)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))))
            .unwrap_or(self.config.reject);
        if marks.aligned_author {
            let cap = junk - 0.1;
            for (_, p) in items.iter_mut() {
                *p = p.min(cap);
            }
        }
        let total: f64 = items.iter().map(|(_, p)| p).sum();
        let listed = items
            .iter()
            .map(|(name, p)| format!("{name}({p:.1})"))
            .collect::<Vec<_>>()
            .join(",");
        let spam = total >= junk;
        let headers = vec![
            format!("X-Spam-Score: {total:.1}\r\n"),
            format!(
                "X-Spam-Status: {}, score={total:.1} required={junk:.1}\r\n\ttests={}\r\n",
                if spam { "Yes" } else { "No" },
                if listed.is_empty() { "none" } else { &listed }
            ),
        ];
        if total >= reject {
            VERDICTS.with_label_values(&["reject"]).inc();
            tracing::info!(peer = %facts.peer, score = total, tests = %listed, "refused as spam");
            return Verdict::Reject(reply::spam_refused(format!(
                "message refused as spam (score {total:.1}, limit {reject:.1}: {listed})"
            )));
        }
        if let Some(greylist) = &self.greylist
            && let Some(refusal) = greylist.check(facts, total).await
        {
            return Verdict::Tempfail(refusal);
        }
        // Junk for the accounts whose junk threshold it reaches; for all of them (or, with
        // none local, by the configured threshold) the message itself is marked.
        let junked: BTreeSet<u64> = thresholds
            .iter()
            .filter(|(_, j, _)| total >= *j)
            .map(|(id, _, _)| *id)
            .collect();
        let all = if thresholds.is_empty() {
            total >= self.config.junk
        } else {
            junked.len() == thresholds.len()
        };
        VERDICTS
            .with_label_values(&[if all || !junked.is_empty() {
                "junk"
            } else {
                "ham"
            }])
            .inc();
        Verdict::Mark(Marks {
            headers,
            junk: all.then(|| format!("spam score {total:.1} (junk from {junk:.1})")),
            junk_accounts: if all { BTreeSet::new() } else { junked },
            ..Marks::default()
        })
    }
}

impl Check for Score {
    fn name(&self) -> &'static str {
        "score"
    }

    fn stages(&self) -> &'static [Stage] {
        &[Stage::Data]
    }

    fn check<'a>(&'a self, _: Stage, facts: &'a Facts<'a>, marks: &'a Marks) -> CheckFuture<'a> {
        Box::pin(self.judge(facts, marks))
    }
}
