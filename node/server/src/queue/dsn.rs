//! Delivery status notifications (RFC 3464) built with `mail-builder`: a `multipart/report`
//! with a plain-words explanation of each recipient's problem (quoting the remote reply), the
//! machine-readable `message/delivery-status` part, and the original headers (or the whole
//! message when the sender asked for RET=FULL).

use mail_builder::{
    MessageBuilder,
    headers::{HeaderType, content_type::ContentType, raw::Raw},
    mime::MimePart,
};
use tern_proto::date;
use tern_store::model::queue::{QueueEntry, Ret};

use super::outcome::{Report, ReportKind, ReportRecipient};

/// The enhanced status code in a diagnostic (`550 5.1.1 …` or `4.4.1 …`), or one derived from
/// its reply code.
pub fn status_of(diagnostic: &str, permanent: bool) -> String {
    let mut words = diagnostic.split_whitespace();
    let first = words.next().unwrap_or("");
    let esc = |w: &str| {
        let parts: Vec<&str> = w.split('.').collect();
        (parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
        .then(|| w.to_string())
    };
    if let Some(s) = esc(first) {
        return fix_class(s, permanent);
    }
    if first.len() == 3 && first.chars().all(|c| c.is_ascii_digit()) {
        if let Some(s) = words.next().and_then(esc) {
            return fix_class(s, permanent);
        }
        return format!("{}.0.0", &first[..1]);
    }
    if permanent { "5.0.0" } else { "4.0.0" }.to_string()
}

/// A failed recipient's status is 5.x.x even when the last error was temporary (expiry).
fn fix_class(s: String, permanent: bool) -> String {
    if permanent && s.starts_with('4') {
        format!("5{}", &s[1..])
    } else {
        s
    }
}

fn human(report: &Report, entry: &QueueEntry, hostname: &str) -> String {
    let mut text = String::new();
    let intro = match report.kind {
        ReportKind::Failure => format!(
            "This is the mail system at {hostname}.\r\n\r\nYour message could not be delivered \
             to one or more recipients. It is attached below.\r\n"
        ),
        ReportKind::Delay => format!(
            "This is the mail system at {hostname}.\r\n\r\nYour message has not been delivered \
             yet to the recipients below. The mail system keeps trying; you do not need to \
             send it again. You will be told if it finally fails.\r\n"
        ),
        ReportKind::Success => format!(
            "This is the mail system at {hostname}.\r\n\r\nYour message was handed over to \
             the receiving system for the recipients below, as you asked.\r\n"
        ),
    };
    text.push_str(&intro);
    for r in &report.recipients {
        text.push_str(&format!("\r\n<{}>:\r\n", r.address));
        let cause = super::cause::classify(&r.diagnostic);
        if report.kind != ReportKind::Success {
            text.push_str(&format!("    {}.\r\n", capitalize(&cause.explanation)));
        }
        if cause.local && report.kind != ReportKind::Success {
            text.push_str(&format!(
                "    The mail system here reported: {}\r\n",
                r.diagnostic
            ));
        } else {
            text.push_str(&format!(
                "    The server for {} said: {}\r\n",
                entry.domain, r.diagnostic
            ));
        }
    }
    text
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn per_recipient(r: &ReportRecipient, kind: ReportKind, host: &str) -> String {
    let (action, permanent) = match kind {
        ReportKind::Failure => ("failed", true),
        ReportKind::Delay => ("delayed", false),
        ReportKind::Success => ("relayed", false),
    };
    let status = if kind == ReportKind::Success {
        "2.0.0".to_string()
    } else {
        status_of(&r.diagnostic, permanent)
    };
    let mut s = String::new();
    if let Some(o) = &r.orcpt {
        s.push_str(&format!("Original-Recipient: {o}\r\n"));
    }
    s.push_str(&format!(
        "Final-Recipient: rfc822; {}\r\nAction: {action}\r\nStatus: {status}\r\n",
        r.address
    ));
    if !host.is_empty() {
        s.push_str(&format!("Remote-MTA: dns; {host}\r\n"));
    }
    let diag = r.diagnostic.replace(['\r', '\n'], " ");
    if diag.len() >= 3 && diag[..3].chars().all(|c| c.is_ascii_digit()) {
        s.push_str(&format!("Diagnostic-Code: smtp; {diag}\r\n"));
    } else {
        s.push_str(&format!("Diagnostic-Code: X-Tern; {diag}\r\n"));
    }
    s
}

/// The headers of a message (up to the first empty line).
fn headers_of(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(message.len());
    &message[..end]
}

/// Builds the notification for `report` about `entry`, whose sent message is `message`.
pub fn build(
    report: &Report,
    entry: &QueueEntry,
    message: &[u8],
    hostname: &str,
    remote_host: &str,
    now: i64,
) -> Vec<u8> {
    let subject = match report.kind {
        ReportKind::Failure => "Undelivered Mail Returned to Sender",
        ReportKind::Delay => "Delayed Mail (still being retried)",
        ReportKind::Success => "Successful Mail Delivery Report",
    };
    let mut status = format!(
        "Reporting-MTA: dns; {hostname}\r\nX-Tern-Queue-ID: {}\r\nArrival-Date: {}\r\n",
        entry.id,
        date::rfc5322(entry.created)
    );
    if let Some(envid) = &entry.envid {
        status.insert_str(0, &format!("Original-Envelope-Id: {envid}\r\n"));
    }
    for r in &report.recipients {
        status.push_str("\r\n");
        status.push_str(&per_recipient(r, report.kind, remote_host));
    }
    let original = if entry.ret == Some(Ret::Full) && report.kind == ReportKind::Failure {
        MimePart::new("message/rfc822", message.to_vec()).transfer_encoding("8bit")
    } else {
        MimePart::new("text/rfc822-headers", headers_of(message).to_vec()).transfer_encoding("8bit")
    };
    let body = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", human(report, entry, hostname)),
            MimePart::new("message/delivery-status", status.into_bytes()).transfer_encoding("7bit"),
            original,
        ],
    );
    MessageBuilder::new()
        .from((
            "Mail Delivery System".to_string(),
            format!("MAILER-DAEMON@{hostname}"),
        ))
        .to(entry.sender.as_str())
        .subject(subject)
        .date(now)
        .message_id(format!("{}.{}.dsn@{hostname}", entry.id, now))
        .header("Auto-Submitted", HeaderType::Raw(Raw::new("auto-replied")))
        .body(body)
        .write_to_vec()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_from_replies_and_errors() {
        assert_eq!(status_of("550 5.1.1 no such user", true), "5.1.1");
        assert_eq!(status_of("4.4.1 could not connect", false), "4.4.1");
        assert_eq!(status_of("4.4.7 expired", true), "5.4.7");
        assert_eq!(status_of("554 go away", true), "5.0.0");
        assert_eq!(status_of("connection reset", false), "4.0.0");
    }
}
