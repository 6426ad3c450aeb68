//! Authentication of inbound mail at the `data` stage, with mail-auth: SPF of the HELO name
//! and of the MAIL FROM domain (the HELO's for the null sender, RFC 7208 §2.4), every DKIM
//! signature (RSA and Ed25519), the ARC chain, and DMARC (alignment of SPF and DKIM with the
//! From domain, `p`, `sp`, `np`, `t`; mail-auth follows RFC 9989, which replaced `pct` by
//! `t`). The results become one `Authentication-Results` field (RFC 8601) under this
//! server's authserv-id. A DMARC failure is acted on as the recipients' domains say
//! (`enforce`: `p=reject` refuses with `550 5.7.1`, `p=quarantine` files into Junk;
//! `quarantine`: both file into Junk; `report`: only the header), unless the message carries
//! a passing ARC chain sealed by a trusted forwarder (a mailing list or forwarding service
//! that breaks DKIM and SPF on the way). Mail forwarded off this server (a forward or an alias
//! to a remote address) is ARC-sealed by the forwarding domain with its DKIM key, so the next
//! hop can trust what this server found (`arc_seal_forwards`). Lookups go through the node's
//! resolver and its cache, bounded by one deadline: what has not finished by then is a
//! `temperror`.

use std::{collections::BTreeMap, sync::LazyLock, time::Duration};

use hickory_resolver::TokioResolver;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput,
    DmarcResult, MessageAuthenticator, SpfResult, common::headers::HeaderWriter,
    dmarc::Policy as DmarcPolicy, dmarc::verify::DmarcParameters, spf::verify::SpfParameters,
};
use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::reply;
use tern_store::{Db, model::dkim};

use super::{Check, CheckFuture, Facts, Marks, Stage, Verdict};

/// What a recipient domain does with mail that fails its sender's DMARC policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DmarcMode {
    /// Only the `Authentication-Results` field says so.
    Report,
    /// `p=reject` and `p=quarantine` both file into Junk.
    Quarantine,
    /// `p=reject` refuses the message, `p=quarantine` files it into Junk.
    Enforce,
}

impl DmarcMode {
    /// The mode `enforce`, `quarantine` or `report` names.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "enforce" => Some(DmarcMode::Enforce),
            "quarantine" => Some(DmarcMode::Quarantine),
            "report" => Some(DmarcMode::Report),
            _ => None,
        }
    }
}

/// `[smtp.checks.auth]`, validated.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The authserv-id of the `Authentication-Results` this server adds (and strips when a
    /// message brings one).
    pub authserv_id: String,
    /// The DMARC mode of recipient domains not in `dmarc_domains`.
    pub dmarc: DmarcMode,
    /// Per recipient domain (lower case).
    pub dmarc_domains: BTreeMap<String, DmarcMode>,
    /// ARC sealers (`d=` of the newest seal, lower case) whose passing chain overrides a
    /// DMARC failure.
    pub arc_trusted_sealers: Vec<String>,
    /// Whether mail forwarded off this server is ARC-sealed by the forwarding domain.
    pub arc_seal_forwards: bool,
    /// Local addresses (lower case) whose mail is also read as DMARC aggregate reports.
    pub dmarc_report_addresses: Vec<String>,
    /// How long all the lookups may take.
    pub timeout: Duration,
}

impl AuthConfig {
    /// The mode for a message to `recipients`: the most lenient of their domains' (one SMTP
    /// transaction gets one answer, and no domain gets mail refused it asked to receive).
    pub fn mode_for(&self, recipients: &[&str]) -> DmarcMode {
        recipients
            .iter()
            .map(|r| {
                let domain = r
                    .rsplit_once('@')
                    .map_or("", |(_, d)| d)
                    .to_ascii_lowercase();
                self.dmarc_domains
                    .get(&domain)
                    .copied()
                    .unwrap_or(self.dmarc)
            })
            .min()
            .unwrap_or(self.dmarc)
    }
}

static RESULTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_smtp_auth_results_total",
            "Results of inbound mail authentication, by method (spf, dkim, arc, dmarc) and \
             result (RFC 8601 result names)"
        ),
        &["method", "result"]
    )
    .expect("metric registers once");
    for method in ["spf", "dkim", "arc", "dmarc"] {
        for result in RESULT_NAMES {
            c.with_label_values(&[method, result]);
        }
    }
    c
});

static ACTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_smtp_dmarc_actions_total",
            "What was done with mail failing its DMARC policy: reject, junk, report (header \
             only), arc_override (a trusted ARC sealer vouched for it)"
        ),
        &["action"]
    )
    .expect("metric registers once");
    for action in ["reject", "junk", "report", "arc_override"] {
        c.with_label_values(&[action]);
    }
    c
});

const RESULT_NAMES: [&str; 7] = [
    "pass",
    "fail",
    "softfail",
    "neutral",
    "none",
    "temperror",
    "permerror",
];

fn spf_name(r: SpfResult) -> &'static str {
    match r {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn dkim_name(r: &DkimResult) -> &'static str {
    match r {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

fn dmarc_name(r: &DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

static SEALS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_smtp_arc_seals_total",
            "ARC seals added to mail forwarded off this server, by result (sealed, failed, \
             broken_chain: it came with a failing chain, which is not sealed over)"
        ),
        &["result"]
    )
    .expect("metric registers once");
    for r in ["sealed", "failed", "broken_chain"] {
        c.with_label_values(&[r]);
    }
    c
});

/// The check.
pub struct Auth {
    config: AuthConfig,
    authenticator: MessageAuthenticator,
    db: Db,
}

impl Auth {
    /// The check, asking through `resolver` (the node's) and reading the forwarding domains'
    /// keys from `db`; its metrics are exported at 0 from now.
    pub fn new(config: AuthConfig, resolver: TokioResolver, db: Db) -> Self {
        LazyLock::force(&RESULTS);
        LazyLock::force(&ACTIONS);
        LazyLock::force(&SEALS);
        Self {
            config,
            authenticator: MessageAuthenticator(resolver),
            db,
        }
    }

    /// The ARC set a forwarded message gets: sealed by the domain of the first forwarded
    /// recipient that has a DKIM key, when sealing is on and the chain it came with can be
    /// sealed (none yet, or passing).
    async fn seal(
        &self,
        facts: &Facts<'_>,
        parsed: &AuthenticatedMessage<'_>,
        results: &AuthenticationResults<'_>,
        arc: &ArcOutput<'_>,
    ) -> Option<String> {
        if !self.config.arc_seal_forwards || facts.forwarded.is_empty() {
            return None;
        }
        if !arc.can_be_sealed() {
            SEALS.with_label_values(&["broken_chain"]).inc();
            return None;
        }
        for address in facts.forwarded {
            let Some((_, domain)) = address.rsplit_once('@') else {
                continue;
            };
            let domain = domain.to_ascii_lowercase();
            let d = domain.as_str();
            let key = match self
                .db
                .run(|tx| async move { dkim::get(&tx, d).await })
                .await
            {
                Ok(Some(key)) => key,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(peer = %facts.peer, domain, error = %e, "cannot read the DKIM key; forwarding unsealed");
                    SEALS.with_label_values(&["failed"]).inc();
                    return None;
                }
            };
            return match crate::dkim::arc_seal(&key, &domain, parsed, results, arc) {
                Ok(set) => {
                    SEALS.with_label_values(&["sealed"]).inc();
                    tracing::debug!(peer = %facts.peer, domain, "forwarded mail ARC-sealed");
                    Some(set)
                }
                Err(e) => {
                    SEALS.with_label_values(&["failed"]).inc();
                    tracing::warn!(peer = %facts.peer, domain, error = %e, "ARC sealing failed; forwarding unsealed");
                    None
                }
            };
        }
        None
    }

    /// The verdict on the message in `facts`.
    async fn judge(&self, facts: &Facts<'_>) -> Verdict {
        let Some(message) = facts.message else {
            return Verdict::Pass;
        };
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        match tokio::time::timeout_at(deadline, self.verify(facts, message)).await {
            Ok(verdict) => verdict,
            Err(_) => {
                tracing::info!(peer = %facts.peer, "mail authentication timed out");
                for method in ["spf", "dkim", "dmarc"] {
                    RESULTS.with_label_values(&[method, "temperror"]).inc();
                }
                Verdict::Mark(Marks {
                    headers: vec![format!(
                        "Authentication-Results: {};\r\n\tspf=temperror (timed out);\r\n\t\
                         dkim=temperror (timed out);\r\n\tdmarc=temperror (timed out)\r\n",
                        self.config.authserv_id
                    )],
                    ..Marks::default()
                })
            }
        }
    }

    async fn verify(&self, facts: &Facts<'_>, message: &[u8]) -> Verdict {
        let auth = &self.authenticator;
        let ip = facts.peer.to_canonical();
        let host = self.config.authserv_id.as_str();
        let helo = facts.helo.unwrap_or("").trim_start_matches('[');
        let helo = helo.trim_end_matches(']');
        let sender = facts.sender.unwrap_or("");

        let spf_helo = auth
            .verify_spf(SpfParameters::verify_ehlo(ip, helo, host))
            .await;
        let spf_from = if sender.is_empty() {
            spf_helo.clone()
        } else {
            auth.verify_spf(SpfParameters::verify_mail_from(ip, helo, host, sender))
                .await
        };
        RESULTS
            .with_label_values(&["spf", spf_name(spf_from.result())])
            .inc();
        let mail_from_domain = match sender.rsplit_once('@') {
            Some((_, d)) => d,
            None => helo,
        };

        let mut results = AuthenticationResults::new(host)
            .with_spf_ehlo_result(&spf_helo, ip, helo)
            .with_spf_mailfrom_result(&spf_from, ip, sender, helo);
        let mut marks = Marks::default();
        points(&mut marks, "SPF", spf_name(spf_from.result()));
        let verdict = match AuthenticatedMessage::parse(message) {
            Some(parsed) => {
                let dkim = auth.verify_dkim(&parsed).await;
                let arc = auth.verify_arc(&parsed).await;
                let dmarc = auth
                    .verify_dmarc(DmarcParameters::new(
                        &parsed,
                        &dkim,
                        mail_from_domain,
                        &spf_from,
                    ))
                    .await;
                count(&dkim, &arc, &dmarc);
                if dkim
                    .iter()
                    .any(|d| !matches!(d.result(), DkimResult::Pass | DkimResult::None))
                {
                    points(&mut marks, "DKIM", "fail");
                }
                points(&mut marks, "DMARC", dmarc_name(&dmarc.result()));
                marks.aligned_author = *dmarc.dkim_result() == DmarcResult::Pass;
                if marks.aligned_author {
                    points(&mut marks, "DKIM", "aligned");
                }
                results = results
                    .with_dkim_results(&dkim, parsed.from())
                    .with_arc_result(&arc, ip)
                    .with_dmarc_result(&dmarc);
                let verdict = self.enforce(facts, &dmarc, &arc);
                if !matches!(verdict, Verdict::Reject(_) | Verdict::Tempfail(_)) {
                    marks
                        .headers
                        .extend(self.seal(facts, &parsed, &results, &arc).await);
                }
                verdict
            }
            None => Verdict::Pass,
        };
        marks.headers.push(results.to_header());
        match verdict {
            Verdict::Pass => Verdict::Mark(marks),
            Verdict::Mark(junk) => {
                marks.merge(junk);
                Verdict::Mark(marks)
            }
            other => other,
        }
    }

    /// What a DMARC failure leads to for this message.
    fn enforce(&self, facts: &Facts<'_>, dmarc: &DmarcOutput, arc: &ArcOutput<'_>) -> Verdict {
        if !matches!(dmarc.result(), DmarcResult::Fail(_)) {
            return Verdict::Pass;
        }
        let policy = dmarc.policy();
        if !matches!(policy, DmarcPolicy::Reject | DmarcPolicy::Quarantine) {
            return Verdict::Pass;
        }
        let domain = dmarc.domain();
        if let Some(sealer) = trusted_sealer(arc, &self.config.arc_trusted_sealers) {
            ACTIONS.with_label_values(&["arc_override"]).inc();
            tracing::info!(peer = %facts.peer, domain, sealer, "DMARC failure overridden by a trusted ARC sealer");
            return Verdict::Pass;
        }
        let why = "neither SPF nor DKIM passed aligned with the From domain";
        match (policy, self.config.mode_for(facts.recipients)) {
            (_, DmarcMode::Report) => {
                ACTIONS.with_label_values(&["report"]).inc();
                Verdict::Pass
            }
            (DmarcPolicy::Reject, DmarcMode::Enforce) => {
                ACTIONS.with_label_values(&["reject"]).inc();
                Verdict::Reject(reply::dmarc_rejected(format!(
                    "DMARC: the policy of {domain} rejects this message ({why})"
                )))
            }
            _ => {
                ACTIONS.with_label_values(&["junk"]).inc();
                Verdict::Mark(Marks {
                    junk: Some(format!("DMARC policy of {domain} ({why})")),
                    ..Marks::default()
                })
            }
        }
    }
}

/// What authentication results add to the spam score: failures count against a message, a
/// From domain authenticated by its own DKIM signature for it.
const POINTS: [(&str, &str, f64); 6] = [
    ("SPF", "fail", 2.0),
    ("SPF", "softfail", 1.0),
    ("SPF", "permerror", 0.5),
    ("DKIM", "fail", 1.0),
    ("DMARC", "fail", 3.0),
    ("DKIM", "aligned", -1.0),
];

/// Adds the points of `method` giving `result`, if any.
fn points(marks: &mut Marks, method: &str, result: &str) {
    if let Some((_, _, p)) = POINTS.iter().find(|(m, r, _)| *m == method && *r == result) {
        marks
            .score
            .push((format!("{method}_{}", result.to_ascii_uppercase()), *p));
    }
}

/// The `d=` of the newest ARC seal, when the chain passes and that sealer is trusted.
fn trusted_sealer(arc: &ArcOutput<'_>, trusted: &[String]) -> Option<String> {
    if *arc.result() != DkimResult::Pass {
        return None;
    }
    let newest = arc.sets().iter().max_by_key(|s| s.seal.header.i)?;
    let d = newest.seal.header.d.to_ascii_lowercase();
    trusted.contains(&d).then_some(d)
}

fn count(dkim: &[DkimOutput<'_>], arc: &ArcOutput<'_>, dmarc: &DmarcOutput) {
    if dkim.is_empty() {
        RESULTS.with_label_values(&["dkim", "none"]).inc();
    }
    for d in dkim {
        RESULTS
            .with_label_values(&["dkim", dkim_name(d.result())])
            .inc();
    }
    RESULTS
        .with_label_values(&["arc", dkim_name(arc.result())])
        .inc();
    RESULTS
        .with_label_values(&["dmarc", dmarc_name(&dmarc.result())])
        .inc();
}

impl Check for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn stages(&self) -> &'static [Stage] {
        &[Stage::Data]
    }

    fn check<'a>(&'a self, _: Stage, facts: &'a Facts<'a>, _: &'a Marks) -> CheckFuture<'a> {
        Box::pin(self.judge(facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_lenient_recipient_domain_decides() {
        let config = AuthConfig {
            authserv_id: "mx.test".into(),
            dmarc: DmarcMode::Enforce,
            dmarc_domains: [
                ("a.test".to_string(), DmarcMode::Quarantine),
                ("b.test".to_string(), DmarcMode::Report),
            ]
            .into(),
            arc_trusted_sealers: Vec::new(),
            arc_seal_forwards: true,
            dmarc_report_addresses: Vec::new(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(config.mode_for(&["x@c.test"]), DmarcMode::Enforce);
        assert_eq!(
            config.mode_for(&["x@c.test", "y@A.test"]),
            DmarcMode::Quarantine
        );
        assert_eq!(
            config.mode_for(&["x@a.test", "y@b.test", "z@c.test"]),
            DmarcMode::Report
        );
        assert_eq!(config.mode_for(&[]), DmarcMode::Enforce);
        assert_eq!(DmarcMode::parse("report"), Some(DmarcMode::Report));
        assert_eq!(DmarcMode::parse("none"), None);
    }
}
