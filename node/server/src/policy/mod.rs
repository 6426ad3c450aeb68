//! The inbound policy seam: an SMTP session asks its listener's [`Pipeline`] at each stage —
//! `connect` (before the greeting), `ehlo`, `mail`, `rcpt` and `data` (the whole message,
//! before it is accepted) — and each check configured for that listener (`[smtp.checks]`)
//! that acts at the stage gives a [`Verdict`]: go on, allow (the client is trusted: the
//! checks that spare trusted clients are skipped for the rest of the session), or refuse
//! with its own reply (temporary or permanent). The first refusal ends the stage. Every
//! verdict is counted by check, stage and kind. The checks themselves live beside this file,
//! one per file.

pub mod dnsbl;
pub mod ip_lists;

use std::{future::Future, net::IpAddr, pin::Pin, sync::Arc};

use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::Reply;

/// The names `[smtp.checks]` takes.
pub const CHECKS: [&str; 2] = ["ip_lists", "dnsbl"];

/// The pipelines of the SMTP listeners.
#[derive(Clone, Default)]
pub struct Policy {
    /// The MX listener's (port 25).
    pub mx: Pipeline,
    /// The submission listeners' (587, 465).
    pub submission: Pipeline,
}

impl Policy {
    /// The pipelines `[smtp.checks]` configures, the DNS lists asked through `resolver`
    /// (the node's, whose cache they share).
    pub fn from_config(
        config: &crate::config::ChecksConfig,
        resolver: &hickory_resolver::TokioResolver,
    ) -> Self {
        let dnsbl: Arc<dyn Check> =
            Arc::new(dnsbl::Dnsbl::new(config.dnsbl.clone(), resolver.clone()));
        let ip_lists: Arc<dyn Check> = Arc::new(config.ip_lists.clone());
        let build = |names: &[String]| {
            Pipeline::new(
                names
                    .iter()
                    .filter_map(|name| match name.as_str() {
                        "ip_lists" => Some(ip_lists.clone()),
                        "dnsbl" => Some(dnsbl.clone()),
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
    /// The message as received, at the `data` stage.
    pub message: Option<&'a [u8]>,
    /// The client authenticated (submission).
    pub authenticated: bool,
}

/// A check's answer at one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing against it: the next check goes on.
    Pass,
    /// The client is trusted: the checks that spare trusted clients are skipped from now on.
    Allow,
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
            Verdict::Tempfail(_) => "tempfail",
            Verdict::Reject(_) => "reject",
        }
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
    /// Its verdict on `facts` at `stage`.
    fn check<'a>(&'a self, stage: Stage, facts: &'a Facts<'a>) -> CheckFuture<'a>;
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
                for verdict in ["pass", "allow", "tempfail", "reject"] {
                    VERDICTS.with_label_values(&[c.name(), stage.label(), verdict]);
                }
            }
        }
        Self { checks }
    }

    /// The names of its checks, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    /// Asks each check acting at `stage`; `trusted` is the session's allow flag, set here
    /// when a check allows the client.
    pub async fn run(&self, stage: Stage, facts: &Facts<'_>, trusted: &mut bool) -> Decision {
        for c in &self.checks {
            if !c.stages().contains(&stage) || (*trusted && c.spares_trusted()) {
                continue;
            }
            let verdict = c.check(stage, facts).await;
            VERDICTS
                .with_label_values(&[c.name(), stage.label(), verdict.label()])
                .inc();
            match verdict {
                Verdict::Pass => {}
                Verdict::Allow => *trusted = true,
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
        fn check<'a>(&'a self, _: Stage, _: &'a Facts<'a>) -> CheckFuture<'a> {
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
            message: None,
            authenticated: false,
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
            p.run(Stage::Rcpt, &facts(), &mut trusted).await,
            Decision::Refuse("deny", refuse)
        );
        // Allowed at connect: the deny list is skipped, the limit still holds.
        assert_eq!(
            p.run(Stage::Connect, &facts(), &mut trusted).await,
            Decision::Proceed
        );
        assert!(trusted);
        assert_eq!(
            p.run(Stage::Rcpt, &facts(), &mut trusted).await,
            Decision::Refuse("limit", limit)
        );
        assert_eq!(
            Pipeline::default()
                .run(Stage::Data, &facts(), &mut trusted)
                .await,
            Decision::Proceed
        );
    }
}
