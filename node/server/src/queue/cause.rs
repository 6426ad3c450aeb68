//! Why a recipient was deferred or failed, read from its diagnostic: a remote server's reply
//! (`550 5.1.1 …`, as Postfix, Exim, Microsoft and Google word them) or one of this server's
//! own errors (`4.4.3 …` for a DNS lookup that failed here, `4.4.1` for a connection, ...).
//! Gives the plain-words explanation DSNs carry and the `reason` label of the queue metrics.

/// The reason label of `tern_queue_recipients_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// This server's address is on a DNS block list the receiver uses.
    BlockList,
    /// The address does not exist there.
    UnknownUser,
    /// The recipient's mailbox is full.
    MailboxFull,
    /// The message is larger than the receiver takes.
    TooLarge,
    /// Refused (or deferred, e.g. greylisting) by the receiver's policy.
    Policy,
    /// A DNS lookup failed, or the destination domain does not exist.
    Dns,
    /// The receiving servers could not be connected to, or the connection broke.
    Connect,
    /// TLS could not be set up as required.
    Tls,
    /// A server did not answer in time.
    Timeout,
    /// Anything else.
    Other,
}

impl Reason {
    /// Every reason, for exporting the metric families at 0.
    pub const ALL: [Reason; 10] = [
        Reason::BlockList,
        Reason::UnknownUser,
        Reason::MailboxFull,
        Reason::TooLarge,
        Reason::Policy,
        Reason::Dns,
        Reason::Connect,
        Reason::Tls,
        Reason::Timeout,
        Reason::Other,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::BlockList => "block_list",
            Reason::UnknownUser => "unknown_user",
            Reason::MailboxFull => "mailbox_full",
            Reason::TooLarge => "too_large",
            Reason::Policy => "policy",
            Reason::Dns => "dns",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::Timeout => "timeout",
            Reason::Other => "other",
        }
    }
}

/// A diagnostic, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The metric label's reason.
    pub reason: Reason,
    /// The cause in plain words (no final full stop).
    pub explanation: String,
    /// Whether the problem was met here (DNS, connection, TLS, time-out) rather than stated by
    /// the receiving server in a reply.
    pub local: bool,
}

/// The enhanced status code in a diagnostic (`550 5.1.1 …` or `4.4.1 …`), if any.
fn enhanced(diagnostic: &str) -> Option<(u8, &str)> {
    let mut words = diagnostic.split_whitespace();
    let first = words.next()?;
    // Google writes multi-line replies' codes as `550-5.1.1`, which end up in the first word.
    let candidate = match first.split_once('-') {
        Some((code, esc)) if is_reply_code(code) => esc,
        _ if is_reply_code(first) => words.next()?,
        _ => first,
    };
    let mut parts = candidate.splitn(2, '.');
    let class = parts
        .next()?
        .parse::<u8>()
        .ok()
        .filter(|c| matches!(c, 2 | 4 | 5))?;
    let detail = parts.next()?;
    let valid = detail.split('.').count() == 2
        && detail
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    valid.then_some((class, detail))
}

fn is_reply_code(word: &str) -> bool {
    let code = word.split('-').next().unwrap_or(word);
    code.len() == 3 && code.chars().all(|c| c.is_ascii_digit())
}

/// Whether the diagnostic is a remote reply (starts with a reply code) and whether it is 4xx.
fn reply_class(diagnostic: &str) -> Option<u8> {
    let first = diagnostic.split_whitespace().next()?;
    is_reply_code(first).then(|| first.as_bytes()[0] - b'0')
}

/// The block list a reply names, if it names one: `blocked using zen.spamhaus.org`,
/// `listed at bl.spamcop.net`, `in a black list at b.barracudacentral.org`.
fn list_named(lower: &str) -> Option<String> {
    const MARKERS: [&str; 9] = [
        "blocked using ",
        "listed at ",
        "listed in ",
        "listed on ",
        "listed by ",
        "black list at ",
        "blacklist at ",
        "blocklist at ",
        "block list at ",
    ];
    MARKERS.iter().find_map(|m| {
        let at = lower.find(m)? + m.len();
        let name: String = lower[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        let name = name.trim_end_matches('.');
        name.contains('.').then(|| name.to_string())
    })
}

/// Whether a reply says the sending server is on a block list.
fn block_listed(lower: &str, detail: Option<&str>) -> bool {
    if lower.contains("not listed") || lower.contains("isn't listed") {
        return false;
    }
    const WORDS: [&str; 11] = [
        "blocked using ",
        "blocklist",
        "block list",
        "blacklist",
        "black list",
        "dnsbl",
        "spamhaus",
        "spamcop",
        "barracuda",
        "banned sending ip",
        "on our block",
    ];
    // Microsoft's 5.7.606-5.7.649: the sending IP is banned.
    let microsoft = detail.is_some_and(|d| {
        d.strip_prefix("7.")
            .and_then(|n| n.parse::<u16>().ok())
            .is_some_and(|n| (606..=649).contains(&n))
    });
    WORDS.iter().any(|w| lower.contains(w))
        || microsoft
        || (lower.contains("listed") && (lower.contains("client host") || lower.contains("rbl")))
}

fn cause(reason: Reason, explanation: impl Into<String>, local: bool) -> Cause {
    Cause {
        reason,
        explanation: explanation.into(),
        local,
    }
}

/// Reads a diagnostic.
pub fn classify(diagnostic: &str) -> Cause {
    let lower = diagnostic.to_ascii_lowercase();
    if let Some(rest) = diagnostic.split_once("last error: ").map(|(_, r)| r)
        && lower.starts_with("4.4.7")
    {
        let last = classify(rest);
        return Cause {
            explanation: format!(
                "the message could not be delivered before the retry period ended; the last \
                 problem was that {}",
                last.explanation
            ),
            ..last
        };
    }
    match reply_class(diagnostic) {
        None => local(&lower, enhanced(diagnostic)),
        Some(class) => remote(&lower, class, enhanced(diagnostic).map(|(_, d)| d)),
    }
}

/// This server's own errors.
fn local(lower: &str, code: Option<(u8, &str)>) -> Cause {
    let detail = code.map(|(_, d)| d);
    if lower.contains("suspended after repeated failures") {
        return cause(
            Reason::Connect,
            "the receiving servers failed repeatedly, so delivery to them is paused for a while \
             and will be tried again",
            true,
        );
    }
    if detail == Some("4.3") {
        if lower.contains("no such host") || lower.contains("no address") {
            return cause(
                Reason::Dns,
                "the destination's mail hosts have no address in DNS (a problem with the \
                 receiving domain's DNS); it will be tried again",
                false,
            );
        }
        return cause(
            Reason::Dns,
            "this server's DNS lookup of the destination failed (a DNS server failure or \
             time-out on our side, not a refusal by the receiver); it will be tried again",
            true,
        );
    }
    if lower.contains("timed out") {
        return cause(
            Reason::Timeout,
            "the receiving server did not answer in time",
            true,
        );
    }
    if lower.contains("tls") || lower.contains("starttls") || lower.contains("certificate") {
        return cause(
            Reason::Tls,
            "a secure (TLS) connection to the receiving server could not be set up as this \
             server's policy requires",
            true,
        );
    }
    match detail {
        Some("1.2") => cause(
            Reason::Dns,
            "the destination domain does not exist or accepts no mail (its DNS says so)",
            true,
        ),
        Some("4.1") | Some("4.2") | Some("4.0") => cause(
            Reason::Connect,
            "the receiving server could not be connected to, or the connection broke",
            true,
        ),
        Some("4.7") => cause(
            Reason::Other,
            "the message could not be delivered before the retry period ended",
            true,
        ),
        _ if lower.contains("returned to the sender") => cause(
            Reason::Other,
            "the message was returned by the postmaster of this system",
            true,
        ),
        // Refused here before sending for what the receiver announced (SIZE, SMTPUTF8).
        Some(_) => Cause {
            local: true,
            ..remote(lower, code.map_or(5, |(c, _)| c), detail)
        },
        None => cause(Reason::Other, "the message could not be delivered", true),
    }
}

/// A remote server's reply.
fn remote(lower: &str, class: u8, detail: Option<&str>) -> Cause {
    let again = if class == 4 {
        "; this is temporary and the message will be tried again"
    } else {
        ""
    };
    if block_listed(lower, detail) {
        let what = match list_named(lower) {
            Some(list) => format!(
                "the receiving server refused mail from this server because this server's \
                 address is listed on the block list {list}"
            ),
            None => "the receiving server refused mail from this server because this server's \
                     address is listed on a block list"
                .to_string(),
        };
        return cause(Reason::BlockList, format!("{what}{again}"), false);
    }
    if class == 4
        && (lower.contains("greylist")
            || lower.contains("graylist")
            || lower.contains("grey-list")
            || lower.contains("gray-list"))
    {
        return cause(
            Reason::Policy,
            "the receiving server deferred the message for now (greylisting: it takes mail from a \
             new sender only on a later attempt); this is temporary and the message will be \
             tried again",
            false,
        );
    }
    if class == 4
        && (lower.contains("busy")
            || lower.contains("too many connections")
            || lower.contains("try again later")
            || lower.contains("try later")
            || lower.contains("rate"))
        && !matches!(detail, Some("2.2"))
    {
        return cause(
            Reason::Other,
            "the receiving server is busy or is limiting how fast it takes mail; this is \
             temporary and the message will be tried again",
            false,
        );
    }
    let (reason, what) = match detail {
        Some("1.1") | Some("1.0") | Some("1.6") | Some("1.10") => (
            Reason::UnknownUser,
            "the address does not exist at the destination (user unknown)",
        ),
        Some("2.2") => (
            Reason::MailboxFull,
            "the recipient's mailbox is full (quota exceeded)",
        ),
        Some("2.3") | Some("3.4") => (
            Reason::TooLarge,
            "the message is too large for the receiving system",
        ),
        Some("6.7") => (
            Reason::Policy,
            "the receiving server cannot handle the international (UTF-8) addresses of this \
             message",
        ),
        Some(d) if d.starts_with("7.") => (
            Reason::Policy,
            "the receiving server rejected the content or the sender by its policy",
        ),
        Some(d) if d.starts_with("6.") => (
            Reason::Policy,
            "the receiving server rejected the message content",
        ),
        _ if lower.contains("user unknown")
            || lower.contains("no such user")
            || lower.contains("unknown user")
            || lower.contains("unrouteable address")
            || lower.contains("recipient not found")
            || lower.contains("does not exist") =>
        {
            (
                Reason::UnknownUser,
                "the address does not exist at the destination (user unknown)",
            )
        }
        _ if lower.contains("quota")
            || lower.contains("mailbox full")
            || lower.contains("mailbox is full") =>
        {
            (
                Reason::MailboxFull,
                "the recipient's mailbox is full (quota exceeded)",
            )
        }
        _ if lower.contains("too large")
            || lower.contains("too big")
            || lower.contains("size limit") =>
        {
            (
                Reason::TooLarge,
                "the message is too large for the receiving system",
            )
        }
        _ => (
            Reason::Other,
            "the receiving server did not accept the message",
        ),
    };
    cause(reason, format!("{what}{again}"), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real-world reply shapes, written from the servers' documented formats.
    #[test]
    fn replies_of_postfix_exim_microsoft_and_google() {
        let table: [(&str, Reason, &str); 24] = [
            // Postfix reject_rbl_client and a check_client_access map.
            (
                "554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.25",
                Reason::BlockList,
                "block list zen.spamhaus.org",
            ),
            (
                "554 5.7.1 <mx.example.org[192.0.2.25]>: Client host rejected: listed at bl.spamcop.net",
                Reason::BlockList,
                "block list bl.spamcop.net",
            ),
            (
                "550 5.7.1 <unknown[192.0.2.25]>: Client host rejected: cannot find your hostname, [192.0.2.25]",
                Reason::Policy,
                "policy",
            ),
            (
                "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in local recipient table",
                Reason::UnknownUser,
                "user unknown",
            ),
            (
                "552 5.2.2 <full@example.net>: Recipient address rejected: Mailbox full",
                Reason::MailboxFull,
                "mailbox is full",
            ),
            (
                "552 5.3.4 Message size exceeds fixed limit",
                Reason::TooLarge,
                "too large",
            ),
            // postgrey and a busy Postfix.
            (
                "450 4.2.0 <a@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html",
                Reason::Policy,
                "greylisting",
            ),
            (
                "450 4.7.0 mx.example.net Error: too busy, try again later",
                Reason::Other,
                "busy",
            ),
            // Exim.
            (
                "550 rejected because 192.0.2.25 is in a black list at b.barracudacentral.org",
                Reason::BlockList,
                "block list b.barracudacentral.org",
            ),
            (
                "550 Unrouteable address",
                Reason::UnknownUser,
                "user unknown",
            ),
            (
                "451 Temporary local problem - please try later",
                Reason::Other,
                "busy",
            ),
            // Microsoft 365.
            (
                "550 5.7.606 Access denied, banned sending IP [192.0.2.25]. To request removal from this list please visit https://sender.office.com/ and follow the directions.",
                Reason::BlockList,
                "block list",
            ),
            (
                "550 5.4.1 Recipient address rejected: Access denied. [BN8NAM11FT066.eop-nam11.prod.protection.outlook.com]",
                Reason::Other,
                "did not accept",
            ),
            (
                "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
                Reason::UnknownUser,
                "user unknown",
            ),
            (
                "451 4.7.500 Server busy. Please try again later from [192.0.2.25]. (S77719)",
                Reason::Other,
                "busy",
            ),
            // Google (multi-line replies joined).
            (
                "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos",
                Reason::UnknownUser,
                "user unknown",
            ),
            (
                "452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
                Reason::MailboxFull,
                "temporary",
            ),
            (
                "552-5.2.3 Your message exceeded Google's message size limits.",
                Reason::TooLarge,
                "too large",
            ),
            (
                "550-5.7.26 This mail has been blocked because the sender is unauthenticated.",
                Reason::Policy,
                "policy",
            ),
            // This server's own errors.
            (
                "4.4.3 Internet address not found: the DNS lookup of MX example.net failed (request timed out)",
                Reason::Dns,
                "on our side",
            ),
            (
                "4.4.3 Internet address not found for the mail hosts of example.net: mx.example.net: no such host",
                Reason::Dns,
                "receiving domain's DNS",
            ),
            (
                "4.4.1 timed out waiting for the server to reply",
                Reason::Timeout,
                "did not answer",
            ),
            (
                "4.4.3 Internet address not found: the DNS lookup of MX example.net failed (SERVFAIL)",
                Reason::Dns,
                "on our side",
            ),
            (
                "4.4.1 could not connect to the mail hosts of example.net: connection refused",
                Reason::Connect,
                "could not be connected",
            ),
        ];
        for (diagnostic, reason, words) in table {
            let c = classify(diagnostic);
            assert_eq!(c.reason, reason, "{diagnostic}: {c:?}");
            assert!(
                c.explanation.contains(words),
                "{diagnostic}: {}",
                c.explanation
            );
        }
    }

    #[test]
    fn our_own_problems_are_ours_and_expiry_keeps_the_last_reason() {
        assert!(classify("4.4.3 the DNS lookup failed (SERVFAIL)").local);
        assert!(!classify("550 5.1.1 no such user").local);
        assert_eq!(
            classify("TLS: invalid peer certificate").reason,
            Reason::Tls
        );
        assert_eq!(
            classify(
                "5.1.2 host not found: the domain example.invalid does not exist (DNS NXDOMAIN)"
            )
            .reason,
            Reason::Dns
        );
        let c = classify(
            "4.4.7 delivery period expired after 5 days; last error: 554 5.7.1 Service \
             unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org",
        );
        assert_eq!(c.reason, Reason::BlockList);
        assert!(
            c.explanation.contains("retry period ended")
                && c.explanation.contains("zen.spamhaus.org")
        );
        assert!(
            !classify("550 5.7.1 sender not listed in our allowlist; not listed")
                .explanation
                .contains("block list")
        );
    }
}
