//! Every SMTP reply Tern sends, with its RFC 5321 code and RFC 3463 enhanced status code, in one
//! place: handlers pick a reply from here and never format codes themselves.

use std::borrow::Cow;

/// `554 5.7.1`: refused by an inbound policy check; `why` names the check's reason.
pub fn policy_refused(why: String) -> Reply {
    Reply::new(554, Some("5.7.1"), why)
}

/// `550 5.7.1`: the message fails the DMARC policy of the domain in its From, which asks
/// receivers to reject such mail; `why` names the domain and what failed.
pub fn dmarc_rejected(why: String) -> Reply {
    Reply::new(550, Some("5.7.1"), why)
}

/// `421 4.7.0`: a rate limit on connections refuses this one for now (the session closes).
pub fn connections_rate_limited(why: String) -> Reply {
    Reply::new(421, Some("4.7.0"), why)
}

/// `421 4.7.0`: logins from this client (or to this account) are banned for now after too many
/// failures; the session closes.
pub fn login_banned(why: String) -> Reply {
    Reply::new(421, Some("4.7.0"), why)
}

/// `550 5.7.1`: the spam score refuses the message; `why` gives the score and its reasons.
pub fn spam_refused(why: String) -> Reply {
    Reply::new(550, Some("5.7.1"), why)
}

/// `554 5.7.1`: the virus scanner found `signature` in the message.
pub fn malware_found(signature: &str) -> Reply {
    Reply::new(
        554,
        Some("5.7.1"),
        format!("message refused: it contains malware ({signature})"),
    )
}

/// `451 4.7.1`: the virus scanner could not scan the message; the sender should retry.
pub fn scanner_unavailable() -> Reply {
    Reply::new(
        451,
        Some("4.7.1"),
        "message not accepted for now: the virus scanner is unavailable; try again later",
    )
}

/// `451 4.7.1`: a rate limit refuses this message or recipient for now.
pub fn rate_limited(why: String) -> Reply {
    Reply::new(451, Some("4.7.1"), why)
}

/// `451 4.7.1`: greylisted — a first delivery attempt of a triplet (client network, sender,
/// recipient) the spam score puts in the grey band; a retry after `seconds` is accepted.
pub fn greylisted(seconds: u64) -> Reply {
    Reply::new(
        451,
        Some("4.7.1"),
        format!("greylisted: please try again in {seconds} seconds"),
    )
}

/// `503 5.7.1`: the session was refused at connect (RFC 5321 §3.1: only QUIT is taken).
pub fn refused_at_connect() -> Reply {
    Reply::new(
        503,
        Some("5.7.1"),
        "this session was refused at connect; only QUIT is accepted",
    )
}

/// One (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit code.
    pub code: u16,
    /// Enhanced status code (`x.y.z`), shown when the client may see them.
    pub status: Option<&'static str>,
    /// Text lines (at least one).
    pub lines: Vec<Cow<'static, str>>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(
        code: u16,
        status: Option<&'static str>,
        text: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            code,
            status,
            lines: vec![text.into()],
        }
    }

    /// The reply's class: 2, 3, 4 or 5.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    /// Whether the reply is a permanent or temporary refusal.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// The first text line.
    pub fn text(&self) -> &str {
        self.lines.first().map(|l| l.as_ref()).unwrap_or("")
    }

    /// Writes the reply in wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{}", self.code, sep).as_bytes());
            // Enhanced codes go on every line of a reply except EHLO's capability list.
            if let Some(status) = self.status {
                out.extend_from_slice(status.as_bytes());
                out.push(b' ');
            }
            // A reply line never carries a bare CR or LF from the text it quotes.
            out.extend(line.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The encoded reply as a string (tests, logs).
    pub fn to_wire(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// `220 host ESMTP Tern`
pub fn greeting(host: &str) -> Reply {
    Reply::new(220, None, format!("{host} ESMTP Tern ready"))
}

/// EHLO's capability list.
pub fn ehlo(host: &str, peer: &str, capabilities: Vec<String>) -> Reply {
    let mut lines: Vec<Cow<'static, str>> = vec![format!("{host} Hello {peer}").into()];
    lines.extend(capabilities.into_iter().map(Cow::Owned));
    Reply {
        code: 250,
        status: None,
        lines,
    }
}

/// HELO's answer.
pub fn helo(host: &str, peer: &str) -> Reply {
    Reply::new(250, None, format!("{host} Hello {peer}"))
}

/// `221` on QUIT.
pub fn bye(host: &str) -> Reply {
    Reply::new(221, Some("2.0.0"), format!("{host} closing connection"))
}

/// Generic success (NOOP, RSET).
pub fn ok() -> Reply {
    Reply::new(250, Some("2.0.0"), "OK")
}

/// MAIL accepted.
pub fn sender_ok() -> Reply {
    Reply::new(250, Some("2.1.0"), "Sender OK")
}

/// RCPT accepted.
pub fn recipient_ok() -> Reply {
    Reply::new(250, Some("2.1.5"), "Recipient OK")
}

/// DATA may start.
pub fn start_data() -> Reply {
    Reply::new(354, None, "Start mail input; end with <CRLF>.<CRLF>")
}

/// The message is committed.
pub fn queued(id: &str) -> Reply {
    Reply::new(250, Some("2.0.0"), format!("Message accepted, id {id}"))
}

/// A non-final BDAT chunk was received.
pub fn chunk_ok(bytes: usize) -> Reply {
    Reply::new(250, Some("2.0.0"), format!("{bytes} octets received"))
}

/// VRFY never confirms or denies an address.
pub fn vrfy() -> Reply {
    Reply::new(
        252,
        Some("2.1.5"),
        "Cannot VRFY user, but will accept message and attempt delivery",
    )
}

/// HELP.
pub fn help() -> Reply {
    Reply::new(
        214,
        Some("2.0.0"),
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH",
    )
}

/// Ready for the TLS handshake.
pub fn starttls_ready() -> Reply {
    Reply::new(220, Some("2.0.0"), "Ready to start TLS")
}

/// A SASL challenge (base64 text).
pub fn auth_challenge(b64: &str) -> Reply {
    Reply::new(334, None, b64.to_string())
}

/// AUTH succeeded.
pub fn auth_ok() -> Reply {
    Reply::new(235, Some("2.7.0"), "Authentication successful")
}

/// Server is shutting down.
pub fn shutting_down(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.3.2"),
        format!("{host} Service shutting down, try again later"),
    )
}

/// An operator ended the session.
pub fn kicked(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.7.0"),
        format!("{host} Session ended by the administrator"),
    )
}

/// Idle or data timeout.
pub fn timeout(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.4.2"),
        format!("{host} Timeout exceeded, closing connection"),
    )
}

/// The session ran past its total time limit.
pub fn session_too_long(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.4.2"),
        format!("{host} Session time limit exceeded, closing connection"),
    )
}

/// Too many errors in one session.
pub fn too_many_errors(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.7.0"),
        format!("{host} Too many errors, closing connection"),
    )
}

/// Too many failed AUTH attempts.
pub fn too_many_auth_failures(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.7.0"),
        format!("{host} Too many authentication failures, closing connection"),
    )
}

/// Per-IP connection limit.
pub fn too_many_connections_from_ip(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.7.0"),
        format!("{host} Too many connections from your address, try again later"),
    )
}

/// Node-wide connection limit.
pub fn too_many_connections(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.3.2"),
        format!("{host} Too many connections, try again later"),
    )
}

/// The store failed; details are in the log.
pub fn internal_error() -> Reply {
    Reply::new(
        451,
        Some("4.3.0"),
        "Temporary internal error, try again later",
    )
}

/// Recipient's mailbox is over quota (temporary).
pub fn mailbox_full_temporary(address: &str) -> Reply {
    Reply::new(
        452,
        Some("4.2.2"),
        format!("Mailbox of <{address}> is full (quota exceeded), try again later"),
    )
}

/// Recipient's mailbox is over quota (permanent, when configured).
pub fn mailbox_full_permanent(address: &str) -> Reply {
    Reply::new(
        552,
        Some("5.2.2"),
        format!("Mailbox of <{address}> is full (quota exceeded)"),
    )
}

/// Too many recipients for one message.
pub fn too_many_recipients(max: usize) -> Reply {
    Reply::new(
        452,
        Some("4.5.3"),
        format!("Too many recipients (at most {max} per message)"),
    )
}

/// TLS is not configured on this listener.
pub fn tls_unavailable() -> Reply {
    Reply::new(454, Some("4.7.0"), "TLS not available")
}

/// The handshake failed (sent in clear text only if the client never started it).
pub fn tls_already_active() -> Reply {
    Reply::new(503, Some("5.5.1"), "TLS already active")
}

/// Command line over the limit.
pub fn line_too_long() -> Reply {
    Reply::new(500, Some("5.5.2"), "Line too long")
}

/// Unknown command.
pub fn unknown_command() -> Reply {
    Reply::new(500, Some("5.5.1"), "Command not recognized")
}

/// Syntax error in a command.
pub fn syntax(what: &str) -> Reply {
    Reply::new(501, Some("5.5.4"), format!("Syntax error: {what}"))
}

/// An address that does not parse.
pub fn bad_address(what: &str) -> Reply {
    Reply::new(501, Some("5.1.3"), format!("Invalid address: {what}"))
}

/// A parameter we do not support.
pub fn unsupported_parameter(param: &str) -> Reply {
    Reply::new(555, Some("5.5.4"), format!("Unsupported parameter {param}"))
}

/// A command we do not implement.
pub fn not_implemented(cmd: &str) -> Reply {
    Reply::new(502, Some("5.5.1"), format!("{cmd} not implemented"))
}

/// Commands in the wrong order.
pub fn bad_sequence(what: &str) -> Reply {
    Reply::new(
        503,
        Some("5.5.1"),
        format!("Bad sequence of commands: {what}"),
    )
}

/// AUTH with a mechanism we do not offer.
pub fn auth_mechanism_unsupported() -> Reply {
    Reply::new(
        504,
        Some("5.5.4"),
        "Unrecognized authentication mechanism (use PLAIN or LOGIN)",
    )
}

/// A SASL answer that is not valid base64 or not well formed.
pub fn auth_malformed() -> Reply {
    Reply::new(501, Some("5.5.2"), "Cannot decode authentication response")
}

/// The client cancelled AUTH with `*`.
pub fn auth_cancelled() -> Reply {
    Reply::new(501, Some("5.7.0"), "Authentication cancelled")
}

/// Already authenticated.
pub fn already_authenticated() -> Reply {
    Reply::new(503, Some("5.5.1"), "Already authenticated")
}

/// Submission without AUTH.
pub fn auth_required() -> Reply {
    Reply::new(530, Some("5.7.0"), "Authentication required")
}

/// Wrong credentials.
pub fn auth_failed() -> Reply {
    Reply::new(535, Some("5.7.8"), "Authentication credentials invalid")
}

/// AUTH before TLS where that is refused.
pub fn encryption_required() -> Reply {
    Reply::new(
        538,
        Some("5.7.11"),
        "Encryption required for requested authentication mechanism: use STARTTLS first, or \
         port 465 (TLS from the start)",
    )
}

/// Unknown local recipient.
pub fn unknown_user(address: &str) -> Reply {
    Reply::new(
        550,
        Some("5.1.1"),
        format!("<{address}>: Recipient address rejected: user unknown"),
    )
}

/// Relaying for an unauthenticated client.
pub fn relay_denied(address: &str) -> Reply {
    Reply::new(
        554,
        Some("5.7.1"),
        format!(
            "<{address}>: Relay access denied; to send to other domains, authenticate (AUTH) \
             on the submission port 587 with STARTTLS, or on port 465"
        ),
    )
}

/// MAIL FROM an address the authenticated user does not own.
pub fn sender_not_owned(address: &str) -> Reply {
    Reply::new(
        553,
        Some("5.7.1"),
        format!("<{address}>: sender not owned by authenticated user"),
    )
}

/// The server is low on disk space (RFC 3463 X.3.1); temporary.
pub fn insufficient_storage() -> Reply {
    Reply::new(452, Some("4.3.1"), "Insufficient system storage")
}

/// The node has no memory for the message now; the connection closes.
pub fn no_memory(host: &str) -> Reply {
    Reply::new(
        421,
        Some("4.3.2"),
        format!("{host} Too much mail data in progress; try again later, closing connection"),
    )
}

/// The message is larger than allowed.
pub fn message_too_big(max: usize) -> Reply {
    Reply::new(
        552,
        Some("5.3.4"),
        format!("Message size exceeds fixed maximum message size ({max} bytes)"),
    )
}

/// A message whose MIME parts nest deeper than the server handles (Postfix's
/// `mime_nesting_limit`); permanent, since sending it again cannot help.
pub fn mime_too_deep(depth: u32, max: u32) -> Reply {
    Reply::new(
        554,
        Some("5.6.0"),
        format!("Message refused: MIME parts are nested {depth} levels deep (at most {max})"),
    )
}

/// DATA or BDAT without any accepted recipient.
pub fn no_valid_recipients() -> Reply {
    Reply::new(554, Some("5.5.1"), "No valid recipients")
}

/// 8-bit data was not declared (SMTPUTF8 address without the parameter).
pub fn utf8_not_declared() -> Reply {
    Reply::new(
        553,
        Some("5.6.7"),
        "Non-ASCII address requires the SMTPUTF8 parameter",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_multiline_and_enhanced_codes() {
        let r = ehlo(
            "mx.test",
            "client.test",
            vec!["PIPELINING".into(), "SIZE 100".into()],
        );
        assert_eq!(
            r.to_wire(),
            "250-mx.test Hello client.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n"
        );
        assert_eq!(
            relay_denied("x@y.test").to_wire(),
            "554 5.7.1 <x@y.test>: Relay access denied; to send to other domains, authenticate \
             (AUTH) on the submission port 587 with STARTTLS, or on port 465\r\n"
        );
        assert_eq!(Reply::new(250, None, "a\r\nb").to_wire(), "250 ab\r\n");
    }
}
