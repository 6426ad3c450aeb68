//! Trace headers added on acceptance: `Return-Path:` for local copies and `Received:` (RFC 5321
//! §4.4, with the RFC 3848 protocol keyword).

use tern_proto::date;

/// What a `Received:` header records.
pub struct Trace<'a> {
    /// Name given in EHLO/HELO.
    pub helo: &'a str,
    /// Client address.
    pub peer: std::net::IpAddr,
    /// Our host name.
    pub host: &'a str,
    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA`.
    pub protocol: &'a str,
    /// TLS version and cipher, when encrypted.
    pub tls: Option<String>,
    /// Queue id.
    pub id: &'a str,
    /// The recipient, when there is exactly one.
    pub single_recipient: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// `Received: ...` with CRLF, folded.
pub fn received(t: &Trace<'_>) -> String {
    let helo: String = t
        .helo
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let tls = t
        .tls
        .as_ref()
        .map(|d| format!(" (using {d})"))
        .unwrap_or_default();
    let rcpt = t
        .single_recipient
        .map(|r| format!("\r\n\tfor <{r}>"))
        .unwrap_or_default();
    format!(
        "Received: from {helo} ([{}])\r\n\tby {} (Tern) with {}{tls} id {}{rcpt};\r\n\t{}\r\n",
        t.peer,
        t.host,
        t.protocol,
        t.id,
        date::rfc5322(t.now)
    )
}

/// `Return-Path: <sender>` with CRLF.
pub fn return_path(sender: &str) -> String {
    format!("Return-Path: <{sender}>\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_header_shape() {
        let h = received(&Trace {
            helo: "client.test",
            peer: "127.0.0.1".parse().expect("ip"),
            host: "mx.test",
            protocol: "ESMTPS",
            tls: None,
            id: "abc",
            single_recipient: Some("a@b.test"),
            now: 0,
        });
        assert_eq!(
            h,
            "Received: from client.test ([127.0.0.1])\r\n\tby mx.test (Tern) with ESMTPS id abc\r\n\tfor <a@b.test>;\r\n\tThu, 01 Jan 1970 00:00:00 +0000\r\n"
        );
        assert_eq!(return_path(""), "Return-Path: <>\r\n");
    }
}
