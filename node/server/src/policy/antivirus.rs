//! Anti-virus at the `data` stage (`[smtp.checks.antivirus]`): the message goes to clamd over
//! INSTREAM (TCP, or a unix socket when the address is a path), in chunks, with clamav-client.
//! A signature found refuses it with `554 5.7.1` naming the signature; clamd unreachable,
//! failing or slower than `timeout_ms` refuses it with `451 4.7.1` (the sender retries), or
//! lets it through when `on_failure = "accept"`. A message larger than `max_bytes` (set it to
//! clamd's `StreamMaxLength`, which refuses longer streams) is not scanned, and counted so.

use std::{sync::LazyLock, time::Duration};

use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::reply;

use super::{Check, CheckFuture, Facts, Marks, Stage, Verdict};

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clamd {
    /// `host:port`.
    Tcp(String),
    /// A unix socket path.
    Socket(std::path::PathBuf),
}

/// `[smtp.checks.antivirus]`, validated.
#[derive(Debug, Clone)]
pub struct AntivirusConfig {
    /// Where clamd listens.
    pub clamd: Clamd,
    /// How long a scan may take.
    pub timeout: Duration,
    /// Larger messages are not scanned.
    pub max_bytes: usize,
    /// Whether mail is accepted unscanned when clamd fails (else `451 4.7.1`).
    pub accept_on_failure: bool,
}

/// What clamd said of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Nothing found.
    Clean,
    /// This signature matched.
    Found(String),
    /// clamd answered something else (an error).
    Error(String),
}

/// Reads clamd's answer to INSTREAM (`stream: OK`, `stream: NAME FOUND`, or an error).
pub fn parse(answer: &[u8]) -> Scan {
    let text = String::from_utf8_lossy(answer);
    let text = text.trim_end_matches(['\0', '\n', '\r']).trim();
    let body = text.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Scan::Clean,
        Some(b) if b.ends_with(" FOUND") => {
            Scan::Found(b.trim_end_matches(" FOUND").trim().to_string())
        }
        _ => Scan::Error(text.to_string()),
    }
}

static SCANS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_antivirus_scans_total",
            "Messages given to clamd, by result (clean, found, error, timeout, skipped: larger \
             than max_bytes)"
        ),
        &["result"]
    )
    .expect("metric registers once");
    for r in ["clean", "found", "error", "timeout", "skipped"] {
        c.with_label_values(&[r]);
    }
    c
});

/// Exports the scan counts at 0 (also on nodes without a scanner, so one dashboard and one
/// alert fit every node).
pub fn export_metrics() {
    LazyLock::force(&SCANS);
}

/// The check.
pub struct Antivirus {
    config: AntivirusConfig,
}

impl Antivirus {
    /// The check; its metrics are exported at 0 from now.
    pub fn new(config: AntivirusConfig) -> Self {
        export_metrics();
        Self { config }
    }

    async fn scan(&self, message: &[u8]) -> std::io::Result<Vec<u8>> {
        use clamav_client::tokio as clam;
        match &self.config.clamd {
            Clamd::Tcp(addr) => {
                clam::scan_buffer(
                    message,
                    clam::Tcp {
                        host_address: addr.as_str(),
                    },
                    None,
                )
                .await
            }
            Clamd::Socket(path) => {
                clam::scan_buffer(message, clam::Socket { socket_path: path }, None).await
            }
        }
    }

    async fn judge(&self, facts: &Facts<'_>) -> Verdict {
        let Some(message) = facts.message else {
            return Verdict::Pass;
        };
        if message.len() > self.config.max_bytes {
            SCANS.with_label_values(&["skipped"]).inc();
            tracing::info!(peer = %facts.peer, size = message.len(), "message not scanned: larger than antivirus.max_bytes");
            return Verdict::Pass;
        }
        let failed = |result: &str, why: String| {
            SCANS.with_label_values(&[result]).inc();
            tracing::warn!(peer = %facts.peer, error = %why, "virus scan failed");
            if self.config.accept_on_failure {
                Verdict::Pass
            } else {
                Verdict::Tempfail(reply::scanner_unavailable())
            }
        };
        let answer = match tokio::time::timeout(self.config.timeout, self.scan(message)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return failed("error", format!("clamd: {e}")),
            Err(_) => return failed("timeout", "clamd did not answer in time".into()),
        };
        match parse(&answer) {
            Scan::Clean => {
                SCANS.with_label_values(&["clean"]).inc();
                Verdict::Pass
            }
            Scan::Found(signature) => {
                SCANS.with_label_values(&["found"]).inc();
                tracing::info!(peer = %facts.peer, signature, "malware found");
                Verdict::Reject(reply::malware_found(&signature))
            }
            Scan::Error(text) => failed("error", format!("clamd answered {text:?}")),
        }
    }
}

impl Check for Antivirus {
    fn name(&self) -> &'static str {
        "antivirus"
    }

    fn stages(&self) -> &'static [Stage] {
        &[Stage::Data]
    }

    fn spares_trusted(&self) -> bool {
        false
    }

    fn check<'a>(&'a self, _: Stage, facts: &'a Facts<'a>, _: &'a Marks) -> CheckFuture<'a> {
        Box::pin(self.judge(facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamd_answers_are_read() {
        assert_eq!(parse(b"stream: OK\0"), Scan::Clean);
        assert_eq!(
            parse(b"stream: Eicar-Test-Signature FOUND\0"),
            Scan::Found("Eicar-Test-Signature".into())
        );
        assert_eq!(
            parse(b"INSTREAM size limit exceeded. ERROR\0"),
            Scan::Error("INSTREAM size limit exceeded. ERROR".into())
        );
        assert_eq!(parse(b""), Scan::Error(String::new()));
    }
}
