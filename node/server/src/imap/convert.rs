//! Conversions between Tern's stored values and `imap-types`: flags, dates,
//! and the cached [`Summary`] as ENVELOPE and BODYSTRUCTURE.

use std::num::NonZeroU32;

use tern_proto::imap::types::{
    body::{
        BasicFields, Body, BodyStructure, Disposition, MultiPartExtensionData,
        SinglePartExtensionData, SpecificFields,
    },
    core::{Atom, IString, Literal, NString, Vec1},
    datetime::DateTime,
    envelope::{Address, Envelope},
    flag::{Flag, FlagFetch, FlagNameAttribute},
};
use tern_store::model::{
    SpecialUse,
    message::Flags,
    summary::{self, Part},
};

/// Keywords a message may carry (more are refused with `[LIMIT]`).
pub const MAX_KEYWORDS: usize = 64;

/// Splits flags into system flags and keywords; `None` names a flag that cannot be stored
/// (`\Recent` or an unknown system flag).
pub fn split_flags(flags: &[Flag<'_>]) -> Option<(Flags, Vec<String>)> {
    let mut system = Flags::default();
    let mut keywords: Vec<String> = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => system = system.union(Flags::SEEN),
            Flag::Answered => system = system.union(Flags::ANSWERED),
            Flag::Flagged => system = system.union(Flags::FLAGGED),
            Flag::Deleted => system = system.union(Flags::DELETED),
            Flag::Draft => system = system.union(Flags::DRAFT),
            Flag::Keyword(k) => {
                let k = k.as_ref().to_string();
                if !keywords.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
                    keywords.push(k);
                }
            }
            Flag::Extension(_) => return None,
        }
    }
    Some((system, keywords))
}

/// Stored flags for FETCH, with `\Recent` when the message is recent to the session.
pub fn fetch_flags(flags: Flags, keywords: &[String], recent: bool) -> Vec<FlagFetch<'static>> {
    let mut out: Vec<FlagFetch<'static>> = Vec::new();
    if recent {
        out.push(FlagFetch::Recent);
    }
    for (bit, flag) in [
        (Flags::SEEN, Flag::Seen),
        (Flags::ANSWERED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::DELETED, Flag::Deleted),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if flags.contains(bit) {
            out.push(FlagFetch::Flag(flag));
        }
    }
    for k in keywords {
        if let Ok(atom) = Atom::try_from(k.clone()) {
            out.push(FlagFetch::Flag(Flag::keyword(atom)));
        }
    }
    out
}

/// The special-use attribute of a role (RFC 6154).
pub fn special_use(role: SpecialUse) -> Option<FlagNameAttribute<'static>> {
    let name = match role {
        SpecialUse::Inbox => return None,
        SpecialUse::Sent => "Sent",
        SpecialUse::Drafts => "Drafts",
        SpecialUse::Trash => "Trash",
        SpecialUse::Junk => "Junk",
        SpecialUse::Archive => "Archive",
    };
    Atom::try_from(name).ok().map(FlagNameAttribute::from)
}

/// Unix seconds as an IMAP date-time (UTC).
pub fn date_time(secs: i64) -> DateTime {
    let utc = chrono::FixedOffset::east_opt(0).expect("zero offset");
    let t = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .with_timezone(&utc);
    DateTime::unvalidated(t)
}

/// A string for a response: quoted when it can be, a literal otherwise, NIL when neither
/// (it contains NUL).
pub fn nstring(s: Option<&str>) -> NString<'static> {
    match s {
        Some(s) => NString::try_from(s.to_string()).unwrap_or(NString(None)),
        None => NString(None),
    }
}

/// Header text as 7-bit ASCII: the summary keeps encoded words decoded, and a session that has
/// not enabled UTF8=ACCEPT must not get raw 8-bit text in ENVELOPE or BODYSTRUCTURE (RFC 6855
/// §3), so non-ASCII text is sent as RFC 2047 encoded words again (mail-builder's encoder,
/// unfolded onto one line: the whitespace between encoded words is not part of the text).
pub fn encoded_words(s: &str) -> std::borrow::Cow<'_, str> {
    use mail_builder::headers::{Header, text::Text};
    if s.is_ascii() {
        return s.into();
    }
    let mut out = Vec::new();
    Text::new(s).write_header(&mut out, 0);
    let text = String::from_utf8_lossy(&out);
    text.trim_end().replace("\r\n", "").into()
}

/// [`nstring`] of header text, as encoded words when it is not ASCII.
fn header_nstring(s: Option<&str>) -> NString<'static> {
    nstring(s.map(encoded_words).as_deref())
}

fn istring(s: &str) -> IString<'static> {
    IString::try_from(s.to_string()).unwrap_or_else(|_| IString::try_from("").expect("empty"))
}

/// Raw bytes as a literal (NUL bytes, which a literal cannot carry, become spaces).
pub fn literal(bytes: Vec<u8>) -> NString<'static> {
    let bytes = if bytes.contains(&0) {
        bytes
            .into_iter()
            .map(|b| if b == 0 { b' ' } else { b })
            .collect()
    } else {
        bytes
    };
    Literal::try_from(bytes)
        .map(NString::from)
        .unwrap_or(NString(None))
}

fn addresses(list: &[summary::EnvelopeAddress]) -> Vec<Address<'static>> {
    list.iter()
        .map(|a| Address {
            name: header_nstring(a.name.as_deref()),
            adl: NString(None),
            mailbox: nstring(a.mailbox.as_deref()),
            host: nstring(a.host.as_deref()),
        })
        .collect()
}

/// The ENVELOPE; Sender and Reply-To default to From (RFC 9051 §7.5.2).
pub fn envelope(e: &summary::Envelope) -> Envelope<'static> {
    let from = addresses(&e.from);
    let or_from = |list: &[summary::EnvelopeAddress]| {
        if list.is_empty() {
            from.clone()
        } else {
            addresses(list)
        }
    };
    Envelope {
        date: nstring(e.date.as_deref()),
        subject: header_nstring(e.subject.as_deref()),
        sender: or_from(&e.sender),
        reply_to: or_from(&e.reply_to),
        from: from.clone(),
        to: addresses(&e.to),
        cc: addresses(&e.cc),
        bcc: addresses(&e.bcc),
        in_reply_to: nstring(e.in_reply_to.as_deref()),
        message_id: nstring(e.message_id.as_deref()),
    }
}

fn params(list: &[(String, String)]) -> Vec<(IString<'static>, IString<'static>)> {
    list.iter()
        .map(|(k, v)| (istring(&k.to_ascii_uppercase()), istring(&encoded_words(v))))
        .collect()
}

fn disposition(p: &Part) -> Option<Disposition<'static>> {
    Some(Disposition {
        disposition: p
            .disposition
            .as_ref()
            .map(|(kind, ps)| (istring(&kind.to_ascii_uppercase()), params(ps))),
        tail: None,
    })
}

/// The BODYSTRUCTURE (with extension data) or BODY (without) of a part.
pub fn body_structure(p: &Part, extended: bool) -> BodyStructure<'static> {
    if p.media_type == "multipart" {
        let children: Vec<BodyStructure<'static>> = p
            .parts
            .iter()
            .map(|c| body_structure(c, extended))
            .collect();
        if let Ok(bodies) = Vec1::try_from(children) {
            return BodyStructure::Multi {
                bodies,
                subtype: istring(&p.subtype.to_ascii_uppercase()),
                extension_data: extended.then(|| MultiPartExtensionData {
                    parameter_list: params(&p.params),
                    tail: disposition(p),
                }),
            };
        }
    }
    let size = p.body_end.saturating_sub(p.body_start);
    let basic = BasicFields {
        parameter_list: params(&p.params),
        id: nstring(p.id.as_deref()),
        description: header_nstring(p.description.as_deref()),
        content_transfer_encoding: istring(&p.encoding.to_ascii_uppercase()),
        size,
    };
    let specific = match (p.media_type.as_str(), &p.message) {
        ("text", _) => SpecificFields::Text {
            subtype: istring(&p.subtype.to_ascii_uppercase()),
            number_of_lines: p.lines,
        },
        ("message", Some(inner)) if p.subtype == "rfc822" => SpecificFields::Message {
            envelope: Box::new(envelope(&inner.0)),
            body_structure: Box::new(body_structure(&inner.1, extended)),
            number_of_lines: p.lines,
        },
        _ => SpecificFields::Basic {
            r#type: istring(&p.media_type.to_ascii_uppercase()),
            subtype: istring(&p.subtype.to_ascii_uppercase()),
        },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: NString(None),
            tail: disposition(p),
        }),
    }
}

/// A UID as the non-zero number IMAP types want.
pub fn nz(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client decodes from the encoded words is the text; ASCII is left alone.
    #[test]
    fn header_text_is_sent_as_encoded_words() {
        for text in [
            "Grüße aus Köln",
            "日本語の件名",
            &"ünïcödé and a long line of ascii words between ".repeat(6),
        ] {
            let words = encoded_words(text);
            assert!(words.is_ascii() && !words.contains(['\r', '\n']), "{words}");
            let raw = format!("Subject: {words}\r\n\r\n");
            let parsed = tern_store::model::Summary::parse(raw.as_bytes());
            assert_eq!(parsed.envelope.subject.as_deref(), Some(text), "{words}");
        }
        assert_eq!(encoded_words("plain =?not?= words"), "plain =?not?= words");
    }
}
