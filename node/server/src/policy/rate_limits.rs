//! Rate limits (`[smtp.checks.rate_limits]`), cluster-wide through the node's
//! [`Counters`]: each rule counts one kind of event per subject over a sliding window —
//! `connections` per client address (`ip`) or network (`net`: its /24, or /64 for IPv6) at
//! connect, `messages` per address, network, envelope sender or authenticated account at MAIL
//! (per recipient at RCPT), `recipients` at RCPT — and refuses the event that passes the limit:
//! a connection with `421 4.7.0` (the session closes), a message or recipient with `451 4.7.1`,
//! the rule named. Refused attempts count too, so a client that keeps hammering stays limited
//! until it slows down. Clients an allow list trusts are spared; authenticated ones are not.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::reply;

use super::{Check, CheckFuture, Facts, Marks, Stage, Verdict};
use crate::limits::counters::Counters;

/// What a rule counts per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The client's address.
    Ip,
    /// The client's /24 (IPv4) or /64 (IPv6).
    Net,
    /// The envelope sender (`<>` for the null sender).
    Sender,
    /// The recipient.
    Recipient,
    /// The authenticated account (rules on it skip sessions that did not authenticate).
    Account,
}

/// What a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// Connections (per `ip` or `net` only).
    Connections,
    /// Messages (mail transactions; per recipient for the `recipient` key).
    Messages,
    /// Recipients.
    Recipients,
}

/// One rule: `<key> <what> <limit>/<window>`, e.g. `ip connections 60/1m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What it counts per.
    pub key: Key,
    /// What it counts.
    pub what: What,
    /// Most events allowed in a window.
    pub limit: u64,
    /// The window.
    pub window: Duration,
    /// As written (normalised): its name in replies, logs, metrics and the store.
    pub text: String,
}

impl Rule {
    /// Parses `<key> <what> <limit>/<window>`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [key, what, rate] = words.as_slice() else {
            return Err(
                "is not `<key> <what> <limit>/<window>` (like \"ip connections 60/1m\")".into(),
            );
        };
        let key = match key.to_ascii_lowercase().as_str() {
            "ip" => Key::Ip,
            "net" => Key::Net,
            "sender" => Key::Sender,
            "recipient" => Key::Recipient,
            "account" => Key::Account,
            other => {
                return Err(format!(
                    "counts per {other:?} (expected ip, net, sender, recipient or account)"
                ));
            }
        };
        let what = match what.to_ascii_lowercase().as_str() {
            "connections" => What::Connections,
            "messages" => What::Messages,
            "recipients" => What::Recipients,
            other => {
                return Err(format!(
                    "counts {other:?} (expected connections, messages or recipients)"
                ));
            }
        };
        if what == What::Connections && !matches!(key, Key::Ip | Key::Net) {
            return Err("counts connections, which only ip and net can be counted per".into());
        }
        let (limit_text, window_text) = rate
            .split_once('/')
            .ok_or_else(|| format!("has rate {rate:?}, not `<limit>/<window>` (like 60/1m)"))?;
        let limit: u64 = limit_text
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("has limit {limit_text:?}, not a positive whole number"))?;
        let window = window_of(window_text).ok_or_else(|| {
            format!("has window {window_text:?}, not a duration like 30s, 1m, 1h or 1d")
        })?;
        let text = format!(
            "{} {} {limit}/{window_text}",
            key_name(key),
            what_name(what)
        );
        Ok(Rule {
            key,
            what,
            limit,
            window,
            text,
        })
    }

    /// The stage it counts at.
    pub fn stage(&self) -> Stage {
        match (self.what, self.key) {
            (What::Connections, _) => Stage::Connect,
            (What::Messages, Key::Recipient) | (What::Recipients, _) => Stage::Rcpt,
            (What::Messages, _) => Stage::Mail,
        }
    }

    /// The subject `facts` give it, if they give one.
    fn subject(&self, facts: &Facts<'_>) -> Option<String> {
        match self.key {
            Key::Ip => Some(facts.peer.to_canonical().to_string()),
            Key::Net => Some(crate::limits::network(facts.peer)),
            Key::Sender => facts.sender.map(|s| match s {
                "" => "<>".to_string(),
                s => s.to_ascii_lowercase(),
            }),
            Key::Recipient => facts.recipient.map(str::to_ascii_lowercase),
            Key::Account => facts.account.map(str::to_ascii_lowercase),
        }
    }
}

fn key_name(k: Key) -> &'static str {
    match k {
        Key::Ip => "ip",
        Key::Net => "net",
        Key::Sender => "sender",
        Key::Recipient => "recipient",
        Key::Account => "account",
    }
}

fn what_name(w: What) -> &'static str {
    match w {
        What::Connections => "connections",
        What::Messages => "messages",
        What::Recipients => "recipients",
    }
}

/// `30s`, `5m`, `1h`, `1d`.
fn window_of(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n * unit))
}

static LIMITED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "tern_rate_limited_total",
            "Connections, messages and recipients refused by a rate limit, by rule"
        ),
        &["limit"]
    )
    .expect("metric registers once")
});

/// The check.
pub struct RateLimits {
    rules: Vec<Rule>,
    counters: Arc<Counters>,
}

impl RateLimits {
    /// The check of `rules`, counting in `counters`; each rule's metric is exported at 0.
    pub fn new(rules: Vec<Rule>, counters: Arc<Counters>) -> Self {
        for r in &rules {
            LIMITED.with_label_values(&[&r.text]);
        }
        Self { rules, counters }
    }

    fn verdict(&self, stage: Stage, facts: &Facts<'_>) -> Verdict {
        let mut refused = None;
        for rule in self.rules.iter().filter(|r| r.stage() == stage) {
            let Some(subject) = rule.subject(facts) else {
                continue;
            };
            let count = self.counters.hit(&rule.text, rule.window, &subject, 1);
            if count > rule.limit as f64 && refused.is_none() {
                LIMITED.with_label_values(&[&rule.text]).inc();
                tracing::info!(peer = %facts.peer, limit = %rule.text, subject, "rate limit reached");
                let why = format!(
                    "{} reached the rate limit \"{}\"; try again later",
                    match rule.key {
                        Key::Ip | Key::Net => subject.clone(),
                        _ => format!("<{subject}>"),
                    },
                    rule.text
                );
                refused = Some(match stage {
                    Stage::Connect => Verdict::Tempfail(reply::connections_rate_limited(why)),
                    _ => Verdict::Tempfail(reply::rate_limited(why)),
                });
            }
        }
        refused.unwrap_or(Verdict::Pass)
    }
}

impl Check for RateLimits {
    fn name(&self) -> &'static str {
        "rate_limits"
    }

    fn stages(&self) -> &'static [Stage] {
        &[Stage::Connect, Stage::Mail, Stage::Rcpt]
    }

    fn check<'a>(&'a self, stage: Stage, facts: &'a Facts<'a>, _: &'a Marks) -> CheckFuture<'a> {
        let verdict = self.verdict(stage, facts);
        Box::pin(async move { verdict })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_name_what_is_wrong() {
        let r = Rule::parse(" IP  connections 60/1m ").expect("rule");
        assert_eq!(
            (r.key, r.what, r.limit, r.window, r.text.as_str(), r.stage()),
            (
                Key::Ip,
                What::Connections,
                60,
                Duration::from_secs(60),
                "ip connections 60/1m",
                Stage::Connect
            )
        );
        assert_eq!(
            Rule::parse("recipient messages 5/1h")
                .expect("rule")
                .stage(),
            Stage::Rcpt
        );
        assert_eq!(
            Rule::parse("sender messages 5/1d").expect("rule").stage(),
            Stage::Mail
        );
        for (text, want) in [
            ("ip connections", "is not `<key> <what> <limit>/<window>`"),
            ("host messages 1/1m", "counts per \"host\""),
            ("ip bytes 1/1m", "counts \"bytes\""),
            ("sender connections 1/1m", "only ip and net"),
            ("ip messages 0/1m", "has limit \"0\""),
            ("ip messages 10/1w", "has window \"1w\""),
            ("ip messages 10", "has rate \"10\""),
        ] {
            let err = Rule::parse(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
