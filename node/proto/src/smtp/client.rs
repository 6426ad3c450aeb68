//! The client side of SMTP without I/O, for the outbound queue: the commands Tern sends (with
//! the ESMTP parameters the server announced), DATA dot-stuffing, xtext (RFC 3461) and reply
//! parsing with `smtp-proto`'s response receiver.

use smtp_proto::{EXT_8BIT_MIME, EXT_DSN, EXT_SIZE, EXT_SMTP_UTF8, EhloResponse, Response};

/// The longest reply accepted from a server (smtp-proto's cap).
pub const MAX_REPLY: usize = smtp_proto::response::parser::MAX_RESPONSE_LENGTH;

/// What the envelope needs from the server.
#[derive(Debug, Clone, Default)]
pub struct Envelope<'a> {
    /// Reverse path (empty: null sender).
    pub from: &'a str,
    /// Message size in bytes.
    pub size: u64,
    /// The body is 8-bit MIME.
    pub body_8bit: bool,
    /// The envelope or headers need SMTPUTF8.
    pub smtputf8: bool,
    /// DSN RET (`FULL` or `HDRS`).
    pub ret: Option<&'a str>,
    /// DSN ENVID.
    pub envid: Option<&'a str>,
}

/// Encodes `s` as RFC 3461 xtext.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// `MAIL FROM:<…>` with SIZE, BODY, SMTPUTF8 and DSN parameters the server supports.
pub fn mail_from(env: &Envelope<'_>, ehlo: &EhloResponse<String>) -> String {
    let mut cmd = format!("MAIL FROM:<{}>", env.from);
    if ehlo.has_capability(EXT_SIZE) {
        cmd.push_str(&format!(" SIZE={}", env.size));
    }
    if env.body_8bit && ehlo.has_capability(EXT_8BIT_MIME) {
        cmd.push_str(" BODY=8BITMIME");
    }
    if env.smtputf8 && ehlo.has_capability(EXT_SMTP_UTF8) {
        cmd.push_str(" SMTPUTF8");
    }
    if ehlo.has_capability(EXT_DSN) {
        if let Some(ret) = env.ret {
            cmd.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = env.envid {
            cmd.push_str(&format!(" ENVID={}", xtext(envid)));
        }
    }
    cmd.push_str("\r\n");
    cmd
}

/// `RCPT TO:<…>` with NOTIFY (e.g. `SUCCESS,FAILURE`) and ORCPT (`rfc822;addr`) when the server
/// supports DSN.
pub fn rcpt_to(
    address: &str,
    notify: Option<&str>,
    orcpt: Option<&str>,
    ehlo: &EhloResponse<String>,
) -> String {
    let mut cmd = format!("RCPT TO:<{address}>");
    if ehlo.has_capability(EXT_DSN) {
        if let Some(n) = notify {
            cmd.push_str(&format!(" NOTIFY={n}"));
        }
        if let Some(o) = orcpt {
            match o.split_once(';') {
                Some((kind, addr)) => cmd.push_str(&format!(" ORCPT={kind};{}", xtext(addr))),
                None => cmd.push_str(&format!(" ORCPT=rfc822;{}", xtext(o))),
            }
        }
    }
    cmd.push_str("\r\n");
    cmd
}

/// The body for DATA: line ends made CRLF, leading dots doubled, and the final `.` line.
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut line_start = true;
    let mut prev = 0u8;
    for &b in body {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        line_start = b == b'\n';
        prev = b;
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Why a reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The server sent something that is not an SMTP reply.
    #[error("invalid reply from the server: {0}")]
    Invalid(String),
    /// The reply is longer than [`MAX_REPLY`].
    #[error("reply longer than {MAX_REPLY} bytes")]
    TooLong,
}

/// The end of the first complete reply in `buf` (after its last line's LF), if there is one.
pub fn reply_end(buf: &[u8]) -> Result<Option<usize>, ReplyError> {
    let mut start = 0;
    while let Some(lf) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + lf + 1];
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(ReplyError::Invalid(
                String::from_utf8_lossy(line).trim_end().into(),
            ));
        }
        start += lf + 1;
        if line.get(3) != Some(&b'-') {
            return Ok(Some(start));
        }
        if start > MAX_REPLY {
            return Err(ReplyError::TooLong);
        }
    }
    if buf.len() > MAX_REPLY {
        return Err(ReplyError::TooLong);
    }
    Ok(None)
}

/// Parses one complete reply (as delimited by [`reply_end`]).
pub fn parse_reply(reply: &[u8]) -> Result<Response<String>, ReplyError> {
    smtp_proto::response::parser::ResponseReceiver::default()
        .parse(&mut reply.iter())
        .map_err(|e| match e {
            smtp_proto::Error::ResponseTooLong => ReplyError::TooLong,
            other => ReplyError::Invalid(format!(
                "{other}: {}",
                String::from_utf8_lossy(&reply[..reply.len().min(200)]).trim_end()
            )),
        })
}

/// Parses a complete EHLO reply.
pub fn parse_ehlo(reply: &[u8]) -> Result<EhloResponse<String>, ReplyError> {
    EhloResponse::parse(&mut reply.iter()).map_err(|e| {
        ReplyError::Invalid(format!(
            "{e}: {}",
            String::from_utf8_lossy(&reply[..reply.len().min(200)]).trim_end()
        ))
    })
}

/// A reply as one line for logs, DSNs and operators: `550 5.1.1 no such user`.
pub fn describe(r: &Response<String>) -> String {
    let text = r.message.replace(['\r', '\n'], " ");
    if r.esc[0] != 0 {
        format!("{} {}.{}.{} {}", r.code, r.esc[0], r.esc[1], r.esc[2], text)
    } else {
        format!("{} {}", r.code, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n"), b"..a\r\nb\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\n.\nb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }

    #[test]
    fn xtext_escapes_plus_equals_and_controls() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("user@example.com"), "user@example.com");
    }

    #[test]
    fn replies_are_delimited_and_parsed() {
        let buf = b"250-first\r\n250 2.1.0 ok\r\n354 go";
        let end = reply_end(buf).expect("valid").expect("complete");
        assert_eq!(&buf[end..], b"354 go");
        let r = parse_reply(&buf[..end]).expect("parse");
        assert_eq!(r.code, 250);
        assert_eq!(r.esc, [2, 1, 0]);
        assert_eq!(reply_end(b"250-more\r\n").expect("valid"), None);
        assert!(reply_end(b"hi\r\n").is_err());
        let r = parse_reply(b"550 5.1.1 no such user\r\n").expect("parse");
        assert_eq!(describe(&r), "550 5.1.1 no such user");
    }

    #[test]
    fn ehlo_parameters_follow_capabilities() {
        let ehlo = parse_ehlo(
            b"250-mx.example\r\n250-SIZE 1000\r\n250-DSN\r\n250-8BITMIME\r\n250 PIPELINING\r\n",
        )
        .expect("ehlo");
        let env = Envelope {
            from: "a@b",
            size: 10,
            body_8bit: true,
            smtputf8: true,
            ret: Some("HDRS"),
            envid: Some("x y"),
        };
        assert_eq!(
            mail_from(&env, &ehlo),
            "MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=x+20y\r\n"
        );
        assert_eq!(
            rcpt_to("c@d", Some("FAILURE"), Some("rfc822;e@f"), &ehlo),
            "RCPT TO:<c@d> NOTIFY=FAILURE ORCPT=rfc822;e@f\r\n"
        );
        let plain = parse_ehlo(b"250 mx.example\r\n").expect("ehlo");
        assert_eq!(mail_from(&env, &plain), "MAIL FROM:<a@b>\r\n");
    }
}
