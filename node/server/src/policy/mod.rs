//! The inbound policy seam: an SMTP session asks its listener's [`Pipeline`] at each stage —
//! `connect` (before the greeting), `ehlo`, `mail`, `rcpt` and `data` (the whole message,
//! before it is accepted) — and each check configured for that listener (`[smtp.checks]`)
//! that acts at the stage gives a [`Verdict`]: go on, allow (the client is trusted: the
//! checks that spare trusted clients are skipped for the rest of the session), mark the
//! message ([`Marks`]: header fields to add, filing into Junk), or refuse with its own reply
//! (temporary or permanent). The first refusal ends the stage. Every verdict is counted by
//! check, stage and kind, and every check's time is measured. The checks themselves live
//! beside this file, one per file.

pub mod antivirus;
pub mod auth;
pub mod content;
pub mod dnsbl;
pub mod fuzzy;
pub mod greylist;
pub mod ip_lists;
pub mod learn;
pub mod rate_limits;
pub mod score;
pub mod strip;

use std::{future::Future, net::IpAddr, pin::Pin, sync::Arc};

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, Opts, register_histogram_vec,
    register_int_counter_vec,
};
use tern_proto::smtp::Reply;

/// The names `[smtp.checks]` takes.
pub const CHECKS: [&str; 6] = [
    "ip_lists",
    "dnsbl",
    "auth",
    "rate_limits",
    "antivirus",
    "score",
];

/// The pipelines of the SMTP listeners.
#[derive(Clone, Default)]
pub struct Policy {
    /// The MX listener's (port 25).
    pub mx: Pipeline,
    /// The submission listeners' (587, 465).
    pub submission: Pipeline,
}

impl Policy {
    /// The pipelines `[smtp.checks]` configures, the DNS asked through `resolver` (the node's,
    /// whose cache they share), rate limits counted in `counters` (the node's).
    pub fn from_config(
        config: &crate::config::ChecksConfig,
        resolver: &hickory_resolver::TokioResolver,
        counters: &Arc<crate::limits::counters::Counters>,
    ) -> Self {
        let dnsbl: Arc<dyn Check> =
            Arc::new(dnsbl::Dnsbl::new(config.dnsbl.clone(), resolver.clone()));
        let ip_lists: Arc<dyn Check> = Arc::new(config.ip_lists.clone());
        let auth: Arc<dyn Check> = Arc::new(auth::Auth::new(
            config.auth.clone(),
            resolver.clone(),
            counters.db().clone(),
        ));
        antivirus::export_metrics();
        crate::dmarc_reports::export_metrics();
        let antivirus: Option<Arc<dyn Check>> = config
            .antivirus
            .clone()
            .map(|c| Arc::new(antivirus::Antivirus::new(c)) as Arc<dyn Check>);
        let score: Arc<dyn Check> = Arc::new(score::Score::new(
            config.score.clone(),
            counters.clone(),
            counters.db().clone(),
        ));
        let rate_limits: Arc<dyn Check> = Arc::new(rate_limits::RateLimits::new(
            config.rate_limits.clone(),
            counters.clone(),
        ));
        let build = |names: &[String]| {
            Pipeline::new(
                names
                    .iter()
                    .filter_map(|name| match name.as_str() {
                        "ip_lists" => Some(ip_lists.clone()),
                        "dnsbl" => Some(dnsbl.clone()),
                        "auth" => Some(auth.clone()),
                        "rate_limits" => Some(rate_limits.clone()),
                        "antivirus" => antivirus.clone(),
                        "score" => Some(score.clone()),
                        _ => None,
                    })
                    .collect(),
            )
        };
        Self {
            mx: build(&config.mx),
            submission: build(&config.submission),
        }
    }

    /// The pipeline of listener `kind`.
    pub fn of(&self, kind: crate::smtp::ListenerKind) -> &Pipeline {
        match kind {
            crate::smtp::ListenerKind::Mx => &self.mx,
            _ => &self.submission,
        }
    }
}

/// Where in the SMTP session a check is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A client connected; nothing sent yet.
    Connect,
    /// EHLO or HELO named the client.
    Ehlo,
    /// MAIL FROM named the sender.
    Mail,
    /// RCPT TO named a recipient.
    Rcpt,
    /// The whole message is in, not yet accepted.
    Data,
}

impl Stage {
    /// Every stage, in session order.
    pub const ALL: [Stage; 5] = [
        Stage::Connect,
        Stage::Ehlo,
        Stage::Mail,
        Stage::Rcpt,
        Stage::Data,
    ];

    /// Label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Ehlo => "ehlo",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
        }
    }
}

/// What a check knows of the session at a stage.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The client's address (the PROXY protocol's, behind a load balancer).
    pub peer: IpAddr,
    /// The EHLO/HELO name, from the `ehlo` stage on.
    pub helo: Option<&'a str>,
    /// The envelope sender (empty: the null sender), from the `mail` stage on.
    pub sender: Option<&'a str>,
    /// The recipient being added, at the `rcpt` stage.
    pub recipient: Option<&'a str>,
    /// The accepted recipients, at the `data` stage.
    pub recipients: &'a [&'a str],
    /// The local accounts they deliver to, at the `data` stage.
    pub accounts: &'a [u64],
    /// The recipients whose mail is forwarded off this server, at the `data` stage.
    pub forwarded: &'a [&'a str],
    /// The message as received, at the `data` stage.
    pub message: Option<&'a [u8]>,
    /// The account the client authenticated as (submission).
    pub account: Option<&'a str>,
}

/// A check's answer at one stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing against it: the next check goes on.
    Pass,
    /// The client is trusted: the checks that spare trusted clients are skipped from now on.
    Allow,
    /// Accepted so far, with these marks on the message.
    Mark(Marks),
    /// Refused for now (4xx): the client may try again later.
    Tempfail(Reply),
    /// Refused (5xx).
    Reject(Reply),
}

impl Verdict {
    fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Allow => "allow",
            Verdict::Mark(_) => "mark",
            Verdict::Tempfail(_) => "tempfail",
            Verdict::Reject(_) => "reject",
        }
    }
}

/// What checks ask of an accepted message: header fields to add above the trace headers,
/// filing into the recipients' Junk mailbox instead of their INBOX, and points towards the
/// spam score (see [`score`]). Marks from before the mail transaction (connect, EHLO) carry
/// into every transaction of the session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marks {
    /// Whole header fields, each ending in CRLF.
    pub headers: Vec<String>,
    /// Why it goes to Junk, when it does.
    pub junk: Option<String>,
    /// Local accounts it goes to Junk for, when not for all (their own spam thresholds).
    pub junk_accounts: std::collections::BTreeSet<u64>,
    /// Points towards the spam score, each with the name of what gave it.
    pub score: Vec<(String, f64)>,
    /// The From domain is authenticated: DMARC passed through an aligned DKIM signature.
    pub aligned_author: bool,
}

impl Marks {
    /// Adds `other`'s marks to these (the first reason for Junk is kept).
    pub fn merge(&mut self, other: Marks) {
        self.headers.extend(other.headers);
        if self.junk.is_none() {
            self.junk = other.junk;
        }
        self.junk_accounts.extend(other.junk_accounts);
        self.score.extend(other.score);
        self.aligned_author |= other.aligned_author;
    }
}

/// A boxed check future.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One policy check.
pub trait Check: Send + Sync {
    /// Its name in `[smtp.checks]`, metrics and logs.
    fn name(&self) -> &'static str;
    /// The stages it acts at.
    fn stages(&self) -> &'static [Stage];
    /// Whether a trusted client ([`Verdict::Allow`]) skips it (true for spam checks; false
    /// for limits that hold for everyone).
    fn spares_trusted(&self) -> bool {
        true
    }
    /// Its verdict on `facts` at `stage`, given what the checks before it marked the message
    /// with.
    fn check<'a>(&'a self, stage: Stage, facts: &'a Facts<'a>, marks: &'a Marks)
    -> CheckFuture<'a>;
}

static VERDICTS: std::sync::LazyLock<IntCounterVec> = std::sync::LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "tern_smtp_check_verdicts_total",
            "Verdicts of the inbound policy checks, by check, stage and verdict (pass, allow, \
             tempfail, reject)"
        ),
        &["check", "stage", "verdict"]
    )
    .expect("metric registers once")
});

static SECONDS: std::sync::LazyLock<HistogramVec> = std::sync::LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            "tern_smtp_check_seconds",
            "Time the inbound policy checks take, by check and stage"
        )
        .buckets(vec![
            0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0
        ]),
        &["check", "stage"]
    )
    .expect("metric registers once")
});

/// The checks of one listener, in order.
#[derive(Clone, Default)]
pub struct Pipeline {
    checks: Vec<Arc<dyn Check>>,
}

/// How a stage ended for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Proceed,
    /// Refused with this reply (by the named check).
    Refuse(&'static str, Reply),
}

impl Pipeline {
    /// A pipeline of `checks`; their metrics are exported at 0 from now.
    pub fn new(checks: Vec<Arc<dyn Check>>) -> Self {
        for c in &checks {
            for stage in c.stages() {
                for verdict in ["pass", "allow", "mark", "tempfail", "reject"] {
                    VERDICTS.with_label_values(&[c.name(), stage.label(), verdict]);
                }
                SECONDS.with_label_values(&[c.name(), stage.label()]);
            }
        }
        Self { checks }
    }

    /// The names of its checks, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    /// Asks each check acting at `stage`; `trusted` is the session's allow flag, set here
    /// when a check allows the client; `marks` gathers what the checks mark the message with.
    pub async fn run(
        &self,
        stage: Stage,
        facts: &Facts<'_>,
        trusted: &mut bool,
        marks: &mut Marks,
    ) -> Decision {
        for c in &self.checks {
            if !c.stages().contains(&stage) || (*trusted && c.spares_trusted()) {
                continue;
            }
            let started = std::time::Instant::now();
            let verdict = c.check(stage, facts, marks).await;
            SECONDS
                .with_label_values(&[c.name(), stage.label()])
                .observe(started.elapsed().as_secs_f64());
            VERDICTS
                .with_label_values(&[c.name(), stage.label(), verdict.label()])
                .inc();
            match verdict {
                Verdict::Pass => {}
                Verdict::Allow => *trusted = true,
                Verdict::Mark(m) => marks.merge(m),
                Verdict::Tempfail(r) | Verdict::Reject(r) => {
                    tracing::info!(check = c.name(), stage = stage.label(), peer = %facts.peer, code = r.code, "refused by a policy check");
                    return Decision::Refuse(c.name(), r);
                }
            }
        }
        Decision::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers `verdict` at `stage`, counting its calls.
    struct Fixed {
        name: &'static str,
        stage: [Stage; 1],
        verdict: Verdict,
        spares: bool,
    }

    impl Check for Fixed {
        fn name(&self) -> &'static str {
            self.name
        }
        fn stages(&self) -> &'static [Stage] {
            match self.stage[0] {
                Stage::Connect => &[Stage::Connect],
                _ => &[Stage::Rcpt],
            }
        }
        fn spares_trusted(&self) -> bool {
            self.spares
        }
        fn check<'a>(&'a self, _: Stage, _: &'a Facts<'a>, _: &'a Marks) -> CheckFuture<'a> {
            let v = self.verdict.clone();
            Box::pin(async move { v })
        }
    }

    fn facts() -> Facts<'static> {
        Facts {
            peer: "192.0.2.1".parse().expect("ip"),
            helo: None,
            sender: None,
            recipient: None,
            recipients: &[],
            accounts: &[],
            forwarded: &[],
            message: None,
            account: None,
        }
    }

    #[tokio::test]
    async fn the_first_refusal_ends_a_stage_and_allow_spares_the_trusted() {
        let refuse = Reply::new(554, Some("5.7.1"), "no");
        let limit = Reply::new(451, Some("4.7.1"), "later");
        let p = Pipeline::new(vec![
            Arc::new(Fixed {
                name: "allow",
                stage: [Stage::Connect],
                verdict: Verdict::Allow,
                spares: true,
            }),
            Arc::new(Fixed {
                name: "deny",
                stage: [Stage::Rcpt],
                verdict: Verdict::Reject(refuse.clone()),
                spares: true,
            }),
            Arc::new(Fixed {
                name: "limit",
                stage: [Stage::Rcpt],
                verdict: Verdict::Tempfail(limit.clone()),
                spares: false,
            }),
        ]);
        assert_eq!(p.names(), ["allow", "deny", "limit"]);
        // Untrusted: the first refusal at RCPT is the deny list's.
        let mut trusted = false;
        assert_eq!(
            p.run(Stage::Rcpt, &facts(), &mut trusted, &mut Marks::default())
                .await,
            Decision::Refuse("deny", refuse)
        );
        // Allowed at connect: the deny list is skipped, the limit still holds.
        assert_eq!(
            p.run(
                Stage::Connect,
                &facts(),
                &mut trusted,
                &mut Marks::default()
            )
            .await,
            Decision::Proceed
        );
        assert!(trusted);
        assert_eq!(
            p.run(Stage::Rcpt, &facts(), &mut trusted, &mut Marks::default())
                .await,
            Decision::Refuse("limit", limit)
        );
        assert_eq!(
            Pipeline::default()
                .run(Stage::Data, &facts(), &mut trusted, &mut Marks::default())
                .await,
            Decision::Proceed
        );
    }

    #[tokio::test]
    async fn marks_add_up_and_the_first_junk_reason_stays() {
        let mark = |name, header: &str, junk: Option<&str>| {
            Arc::new(Fixed {
                name,
                stage: [Stage::Rcpt],
                verdict: Verdict::Mark(Marks {
                    headers: vec![header.to_string()],
                    junk: junk.map(str::to_string),
                    ..Marks::default()
                }),
                spares: true,
            }) as Arc<dyn Check>
        };
        let p = Pipeline::new(vec![
            mark("a", "A: 1\r\n", None),
            mark("b", "B: 2\r\n", Some("first")),
            mark("c", "C: 3\r\n", Some("second")),
        ]);
        let mut marks = Marks::default();
        assert_eq!(
            p.run(Stage::Rcpt, &facts(), &mut false, &mut marks).await,
            Decision::Proceed
        );
        assert_eq!(marks.headers, ["A: 1\r\n", "B: 2\r\n", "C: 3\r\n"]);
        assert_eq!(marks.junk.as_deref(), Some("first"));
    }
}
