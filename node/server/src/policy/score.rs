//! The spam score, at the `data` stage after every other check (`"score"` last in a listener's
//! checks): the points the other checks marked the message with (authentication results, DNS
//! list weights under their threshold), those of the content rules that match
//! ([`super::content`]), and — when `similar_threshold` is set — points for a message whose
//! fuzzy digest ([`super::fuzzy`]) the cluster has seen that often within the window (a
//! campaign), added up. At `junk` or more the message is filed into Junk; at `reject` or more
//! it is refused with `550 5.7.1` giving the score and its reasons. Every message gets
//! `X-Spam-Score` and `X-Spam-Status` (`Yes`/`No`, the score, the threshold and each item).
//! A false-positive guard: for mail whose From domain is authenticated (DMARC passing through
//! an aligned DKIM signature) no single item counts for more than just under `junk`, so one
//! rule alone never junks it.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use mail_parser::MessageParser;
use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::reply;

use super::{Check, CheckFuture, Facts, Marks, Stage, Verdict, content::Rule, fuzzy};
use crate::limits::counters::Counters;

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
            "Content rules that matched, by rule (BULK_SIMILAR: the fuzzy digest's count)"
        ),
        &["rule"]
    )
    .expect("metric registers once")
});

/// The check.
pub struct Score {
    config: ScoreConfig,
    counters: Arc<Counters>,
}

impl Score {
    /// The check, counting digests in `counters`; its metrics are exported at 0 from now.
    pub fn new(config: ScoreConfig, counters: Arc<Counters>) -> Self {
        LazyLock::force(&VERDICTS);
        for r in &config.rules {
            HITS.with_label_values(&[&r.name]);
        }
        HITS.with_label_values(&["BULK_SIMILAR"]);
        Self { config, counters }
    }

    /// The items of `message`: the marks', then the rules' and the digest's.
    fn items(&self, message: &[u8], marks: &Marks) -> Vec<(String, f64)> {
        let mut items = marks.score.clone();
        let Some(parsed) = MessageParser::default().parse(message) else {
            return items;
        };
        for rule in &self.config.rules {
            if rule.matches(&parsed, message.len()) {
                HITS.with_label_values(&[&rule.name]).inc();
                items.push((rule.name.clone(), rule.points));
            }
        }
        if let Some(similar) = &self.config.similar {
            let text: String = (0..parsed.text_body_count().max(parsed.html_body_count()))
                .filter_map(|i| parsed.body_text(i))
                .collect::<Vec<_>>()
                .join("\n");
            let seen = fuzzy::bands(&text)
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

    fn judge(&self, facts: &Facts<'_>, marks: &Marks) -> Verdict {
        let Some(message) = facts.message else {
            return Verdict::Pass;
        };
        let (junk, reject) = (self.config.junk, self.config.reject);
        let mut items = self.items(message, marks);
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
        VERDICTS
            .with_label_values(&[if spam { "junk" } else { "ham" }])
            .inc();
        Verdict::Mark(Marks {
            headers,
            junk: spam.then(|| format!("spam score {total:.1} (junk from {junk:.1})")),
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
        let verdict = self.judge(facts, marks);
        Box::pin(async move { verdict })
    }
}
