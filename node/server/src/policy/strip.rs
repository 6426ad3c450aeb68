//! Header fields an inbound message may not bring with it: `Authentication-Results` naming
//! this server's authserv-id (RFC 8601 §5: a receiver removes those it did not add, or a
//! sender could forge its own passing results), and `X-Spam-*` / `X-Tern-*` fields (this
//! server's own verdicts, which filters and users trust). Removed before the message is filed,
//! so nothing downstream reads a forged one. Works on the raw header section, without I/O.

/// `message` without the forged fields, or `None` when it has none (the common case, which
/// costs no copy).
pub fn strip(message: &[u8], authserv_id: &str) -> Option<Vec<u8>> {
    let fields = fields(message);
    let forged: Vec<&(usize, usize)> = fields
        .iter()
        .filter(|(start, end)| is_forged(&message[*start..*end], authserv_id))
        .collect();
    if forged.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(message.len());
    let mut at = 0;
    for (start, end) in forged {
        out.extend_from_slice(&message[at..*start]);
        at = *end;
    }
    out.extend_from_slice(&message[at..]);
    Some(out)
}

/// The byte ranges of the header fields, each with its continuation lines and line end.
fn fields(message: &[u8]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let end = message[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(message.len(), |i| at + i + 1);
        let line = &message[at..end];
        if line == b"\r\n" || line == b"\n" {
            break; // the end of the header section
        }
        match line[0] {
            b' ' | b'\t' => match out.last_mut() {
                Some(field) => field.1 = end,
                None => out.push((at, end)),
            },
            _ => out.push((at, end)),
        }
        at = end;
    }
    out
}

/// Whether one whole field (name, value and folds) is one the message may not bring.
fn is_forged(field: &[u8], authserv_id: &str) -> bool {
    let Some(colon) = field.iter().position(|b| *b == b':') else {
        return false;
    };
    let name = String::from_utf8_lossy(&field[..colon])
        .trim()
        .to_ascii_lowercase();
    if name.starts_with("x-spam-") || name.starts_with("x-tern-") {
        return true;
    }
    if name != "authentication-results" {
        return false;
    }
    // The authserv-id is the value's first token, before any version, comment or `;`.
    let value = String::from_utf8_lossy(&field[colon + 1..]);
    let value = strip_comments(&value);
    let id = value
        .split(|c: char| c == ';' || c.is_whitespace())
        .find(|t| !t.is_empty())
        .unwrap_or("");
    id.eq_ignore_ascii_case(authserv_id)
}

/// `text` without RFC 5322 comments (nested parentheses, backslash escapes).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut depth, mut escaped) = (0u32, false);
    for c in text.chars() {
        match (depth, c) {
            _ if escaped => escaped = false,
            (d, '\\') if d > 0 => escaped = true,
            (_, '(') => depth += 1,
            (d, ')') if d > 0 => depth -= 1,
            (0, c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "mx.example.org";

    fn stripped(message: &str) -> String {
        String::from_utf8(strip(message.as_bytes(), ID).unwrap_or_else(|| message.into()))
            .expect("utf-8")
    }

    #[test]
    fn forged_results_and_verdicts_go_others_stay() {
        let message = "Received: from a\r\n\tby b\r\n\
            Authentication-Results: MX.example.org;\r\n\tspf=pass smtp.mailfrom=x@y\r\n\
            Authentication-Results: (forged) mx.example.org 1; dkim=pass\r\n\
            Authentication-Results: relay.example.net; dmarc=pass\r\n\
            X-Spam-Status: No, score=-100\r\n\
            x-tern-junk: no\r\n\
            X-Spamming: kept\r\n\
            Subject: hi\r\n\
            \r\n\
            X-Spam-Status: in the body, kept\r\n";
        assert_eq!(
            stripped(message),
            "Received: from a\r\n\tby b\r\n\
             Authentication-Results: relay.example.net; dmarc=pass\r\n\
             X-Spamming: kept\r\n\
             Subject: hi\r\n\
             \r\n\
             X-Spam-Status: in the body, kept\r\n"
        );
    }

    #[test]
    fn a_clean_message_is_not_copied() {
        let clean = "Subject: hi\r\nAuthentication-Results: other.example; none\r\n\r\nbody\r\n";
        assert!(strip(clean.as_bytes(), ID).is_none());
        assert!(strip(b"", ID).is_none());
        assert!(strip(b"no header section at all", ID).is_none());
        // A header section that runs to the end (no body) is still searched.
        assert_eq!(stripped("A: b\r\nX-Tern-Junk: x"), "A: b\r\n");
    }

    #[test]
    fn an_id_that_only_starts_like_ours_is_not_ours() {
        let m = "Authentication-Results: mx.example.org.evil; spf=pass\r\n\r\n";
        assert!(strip(m.as_bytes(), ID).is_none());
    }
}
