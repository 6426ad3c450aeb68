//! `[smtp.checks.score]` (the spam score's thresholds, content rules, bulk and reported-mail
//! counting, learning) and `[smtp.checks.greylist]` (the score-gated greylist), as written and
//! validated.

use std::time::Duration;

use anyhow::{anyhow, bail};
use serde::{Deserialize, Serialize};
use tern_store::model::greylist::Timing;

use super::require_positive;
use crate::policy::greylist::GreylistConfig;

/// `[smtp.checks.score]`: the spam score's thresholds and content rules.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawScore {
    /// From this score on, into Junk.
    pub junk: f64,
    /// From this score on, refused (550 5.7.1).
    pub reject: f64,
    /// Copies of near-identical text within the window from which a message counts as bulk
    /// (0: not counted).
    pub similar_threshold: u32,
    /// The window, seconds.
    pub similar_window_seconds: u64,
    /// The points of bulk mail.
    pub similar_points: f64,
    /// Whether moving mail into or out of Junk over IMAP teaches the account's lists and the
    /// reported digests.
    pub learn_from_moves: bool,
    /// Reports of spam (more than of ham) of near-identical text within the window from which
    /// a message gets `reported_points` (0: not counted).
    pub reported_threshold: u32,
    /// The window, seconds.
    pub reported_window_seconds: u64,
    /// The points of mail users reported as spam.
    pub reported_points: f64,
    /// `[[smtp.checks.score.rules]]`.
    pub rules: Vec<RawRule>,
}

impl Default for RawScore {
    fn default() -> Self {
        Self {
            junk: 6.0,
            reject: 15.0,
            similar_threshold: 0,
            similar_window_seconds: 3600,
            similar_points: 3.0,
            learn_from_moves: true,
            reported_threshold: 3,
            reported_window_seconds: 30 * 86400,
            reported_points: 5.0,
            rules: Vec::new(),
        }
    }
}

/// One content rule: a name, points, and one of header (+ pattern), body (+ pattern),
/// attachment, mime_type, size_over.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRule {
    /// One word.
    pub name: String,
    /// A header field name.
    pub header: String,
    /// The body text.
    pub body: bool,
    /// Attachment file-name extensions.
    pub attachment: Vec<String>,
    /// A MIME type.
    pub mime_type: String,
    /// Bytes.
    pub size_over: u64,
    /// A regular expression (header and body rules).
    pub pattern: String,
    /// Points.
    pub points: f64,
}

/// `[smtp.checks.greylist]`: greylisting of mail the spam score puts in a grey band.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGreylist {
    /// Whether it is on.
    pub enabled: bool,
    /// The band: from this score…
    pub from_score: f64,
    /// …up to this one (not included).
    pub to_score: f64,
    /// A retry is accepted this long after the first try.
    pub delay_seconds: u64,
    /// A retry later than this starts over.
    pub retry_window_seconds: u64,
    /// A triplet that passed is accepted at once until quiet this many days.
    pub pass_days: u64,
}

impl Default for RawGreylist {
    fn default() -> Self {
        Self {
            enabled: false,
            from_score: 3.0,
            to_score: 15.0,
            delay_seconds: 300,
            retry_window_seconds: 2 * 86400,
            pass_days: 35,
        }
    }
}

/// `[smtp.checks.greylist]` (`None` when off).
pub fn greylist(r: &RawGreylist) -> anyhow::Result<Option<GreylistConfig>> {
    if !r.enabled {
        return Ok(None);
    }
    if !(r.from_score.is_finite() && r.to_score.is_finite() && r.to_score > r.from_score) {
        bail!("smtp.checks.greylist: to_score must be above from_score");
    }
    let section = "smtp.checks.greylist";
    let delay = require_positive(section, "delay_seconds", r.delay_seconds)?;
    let retry_window = require_positive(section, "retry_window_seconds", r.retry_window_seconds)?;
    if retry_window <= delay {
        bail!("smtp.checks.greylist: retry_window_seconds must be above delay_seconds");
    }
    Ok(Some(GreylistConfig {
        from_score: r.from_score,
        to_score: r.to_score,
        timing: Timing {
            delay: delay as i64,
            retry_window: retry_window as i64,
            pass_for: require_positive(section, "pass_days", r.pass_days)? as i64 * 86_400,
        },
    }))
}

/// `[smtp.checks.score]`.
pub fn score(
    r: &RawScore,
    greylist: Option<GreylistConfig>,
) -> anyhow::Result<crate::policy::score::ScoreConfig> {
    use crate::policy::{content, score};
    if !(r.junk.is_finite() && r.reject.is_finite() && r.junk > 0.0 && r.reject > r.junk) {
        bail!("smtp.checks.score: junk must be above 0 and reject above junk");
    }
    let mut rules = Vec::with_capacity(r.rules.len());
    for (i, w) in r.rules.iter().enumerate() {
        let written = content::Written {
            name: &w.name,
            header: &w.header,
            body: w.body,
            attachment: &w.attachment,
            mime_type: &w.mime_type,
            size_over: w.size_over,
            pattern: &w.pattern,
            points: w.points,
        };
        let rule = content::Rule::parse(&written)
            .map_err(|why| anyhow!("smtp.checks.score.rules[{i}] ({:?}): {why}", w.name))?;
        if rules.iter().any(|r: &content::Rule| r.name == rule.name) {
            bail!("smtp.checks.score.rules: {:?} is named twice", rule.name);
        }
        rules.push(rule);
    }
    let similar = (r.similar_threshold > 0)
        .then(|| -> anyhow::Result<score::Similar> {
            Ok(score::Similar {
                threshold: r.similar_threshold,
                window: Duration::from_secs(require_positive(
                    "smtp.checks.score",
                    "similar_window_seconds",
                    r.similar_window_seconds,
                )?),
                points: r.similar_points,
            })
        })
        .transpose()?;
    Ok(score::ScoreConfig {
        junk: r.junk,
        reject: r.reject,
        rules,
        similar,
        reported: score::Reported {
            threshold: r.reported_threshold,
            window: Duration::from_secs(require_positive(
                "smtp.checks.score",
                "reported_window_seconds",
                r.reported_window_seconds,
            )?),
            points: r.reported_points,
        },
        learn: r.learn_from_moves,
        greylist,
    })
}
