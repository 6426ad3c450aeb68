//! Encoding responses with `imap-codec`, and the response codes Tern uses that `imap-types`
//! has no variant for (RFC 5530: `NONEXISTENT`, `ALREADYEXISTS`, `NOPERM`, ...). Text is
//! cleaned so a response can never break the framing.

use imap_codec::{
    GreetingCodec, ResponseCodec,
    encode::Encoder,
    imap_types::{
        core::{Tag, Text},
        response::{
            Bye, Code, CodeOther, CommandContinuationRequest, Data, Greeting, GreetingKind,
            Response, Status, StatusBody, StatusKind, Tagged,
        },
    },
};

/// RFC 5530 and RFC 7889 codes without a typed variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// `[NONEXISTENT]`: no such mailbox.
    Nonexistent,
    /// `[ALREADYEXISTS]`.
    AlreadyExists,
    /// `[NOPERM]`: not allowed.
    NoPerm,
    /// `[AUTHENTICATIONFAILED]`.
    AuthenticationFailed,
    /// `[UNAVAILABLE]`: temporary failure.
    Unavailable,
    /// `[SERVERBUG]`.
    ServerBug,
    /// `[LIMIT]`: a server limit.
    Limit,
    /// `[CANNOT]`: the operation is not possible.
    Cannot,
    /// `[CLIENTBUG]`.
    ClientBug,
    /// `[PRIVACYREQUIRED]`: TLS first.
    PrivacyRequired,
    /// `[INUSE]`.
    InUse,
    /// `[USEATTR]`: a special-use attribute that cannot be given (RFC 6154).
    UseAttr,
}

impl Extra {
    /// The atom.
    pub fn atom(self) -> &'static str {
        match self {
            Extra::Nonexistent => "NONEXISTENT",
            Extra::AlreadyExists => "ALREADYEXISTS",
            Extra::NoPerm => "NOPERM",
            Extra::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Extra::Unavailable => "UNAVAILABLE",
            Extra::ServerBug => "SERVERBUG",
            Extra::Limit => "LIMIT",
            Extra::Cannot => "CANNOT",
            Extra::ClientBug => "CLIENTBUG",
            Extra::PrivacyRequired => "PRIVACYREQUIRED",
            Extra::InUse => "INUSE",
            Extra::UseAttr => "USEATTR",
        }
    }

    /// As a response code.
    pub fn code(self) -> Code<'static> {
        Code::Other(CodeOther::unvalidated(self.atom().as_bytes()))
    }
}

/// Response text with line breaks and brackets that could be misread removed; never empty.
pub fn text(s: &str) -> Text<'static> {
    let mut t: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if t.starts_with('[') {
        t.insert(0, ' ');
    }
    if t.trim().is_empty() {
        t = "done".into();
    }
    Text::try_from(t).unwrap_or_else(|_| Text::try_from("done").expect("valid text"))
}

/// Appends one response.
pub fn write(out: &mut Vec<u8>, r: &Response<'_>) {
    let mut bytes = ResponseCodec::default().encode(r).dump();
    let capabilities = match r {
        Response::Data(Data::Capability(_)) => true,
        Response::Status(Status::Tagged(Tagged { body, .. }) | Status::Untagged(body)) => {
            matches!(body.code, Some(Code::Capability(_)))
        }
        _ => false,
    };
    if capabilities {
        spell_imap4rev1(&mut bytes);
    }
    out.extend_from_slice(&bytes);
}

/// imap-codec writes the capability as `IMAP4REV1`; RFC 3501 spells it `IMAP4rev1`, and some
/// clients compare case-sensitively. Only the capability token at the head of the list (after
/// `CAPABILITY `) is rewritten.
fn spell_imap4rev1(bytes: &mut [u8]) {
    const FROM: &[u8] = b"CAPABILITY IMAP4REV1";
    if let Some(at) = bytes.windows(FROM.len()).position(|w| w == FROM) {
        bytes[at + FROM.len() - 4..at + FROM.len() - 1].copy_from_slice(b"rev");
    }
}

/// Appends untagged data.
pub fn data(out: &mut Vec<u8>, d: Data<'_>) {
    write(out, &Response::Data(d));
}

/// Appends untagged data followed by extended data (`("CHILDINFO" ("SUBSCRIBED"))` after a
/// LIST entry, RFC 5258), which the encoder has no field for.
pub fn data_extended(out: &mut Vec<u8>, d: Data<'_>, extended: &str) {
    write(out, &Response::Data(d));
    if out.ends_with(b"\r\n") {
        out.truncate(out.len() - 2);
        out.push(b' ');
        out.extend_from_slice(extended.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `* seq FETCH (items)` where each BINARY item whose section is in `origins` answers a
/// partial request with its origin (`BINARY[1]<0> ~{n}`, RFC 3516 §4.2), which imap-types has
/// no field for: those items are encoded one at a time and the origin put after the section.
pub fn fetch_with_origins(
    out: &mut Vec<u8>,
    seq: std::num::NonZeroU32,
    items: imap_codec::imap_types::core::Vec1<imap_codec::imap_types::fetch::MessageDataItem<'_>>,
    origins: &[(Vec<std::num::NonZeroU32>, u32)],
) {
    use imap_codec::imap_types::{core::Vec1, fetch::MessageDataItem};
    if origins.is_empty() {
        return data(out, Data::Fetch { seq, items });
    }
    let head = format!("* {seq} FETCH (");
    out.extend_from_slice(head.as_bytes());
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let origin = match &item {
            MessageDataItem::Binary { section, .. } => {
                origins.iter().find(|(s, _)| s == section).map(|(_, o)| *o)
            }
            _ => None,
        };
        let mut one = Vec::new();
        data(
            &mut one,
            Data::Fetch {
                seq,
                items: Vec1::from(item),
            },
        );
        let inner = &one[head.len()..one.len() - b")\r\n".len()];
        match (origin, inner.iter().position(|b| *b == b']')) {
            (Some(o), Some(close)) => {
                out.extend_from_slice(&inner[..=close]);
                out.extend_from_slice(format!("<{o}>").as_bytes());
                out.extend_from_slice(&inner[close + 1..]);
            }
            _ => out.extend_from_slice(inner),
        }
    }
    out.extend_from_slice(b")\r\n");
}

/// Appends `* n EXISTS`, written straight out: it is what a delivery sends to every IDLE
/// session, and the general encoder allocates its fragments each time.
pub fn exists(out: &mut Vec<u8>, n: u32) {
    use std::io::Write;
    let _ = write!(out, "* {n} EXISTS\r\n");
}

/// Appends a status response: tagged when `tag` is given, untagged otherwise.
pub fn status(
    out: &mut Vec<u8>,
    tag: Option<&Tag<'_>>,
    kind: StatusKind,
    code: Option<Code<'_>>,
    msg: &str,
) {
    let body = StatusBody {
        kind,
        code,
        text: text(msg),
    };
    let status = match tag {
        Some(tag) => Status::Tagged(Tagged {
            tag: tag.clone(),
            body,
        }),
        None => Status::Untagged(body),
    };
    write(out, &Response::Status(status));
}

/// Appends `* BYE`.
pub fn bye(out: &mut Vec<u8>, code: Option<Code<'_>>, msg: &str) {
    write(
        out,
        &Response::Status(Status::Bye(Bye {
            code,
            text: text(msg),
        })),
    );
}

/// Appends a continuation request (`+ text`).
pub fn continuation(out: &mut Vec<u8>, msg: &str) {
    let req = CommandContinuationRequest::basic(None, text(msg))
        .unwrap_or_else(|_| CommandContinuationRequest::Base64(Vec::new().into()));
    write(out, &Response::CommandContinuationRequest(req));
}

/// An empty continuation request (`+ `), as SASL exchanges expect.
pub fn sasl_continuation(out: &mut Vec<u8>) {
    write(
        out,
        &Response::CommandContinuationRequest(CommandContinuationRequest::Base64(
            Vec::new().into(),
        )),
    );
}

/// The greeting.
pub fn greeting(out: &mut Vec<u8>, code: Option<Code<'_>>, msg: &str) {
    let g = Greeting {
        kind: GreetingKind::Ok,
        code,
        text: text(msg),
    };
    let mut bytes = GreetingCodec::default().encode(&g).dump();
    if matches!(g.code, Some(Code::Capability(_))) {
        spell_imap4rev1(&mut bytes);
    }
    out.extend_from_slice(&bytes);
}

/// A command as a client would have sent it (for the protocol trace).
pub fn command_text(c: &imap_codec::imap_types::command::Command<'_>) -> String {
    String::from_utf8_lossy(&imap_codec::CommandCodec::default().encode(c).dump()).into_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_partial_binary_answer_carries_its_origin() {
        use std::num::NonZeroU32;

        use imap_codec::imap_types::{
            core::{LiteralMode, NString8, Vec1},
            extensions::binary::Literal8,
            fetch::MessageDataItem,
        };
        let one = NonZeroU32::MIN;
        let items = Vec1::try_from(vec![
            MessageDataItem::Uid(one),
            MessageDataItem::Binary {
                section: vec![one],
                value: NString8::Literal8(Literal8 {
                    data: b"ab\0".as_slice().into(),
                    mode: LiteralMode::Sync,
                }),
            },
        ])
        .expect("items");
        let mut out = Vec::new();
        fetch_with_origins(&mut out, one, items, &[(vec![one], 4)]);
        assert_eq!(out, b"* 1 FETCH (UID 1 BINARY[1]<4> ~{3}\r\nab\0)\r\n");
    }

    use super::*;

    #[test]
    fn the_capability_is_spelled_as_the_rfc_does() {
        use imap_codec::imap_types::response::Capability;
        let mut out = Vec::new();
        data(
            &mut out,
            Data::Capability(
                vec![Capability::Imap4Rev1, Capability::Idle]
                    .try_into()
                    .expect("caps"),
            ),
        );
        greeting(
            &mut out,
            Some(Code::Capability(
                vec![Capability::Imap4Rev1].try_into().expect("caps"),
            )),
            "ready",
        );
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "* CAPABILITY IMAP4rev1 IDLE\r\n* OK [CAPABILITY IMAP4rev1] ready\r\n"
        );
    }

    #[test]
    fn exists_is_what_the_encoder_writes() {
        for n in [0, 1, 4_294_967_295] {
            let (mut direct, mut encoded) = (Vec::new(), Vec::new());
            exists(&mut direct, n);
            data(&mut encoded, Data::Exists(n));
            assert_eq!(direct, encoded);
        }
    }

    #[test]
    fn tagged_with_an_extra_code() {
        let mut out = Vec::new();
        let tag = Tag::try_from("a1").expect("tag");
        status(
            &mut out,
            Some(&tag),
            StatusKind::No,
            Some(Extra::Nonexistent.code()),
            "no mailbox\r\nnamed x",
        );
        assert_eq!(out, b"a1 NO [NONEXISTENT] no mailbox  named x\r\n");
    }

    #[test]
    fn continuations_and_bye() {
        let mut out = Vec::new();
        continuation(&mut out, "go ahead");
        sasl_continuation(&mut out);
        bye(&mut out, None, "");
        assert_eq!(out, b"+ go ahead\r\n+ \r\n* BYE done\r\n");
    }
}
