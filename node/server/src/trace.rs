//! The per-session protocol trace: while switched on for a client IP address or an account
//! (`ternctl log trace`), the sessions of that address or account log every command they read
//! and every status reply they write, at DEBUG under the target `tern::trace`. Credentials
//! never reach the log: LOGIN/PASS/AUTH arguments and SASL responses are replaced by
//! `<redacted>`, and lines are cut at 200 bytes (an APPEND literal is not traced).

use std::{
    collections::BTreeSet,
    net::IpAddr,
    sync::{
        RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

use serde::{Deserialize, Serialize};

/// Longest part of a line traced.
const MAX_TRACED: usize = 200;
/// What credentials are shown as.
const REDACTED: &str = "<redacted>";

/// Who is traced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// Client addresses.
    #[serde(default)]
    pub ips: BTreeSet<IpAddr>,
    /// Accounts (login addresses, lower case).
    #[serde(default)]
    pub accounts: BTreeSet<String>,
}

static ANY: AtomicBool = AtomicBool::new(false);
static TARGETS: RwLock<Targets> = RwLock::new(Targets {
    ips: BTreeSet::new(),
    accounts: BTreeSet::new(),
});

/// Replaces who is traced (empty: nobody).
pub fn set(mut targets: Targets) {
    targets.accounts = targets
        .accounts
        .into_iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let on = !targets.ips.is_empty() || !targets.accounts.is_empty();
    *TARGETS.write().unwrap_or_else(|e| e.into_inner()) = targets;
    ANY.store(on, Ordering::Relaxed);
    crate::logging::set_trace(on);
}

/// Who is traced now.
pub fn current() -> Targets {
    TARGETS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Whether a session from `ip`, logged in as `account`, is traced.
pub fn wanted(ip: IpAddr, account: Option<&str>) -> bool {
    if !ANY.load(Ordering::Relaxed) {
        return false;
    }
    let t = TARGETS.read().unwrap_or_else(|e| e.into_inner());
    t.ips.contains(&ip) || account.is_some_and(|a| t.accounts.contains(&a.to_ascii_lowercase()))
}

/// The protocol whose credentials a line may carry.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// SMTP: `AUTH mech initial-response`.
    Smtp,
    /// IMAP: `tag LOGIN user password`, `tag AUTHENTICATE mech initial-response`.
    Imap,
    /// POP3: `PASS password`, `APOP user digest`, `AUTH mech initial-response`.
    Pop3,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }
}

fn cut(s: &str) -> &str {
    let mut end = s.len().min(MAX_TRACED);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A command line with its credentials replaced.
pub fn redact(protocol: Protocol, line: &str) -> String {
    let line = cut(line.trim_end_matches(['\r', '\n']));
    let words: Vec<&str> = line.split_whitespace().collect();
    // How many leading words stay: the rest is a secret.
    let keep = match protocol {
        Protocol::Smtp => match words.first() {
            Some(w) if w.eq_ignore_ascii_case("AUTH") => 2,
            _ => usize::MAX,
        },
        Protocol::Imap => match words.get(1) {
            Some(w) if w.eq_ignore_ascii_case("LOGIN") => 3,
            Some(w) if w.eq_ignore_ascii_case("AUTHENTICATE") => 3,
            _ => usize::MAX,
        },
        Protocol::Pop3 => match words.first() {
            Some(w) if w.eq_ignore_ascii_case("PASS") => 1,
            Some(w) if w.eq_ignore_ascii_case("APOP") || w.eq_ignore_ascii_case("AUTH") => 2,
            _ => usize::MAX,
        },
    };
    if words.len() <= keep {
        return line.to_string();
    }
    let mut out = words[..keep].join(" ");
    out.push(' ');
    out.push_str(REDACTED);
    out
}

/// Logs a command a traced session read.
pub fn command(session: &str, protocol: Protocol, line: &str) {
    tracing::debug!(target: "tern::trace", session, protocol = protocol.label(), "C: {}", redact(protocol, line));
}

/// Logs a SASL response line (always a secret).
pub fn sasl(session: &str, protocol: Protocol) {
    tracing::debug!(target: "tern::trace", session, protocol = protocol.label(), "C: {REDACTED}");
}

/// Logs a reply a traced session wrote.
pub fn reply(session: &str, protocol: Protocol, text: &str) {
    tracing::debug!(target: "tern::trace", session, protocol = protocol.label(), "S: {}", cut(text.trim_end()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_pass() {
        use Protocol::*;
        for (p, line, want) in [
            (Smtp, "AUTH PLAIN AGRlbW8AcHc=\r\n", "AUTH PLAIN <redacted>"),
            (Smtp, "auth login", "auth login"),
            (Smtp, "MAIL FROM:<a@b.test>", "MAIL FROM:<a@b.test>"),
            (
                Imap,
                "a1 LOGIN demo \"s3cret pw\"",
                "a1 LOGIN demo <redacted>",
            ),
            (
                Imap,
                "a2 authenticate PLAIN AGRlbW8=",
                "a2 authenticate PLAIN <redacted>",
            ),
            (Imap, "a3 SELECT INBOX", "a3 SELECT INBOX"),
            (Pop3, "PASS s3cret", "PASS <redacted>"),
            (Pop3, "APOP demo 0123abcd", "APOP demo <redacted>"),
            (Pop3, "USER demo", "USER demo"),
        ] {
            assert_eq!(redact(p, line), want);
        }
        assert_eq!(redact(Smtp, &"x".repeat(500)).len(), MAX_TRACED);
    }

    #[test]
    fn targets_by_ip_or_account() {
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        assert!(!wanted(ip, None));
        set(Targets {
            ips: [ip].into(),
            accounts: ["Demo@Example.test".to_string()].into(),
        });
        assert!(wanted(ip, None));
        assert!(wanted(
            "192.0.2.8".parse().expect("ip"),
            Some("demo@example.test")
        ));
        assert!(!wanted(
            "192.0.2.8".parse().expect("ip"),
            Some("other@example.test")
        ));
        set(Targets::default());
        assert!(!wanted(ip, None));
    }
}
