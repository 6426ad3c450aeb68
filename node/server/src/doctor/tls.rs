//! The served certificate: readable, not ended and not ending within 14 days, covering
//! `server.hostname`, and vouched for by someone other than itself.

use super::{Doctor, Finding};

const SOON_DAYS: i64 = 14;

/// Findings on the certificate the mail listeners serve.
pub fn certificate(d: &Doctor) -> Vec<Finding> {
    let facts = match d.tls.facts() {
        Ok(f) => f,
        Err(e) => {
            return vec![Finding::error(
                "tls.certificate",
                &d.hostname,
                format!("the served certificate cannot be read: {e:#}"),
                "check tls.certificate (PEM, readable by tern)".into(),
            )];
        }
    };
    let subject = facts.path.display().to_string();
    let mut out = Vec::new();
    let left = facts.not_after - chrono::Utc::now().timestamp();
    let end = chrono::DateTime::from_timestamp(facts.not_after, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    if left <= 0 {
        out.push(Finding::error(
            "tls.expiry",
            &subject,
            format!("the certificate ended on {end}: clients refuse TLS, logins and some senders fail"),
            "install a renewed certificate (picked up within a minute, no restart); see ops/runbooks/TernCertificateExpired.md".into(),
        ));
    } else if left < SOON_DAYS * 86400 {
        let (days, hours) = (left / 86400, left % 86400 / 3600);
        let within = if days == 0 {
            format!("{hours} hours")
        } else {
            format!("{days} days {hours} hours")
        };
        out.push(Finding::warning(
            "tls.expiry",
            &subject,
            format!("the certificate ends on {end}, in {within}, and has not been renewed"),
            "renew it now; see ops/runbooks/TernCertificateExpiringSoon.md".into(),
        ));
    } else {
        out.push(Finding::ok(
            "tls.expiry",
            &subject,
            format!("the certificate ends on {end}, in {} days", left / 86400),
        ));
    }
    if facts.covers(&d.hostname) {
        out.push(Finding::ok(
            "tls.names",
            &subject,
            format!("the certificate covers {}", d.hostname),
        ));
    } else {
        out.push(Finding::error(
            "tls.names",
            &subject,
            format!(
                "the certificate names {} but not {}: clients connecting to {} refuse it",
                if facts.names.is_empty() {
                    "no DNS name".to_string()
                } else {
                    facts.names.join(", ")
                },
                d.hostname,
                d.hostname
            ),
            format!(
                "get a certificate whose subject alternative names include {}",
                d.hostname
            ),
        ));
    }
    if facts.self_signed {
        out.push(Finding::warning(
            "tls.issuer",
            &subject,
            "the certificate is self-signed: mail clients warn their users and servers that verify TLS refuse it".into(),
            "configure a certificate from a public CA (tls.certificate, tls.private_key), e.g. from Let's Encrypt".into(),
        ));
    }
    out
}
