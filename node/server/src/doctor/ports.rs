//! The mail listeners this node serves: each bound address, and each standard service not
//! served (SMTP 25, submission 587, submissions 465, IMAP 143, IMAPS 993, POP3 110, POP3S 995).

use super::{Doctor, Finding, Severity};

/// The listener keys, the port clients expect, and what its absence costs.
const SERVICES: [(&str, u16, &str); 7] = [
    ("smtp", 25, "other servers cannot deliver mail to this node"),
    ("submission", 587, "clients cannot submit with STARTTLS"),
    (
        "submissions",
        465,
        "clients cannot submit over implicit TLS",
    ),
    (
        "imap",
        143,
        "IMAP clients without implicit TLS cannot connect",
    ),
    (
        "imaps",
        993,
        "IMAP clients over implicit TLS cannot connect",
    ),
    (
        "pop3",
        110,
        "POP3 clients without implicit TLS cannot connect",
    ),
    (
        "pop3s",
        995,
        "POP3 clients over implicit TLS cannot connect",
    ),
];

/// A finding per standard service: where it listens, or what is missing without it.
pub fn listening(d: &Doctor) -> Vec<Finding> {
    SERVICES
        .iter()
        .map(
            |(key, port, without)| match d.listeners.iter().find(|(k, _)| k == key) {
                Some((_, addr)) => Finding::ok(
                    "ports.listening",
                    key,
                    format!("{key} (port {port} for clients) listens on {addr}"),
                ),
                None => Finding::with_severity(
                    Severity::Info,
                    "ports.listening",
                    key,
                    format!("{key} is not served: {without}"),
                    format!("set listeners.{key} if it should be"),
                ),
            },
        )
        .collect()
}
