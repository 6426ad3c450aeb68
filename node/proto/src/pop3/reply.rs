//! Every POP3 response Tern sends, with RFC 3206 response codes, in one place; and the
//! multi-line encoding (dot-stuffing, terminating dot).

/// A one-line response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `+OK` or `-ERR`.
    pub ok: bool,
    /// The text after the status (response code included).
    pub text: String,
}

impl Reply {
    fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
        }
    }

    fn err(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            text: text.into(),
        }
    }

    /// The wire form with CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.ok { b"+OK" } else { b"-ERR" });
        if !self.text.is_empty() {
            out.push(b' ');
            out.extend(self.text.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The wire form as a string.
    pub fn to_wire(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Greeting.
pub fn greeting(host: &str) -> Reply {
    Reply::ok(format!("{host} Tern POP3 server ready"))
}

/// Generic success.
pub fn ok(text: &str) -> Reply {
    Reply::ok(text)
}

/// CAPA header line (followed by the capability list).
pub fn capa() -> Reply {
    Reply::ok("Capability list follows")
}

/// Ready for the TLS handshake.
pub fn stls_ready() -> Reply {
    Reply::ok("Begin TLS negotiation")
}

/// USER accepted (the password decides).
pub fn user_ok() -> Reply {
    Reply::ok("Send your password")
}

/// Logged in.
pub fn logged_in(count: usize, bytes: u64) -> Reply {
    Reply::ok(format!("Logged in, {count} messages ({bytes} octets)"))
}

/// STAT.
pub fn stat(count: usize, bytes: u64) -> Reply {
    Reply::ok(format!("{count} {bytes}"))
}

/// LIST or UIDL of one message.
pub fn scan(n: u32, value: &str) -> Reply {
    Reply::ok(format!("{n} {value}"))
}

/// Header of a multi-line listing.
pub fn listing(count: usize) -> Reply {
    Reply::ok(format!("{count} messages"))
}

/// Header of a message transfer.
pub fn message_follows(bytes: u64) -> Reply {
    Reply::ok(format!("{bytes} octets"))
}

/// DELE.
pub fn deleted(n: u32) -> Reply {
    Reply::ok(format!("message {n} deleted"))
}

/// RSET.
pub fn reset(count: usize) -> Reply {
    Reply::ok(format!("{count} messages, none marked for deletion"))
}

/// QUIT in the authorization state.
pub fn bye() -> Reply {
    Reply::ok("Bye")
}

/// QUIT after the UPDATE state committed.
pub fn updated(deleted: usize, left: usize) -> Reply {
    Reply::ok(format!("{deleted} messages deleted, {left} left; bye"))
}

/// A SASL challenge.
pub fn sasl_challenge(b64: &str) -> String {
    format!("+ {b64}\r\n")
}

/// Unknown command.
pub fn unknown_command(keyword: &str) -> Reply {
    Reply::err(format!("Unknown command {keyword}"))
}

/// Bad arguments.
pub fn bad_arguments(what: &str) -> Reply {
    Reply::err(format!("Invalid arguments: {what}"))
}

/// Line over 255 octets.
pub fn line_too_long() -> Reply {
    Reply::err("Command line too long (at most 255 octets)")
}

/// Command not valid in this state.
pub fn wrong_state(cmd: &str, state: &str) -> Reply {
    Reply::err(format!("{cmd} is not allowed {state}"))
}

/// PASS without USER.
pub fn pass_without_user() -> Reply {
    Reply::err("Send USER first")
}

/// USER/PASS or AUTH refused on a clear-text connection.
pub fn plaintext_disabled() -> Reply {
    Reply::err(
        "[AUTH] Plain-text authentication is disabled on unencrypted connections; use STLS or port 995",
    )
}

/// Wrong credentials.
/// Failed credentials; a login without a domain is told to use the full address (whether or
/// not it names any account, so the answer reveals nothing).
pub fn auth_failed(bare_local_part: bool) -> Reply {
    if bare_local_part {
        Reply::err("[AUTH] Authentication failed; log in with the full address")
    } else {
        Reply::err("[AUTH] Authentication failed")
    }
}

/// Logins from this client (or to this account) are banned for now: the connection closes.
pub fn login_banned(why: &str) -> Reply {
    Reply::err(format!("[AUTH] {why}"))
}

/// Too many failures: the connection closes.
pub fn too_many_auth_failures() -> Reply {
    Reply::err("[AUTH] Too many authentication failures, closing connection")
}

/// AUTH with an unsupported mechanism.
pub fn mechanism_unsupported() -> Reply {
    Reply::err("Unsupported SASL mechanism (use PLAIN)")
}

/// Cancelled or malformed SASL exchange.
pub fn sasl_aborted() -> Reply {
    Reply::err("SASL authentication aborted")
}

/// APOP is not offered.
pub fn apop_unsupported() -> Reply {
    Reply::err("APOP is not supported; use USER/PASS or AUTH PLAIN over TLS")
}

/// TLS active already, or not configured.
pub fn tls_unavailable(active: bool) -> Reply {
    Reply::err(if active {
        "TLS is already active"
    } else {
        "TLS is not available"
    })
}

/// Mailbox locked by another session.
pub fn in_use() -> Reply {
    Reply::err("[IN-USE] mailbox is locked by another POP3 session, try again when it ends")
}

/// No such message (or deleted).
pub fn no_such_message(n: u32) -> Reply {
    Reply::err(format!("no such message {n}"))
}

/// Already marked for deletion.
pub fn already_deleted(n: u32) -> Reply {
    Reply::err(format!("message {n} is already deleted"))
}

/// The message vanished (expunged elsewhere) after login.
pub fn message_gone(n: u32) -> Reply {
    Reply::err(format!(
        "[SYS/PERM] message {n} was removed by another client"
    ))
}

/// The store failed; details are in the log.
pub fn temporary_failure() -> Reply {
    Reply::err("[SYS/TEMP] Temporary server error, try again later")
}

/// The UPDATE state failed: nothing was deleted.
pub fn update_failed() -> Reply {
    Reply::err("[SYS/TEMP] Could not delete the marked messages; none were deleted, try again")
}

/// The lock was lost (lease expired while the server could not renew it).
pub fn lock_lost() -> Reply {
    Reply::err("[SYS/TEMP] Mailbox lock lost; reconnect")
}

/// Idle too long (autologout timer).
pub fn timeout() -> Reply {
    Reply::err("Idle for too long, closing connection")
}

/// Too many bad commands.
pub fn too_many_errors() -> Reply {
    Reply::err("Too many errors, closing connection")
}

/// Connection limits.
pub fn too_many_connections(per_ip: bool) -> Reply {
    Reply::err(if per_ip {
        "[SYS/TEMP] Too many connections from your address"
    } else {
        "[SYS/TEMP] Too many connections"
    })
}

/// Server shutting down.
pub fn shutting_down() -> Reply {
    Reply::err("[SYS/TEMP] Server shutting down")
}

/// An operator ended the session.
pub fn kicked() -> Reply {
    Reply::err("Session ended by the administrator")
}

/// Appends `body` as a multi-line payload: CRLF line endings, leading dots doubled, ended by
/// `.` on its own line. A body without a final line ending gets one.
pub fn encode_multiline(body: &[u8], out: &mut Vec<u8>) {
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !body.is_empty() && !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// The first `lines` body lines after the header, for TOP.
pub fn top(message: &[u8], lines: u32) -> &[u8] {
    let header_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(message.len());
    let mut end = header_end;
    for _ in 0..lines {
        match message[end..].iter().position(|b| *b == b'\n') {
            Some(p) => end += p + 1,
            None => {
                end = message.len();
                break;
            }
        }
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_dot_stuffs_and_terminates() {
        let mut out = Vec::new();
        encode_multiline(b"Subject: x\r\n\r\n.hidden\nlast", &mut out);
        assert_eq!(out, b"Subject: x\r\n\r\n..hidden\r\nlast\r\n.\r\n");
    }

    #[test]
    fn top_keeps_headers_and_n_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top(m, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top(m, 2), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top(m, 9), m);
    }

    #[test]
    fn codes_are_on_the_wire() {
        assert_eq!(
            in_use().to_wire(),
            "-ERR [IN-USE] mailbox is locked by another POP3 session, try again when it ends\r\n"
        );
        assert_eq!(stat(2, 10).to_wire(), "+OK 2 10\r\n");
    }
}
