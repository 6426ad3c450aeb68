//! The mail a postmaster notice is (mail-builder): plain text saying what was found, what it
//! means and what to do, marked auto-generated (RFC 3834) and sent with the null sender, so
//! nothing answers or bounces it.

use mail_builder::MessageBuilder;
use tern_store::model::notice::Notice;

/// The RFC 5322 message for `n`, from `MAILER-DAEMON@hostname` to `to`, seen on `node`.
pub fn build(n: &Notice, hostname: &str, to: &str, node: &str, every: &str) -> Vec<u8> {
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    let mut body = format!(
        "Tern found a condition that needs an operator.\n\n\
         {severity}: {check} ({subject})\n\n{message}\n",
        severity = n.severity.to_uppercase(),
        check = n.check,
        subject = n.subject,
        message = n.message,
    );
    if !n.fix.is_empty() {
        body.push_str(&format!("\nWhat to do: {}\n", n.fix));
    }
    body.push_str(&format!(
        "\nSeen by: {node} on {hostname}\nFirst seen: {}\nNotices about it so far: {}\n\n\
         While it lasts this notice comes again at most every {every}; \
         `ternctl notices` lists every condition, `ternctl doctor` checks everything now.\n",
        when(n.first_seen),
        n.sent,
    ));
    MessageBuilder::new()
        .from(("Tern", format!("MAILER-DAEMON@{hostname}").as_str()))
        .to(to)
        .subject(format!(
            "[Tern] {}: {} ({})",
            n.severity, n.check, n.subject
        ))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .date(n.last_sent)
        .message_id(format!(
            "notice.{}.{}.{}@{hostname}",
            &blake3::hash(n.id.as_bytes()).to_hex()[..12],
            n.sent,
            n.last_sent
        ))
        .text_body(body)
        .write_to_vec()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_says_what_where_and_what_to_do() {
        let n = Notice {
            id: "node-2/disk.space//var/lib/tern".into(),
            check: "disk.space".into(),
            subject: "/var/lib/tern".into(),
            severity: "error".into(),
            message: "900 bytes free".into(),
            fix: "grow the volume".into(),
            first_seen: 1_796_000_000,
            last_sent: 1_796_000_100,
            sent: 2,
            ..Notice::default()
        };
        let raw = String::from_utf8(build(
            &n,
            "mx.example.org",
            "postmaster@example.org",
            "node-2",
            "6 hours",
        ))
        .expect("utf-8");
        assert!(
            raw.contains("Subject: [Tern] error: disk.space (/var/lib/tern)"),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        assert!(raw.contains("<MAILER-DAEMON@mx.example.org>"), "{raw}");
        assert!(raw.contains("What to do: grow the volume"), "{raw}");
        assert!(raw.contains("Seen by: node-2 on mx.example.org"), "{raw}");
        assert!(raw.contains("at most every 6 hours"), "{raw}");
    }
}
