//! Mailbox names at the edge of a session. Names are stored in UTF-8; a session that enabled
//! UTF8=ACCEPT (RFC 6855) sends and gets them as UTF-8, any other sends and gets modified
//! UTF-7 (RFC 3501 §5.1.3), decoded strictly: an invalid name is refused, never guessed at.

use tern_proto::imap::{
    mutf7,
    response::Extra,
    types::{
        core::{AString, IString, Tag},
        extensions::utf8::QuotedUtf8,
        mailbox::Mailbox,
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Why a name from the client was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum BadName {
    /// 8-bit bytes from a session that did not enable UTF8=ACCEPT.
    EightBit,
    /// Not the modified UTF-7 of any name.
    NotMutf7,
}

/// The stored name a client's name (bytes as sent) stands for, `utf8` when the session enabled
/// UTF8=ACCEPT.
pub fn decode(sent: &[u8], utf8: bool) -> Result<String, BadName> {
    let text = std::str::from_utf8(sent).map_err(|_| BadName::EightBit)?;
    if utf8 {
        Ok(text.to_string())
    } else if !text.is_ascii() {
        Err(BadName::EightBit)
    } else {
        mutf7::decode(text).map_err(|_| BadName::NotMutf7)
    }
}

/// A stored name as the client is to see it.
pub fn encode(name: &str, utf8: bool) -> Mailbox<'static> {
    if name == "INBOX" {
        return Mailbox::Inbox;
    }
    if !utf8 {
        return Mailbox::try_from(mutf7::encode(name)).unwrap_or(Mailbox::Inbox);
    }
    if name.is_ascii() {
        return Mailbox::try_from(name.to_string()).unwrap_or(Mailbox::Inbox);
    }
    match QuotedUtf8::try_from(name.to_string()) {
        Ok(q) => Mailbox::from(AString::String(IString::QuotedUtf8(q))),
        Err(_) => Mailbox::Inbox,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// The stored name of a mailbox argument (`INBOX` in any case is the INBOX); a name that
    /// cannot be taken is refused here, and the caller returns the flow.
    pub(super) fn name_in(&mut self, tag: &Tag<'_>, m: &Mailbox<'_>) -> Result<String, Flow> {
        let sent = match m {
            Mailbox::Inbox => return Ok("INBOX".into()),
            Mailbox::Other(o) => o.as_ref(),
        };
        decode(sent, self.reporting.utf8).map_err(|e| match e {
            BadName::EightBit => self.bad(
                tag,
                Some(Extra::Cannot.code()),
                "8-bit mailbox names need ENABLE UTF8=ACCEPT first; otherwise send them in \
                 modified UTF-7 (RFC 3501 5.1.3)",
            ),
            BadName::NotMutf7 => self.no(
                tag,
                Some(Extra::Cannot.code()),
                "mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)",
            ),
        })
    }

    /// A stored name as this session sees it.
    pub(super) fn name_out(&self, name: &str) -> Mailbox<'static> {
        encode(name, self.reporting.utf8)
    }
}

#[cfg(test)]
mod tests {
    use tern_proto::imap::response;

    use super::*;

    fn wire(m: &Mailbox<'_>) -> String {
        use tern_proto::imap::types::response::Data;
        let data = Data::Status {
            mailbox: m.clone(),
            items: Vec::new().into(),
        };
        let mut out = Vec::new();
        response::data(&mut out, data);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn names_go_out_as_each_session_reads_them() {
        assert_eq!(
            wire(&encode("Entwürfe", false)),
            "* STATUS Entw&APw-rfe ()\r\n"
        );
        assert_eq!(
            wire(&encode("Entwürfe", true)),
            "* STATUS \"Entwürfe\" ()\r\n"
        );
        assert_eq!(
            wire(&encode("Tom & Jerry", false)),
            "* STATUS \"Tom &- Jerry\" ()\r\n"
        );
        assert_eq!(wire(&encode("INBOX", false)), "* STATUS INBOX ()\r\n");
    }

    #[test]
    fn names_come_in_by_the_session_kind() {
        assert_eq!(decode(b"Entw&APw-rfe", false).as_deref(), Ok("Entwürfe"));
        assert_eq!(
            decode("Entwürfe".as_bytes(), true).as_deref(),
            Ok("Entwürfe")
        );
        assert_eq!(decode(b"Entw&APw-rfe", true).as_deref(), Ok("Entw&APw-rfe"));
        assert_eq!(decode("Entwürfe".as_bytes(), false), Err(BadName::EightBit));
        assert_eq!(decode(b"Tom & Jerry", false), Err(BadName::NotMutf7));
    }
}
