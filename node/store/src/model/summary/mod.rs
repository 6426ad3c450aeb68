//! The parsed summary cached with each body: the IMAP envelope fields and the MIME structure
//! with byte offsets, computed once with `mail-parser` so FETCH ENVELOPE / BODYSTRUCTURE and
//! section fetches need not parse the message again.
//!
//! Nesting is bounded: mail-parser parses any depth without recursion, but its tree drops
//! recursively, and so would ours, our encoder and every renderer. The summary therefore keeps
//! at most [`MAX_MIME_DEPTH`] levels (deeper parts become opaque leaves), records the real
//! depth so that mail paths can refuse such a message, and takes mail-parser's tree apart
//! without recursion.

mod stored;

use mail_parser::{Addr, Address, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

/// One address of an envelope field (RFC 3501 `address`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    /// Display name.
    pub name: Option<String>,
    /// Local part.
    pub mailbox: Option<String>,
    /// Domain.
    pub host: Option<String>,
}

impl EnvelopeAddress {
    /// The marker that starts group `name` (RFC 3501 §7.4.2: NIL host, the name as mailbox);
    /// the marker that ends it is all NIL (the default).
    pub fn group_start(name: &str) -> Self {
        Self {
            name: None,
            mailbox: Some(name.to_string()),
            host: None,
        }
    }

    /// The group this marker starts, if it starts one.
    pub fn starts_group(&self) -> Option<&str> {
        self.host
            .is_none()
            .then_some(self.mailbox.as_deref())
            .flatten()
    }

    /// Whether this is an address, not a group marker.
    pub fn is_address(&self) -> bool {
        self.host.is_some()
    }
}

/// The IMAP ENVELOPE of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// `Date:` as written.
    pub date: Option<String>,
    /// `Date:` as Unix seconds, when it parses.
    pub timestamp: Option<i64>,
    /// `Subject:` decoded.
    pub subject: Option<String>,
    /// `From:`.
    pub from: Vec<EnvelopeAddress>,
    /// `Sender:`.
    pub sender: Vec<EnvelopeAddress>,
    /// `Reply-To:`.
    pub reply_to: Vec<EnvelopeAddress>,
    /// `To:`.
    pub to: Vec<EnvelopeAddress>,
    /// `Cc:`.
    pub cc: Vec<EnvelopeAddress>,
    /// `Bcc:`.
    pub bcc: Vec<EnvelopeAddress>,
    /// `In-Reply-To:`.
    pub in_reply_to: Option<String>,
    /// `Message-ID:`.
    pub message_id: Option<String>,
    /// The message ids of `References:`, oldest first, without angle brackets (for THREAD;
    /// empty in summaries stored before it was kept).
    #[serde(default)]
    pub references: Vec<String>,
}

/// One MIME part, with where it sits in the raw message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Part {
    /// Media type (`text`, `multipart`, ...), lower-case.
    pub media_type: String,
    /// Subtype (`plain`, `mixed`, ...), lower-case.
    pub subtype: String,
    /// Content-Type parameters.
    pub params: Vec<(String, String)>,
    /// Content-ID.
    pub id: Option<String>,
    /// Content-Description.
    pub description: Option<String>,
    /// Content-Transfer-Encoding (default `7bit`).
    pub encoding: String,
    /// Content-Disposition type and parameters.
    pub disposition: Option<(String, Vec<(String, String)>)>,
    /// Offset of the part's header.
    pub header_start: u32,
    /// Offset of the part's body.
    pub body_start: u32,
    /// End of the part's body.
    pub body_end: u32,
    /// Lines in the body (for text parts).
    pub lines: u32,
    /// Children of a multipart.
    pub parts: Vec<Part>,
    /// The envelope and structure of an attached message/rfc822.
    pub message: Option<Box<(Envelope, Part)>>,
}

/// The deepest MIME nesting Tern accepts, as Postfix's `mime_nesting_limit`: the top-level
/// part is level 0, each multipart child or attached message one level below its parent.
pub const MAX_MIME_DEPTH: u32 = 100;

/// What is cached per body (stored flat, see `stored.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "stored::Stored", try_from = "stored::Stored")]
pub struct Summary {
    /// The envelope.
    pub envelope: Envelope,
    /// The MIME structure.
    pub structure: Part,
    /// Whether the parser met malformed MIME and fell back to a best effort.
    pub malformed: bool,
    /// The deepest nesting level of the message; beyond [`MAX_MIME_DEPTH`] the structure is cut.
    pub depth: u32,
}

impl Summary {
    /// Parses a raw RFC 5322 message. Never fails: unparseable input gives a text/plain part
    /// covering everything, marked malformed.
    pub fn parse(raw: &[u8]) -> Summary {
        match MessageParser::default().parse(raw) {
            Some(msg) => {
                let envelope = envelope(&msg);
                let structure = part(&msg, 0, raw, 0);
                let malformed = msg.parts.iter().any(|p| p.is_encoding_problem);
                let depth = depth(&msg);
                dismantle(msg);
                Summary {
                    envelope,
                    structure,
                    malformed,
                    depth,
                }
            }
            None => Summary {
                envelope: Envelope::default(),
                structure: Part {
                    media_type: "text".into(),
                    subtype: "plain".into(),
                    encoding: "7bit".into(),
                    body_end: raw.len() as u32,
                    lines: count_lines(raw),
                    ..Part::default()
                },
                malformed: true,
                depth: 0,
            },
        }
    }

    /// Whether the message nests deeper than Tern accepts.
    pub fn too_deep(&self) -> bool {
        self.depth > MAX_MIME_DEPTH
    }
}

/// The deepest nesting level of a parsed message, walked without recursion.
fn depth(msg: &mail_parser::Message<'_>) -> u32 {
    let mut deepest = 0;
    let mut stack: Vec<(&mail_parser::Message<'_>, usize, u32)> = vec![(msg, 0, 0)];
    while let Some((m, index, level)) = stack.pop() {
        deepest = deepest.max(level);
        match m.parts.get(index).map(|p| &p.body) {
            Some(PartType::Multipart(children)) => {
                stack.extend(children.iter().map(|c| (m, *c as usize, level + 1)));
            }
            Some(PartType::Message(inner)) => stack.push((inner, 0, level + 1)),
            _ => {}
        }
    }
    deepest
}

/// Drops a parsed message one nested message at a time: mail-parser's own drop recurses
/// through attached messages and overflows the stack a few thousand levels down.
fn dismantle(msg: mail_parser::Message<'_>) {
    let mut stack = vec![msg];
    while let Some(mut m) = stack.pop() {
        for p in &mut m.parts {
            if matches!(p.body, PartType::Message(_))
                && let PartType::Message(inner) = std::mem::take(&mut p.body)
            {
                stack.push(inner);
            }
        }
    }
}

/// An address field as the IMAP ENVELOPE lists it: a named group (`team: a@b, c@d;`) is its
/// members between a start marker and an end marker (RFC 3501 §7.4.2).
fn addresses(a: Option<&Address<'_>>) -> Vec<EnvelopeAddress> {
    match a {
        None => Vec::new(),
        Some(Address::List(list)) => list.iter().filter_map(envelope_address).collect(),
        Some(Address::Group(groups)) => {
            let mut out = Vec::new();
            for g in groups {
                let members = g.addresses.iter().filter_map(envelope_address);
                match &g.name {
                    // mail-parser keeps addresses outside any group as a group without a name.
                    None => out.extend(members),
                    Some(name) => {
                        out.push(EnvelopeAddress::group_start(name));
                        out.extend(members);
                        out.push(EnvelopeAddress::default());
                    }
                }
            }
            out
        }
    }
}

/// What stands in for a missing local part or domain, as Dovecot writes them: an address
/// without a domain must not look like a group marker (whose domain is NIL).
const MISSING_MAILBOX: &str = "MISSING_MAILBOX";
const MISSING_DOMAIN: &str = "MISSING_DOMAIN";

fn envelope_address(a: &Addr<'_>) -> Option<EnvelopeAddress> {
    let name = a
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let address = a.address.as_deref().filter(|s| !s.is_empty());
    if name.is_none() && address.is_none() {
        return None;
    }
    let (local, domain) = match address.map(|s| s.rsplit_once('@').unwrap_or((s, ""))) {
        Some((l, d)) => (l, d),
        None => ("", ""),
    };
    let or = |s: &str, missing: &str| Some(if s.is_empty() { missing } else { s }.to_string());
    Some(EnvelopeAddress {
        name,
        mailbox: or(local, MISSING_MAILBOX),
        host: or(domain, MISSING_DOMAIN),
    })
}

fn envelope(msg: &mail_parser::Message<'_>) -> Envelope {
    let in_reply_to = match msg.in_reply_to() {
        HeaderValue::Text(t) => Some(format!("<{t}>")),
        HeaderValue::TextList(l) => Some(
            l.iter()
                .map(|t| format!("<{t}>"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    };
    Envelope {
        date: msg.header_raw("Date").map(|d| d.trim().to_string()),
        timestamp: msg.date().map(|d| d.to_timestamp()),
        subject: msg.subject().map(str::to_string),
        from: addresses(msg.from()),
        sender: addresses(msg.sender()),
        reply_to: addresses(msg.reply_to()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        bcc: addresses(msg.bcc()),
        in_reply_to,
        message_id: msg.message_id().map(|m| format!("<{m}>")),
        references: match msg.references() {
            HeaderValue::Text(t) => vec![t.to_string()],
            HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        },
    }
}

fn count_lines(body: &[u8]) -> u32 {
    body.iter().filter(|b| **b == b'\n').count() as u32
}

/// Our description of part `index` at nesting `level`; below [`MAX_MIME_DEPTH`] parts keep
/// their own description but lose their children, which bounds this recursion.
fn part(msg: &mail_parser::Message<'_>, index: usize, raw: &[u8], level: u32) -> Part {
    let Some(p) = msg.parts.get(index) else {
        return Part::default();
    };
    let mut out = describe(p, raw);
    if level >= MAX_MIME_DEPTH {
        return out;
    }
    match &p.body {
        PartType::Multipart(children) => {
            out.parts = children
                .iter()
                .map(|c| part(msg, *c as usize, raw, level + 1))
                .collect();
        }
        PartType::Message(inner) => {
            let inner_raw = inner.raw_message();
            let inner_part = part(inner, 0, inner_raw, level + 1);
            out.message = Some(Box::new((envelope(inner), inner_part)));
        }
        _ => {}
    }
    out
}

fn describe(p: &MessagePart<'_>, raw: &[u8]) -> Part {
    let (media_type, subtype, params) = match p.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("plain").to_ascii_lowercase(),
            ct.attributes()
                .unwrap_or_default()
                .iter()
                .map(|a| (a.name.to_string(), a.value.to_string()))
                .collect(),
        ),
        None => (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "us-ascii".into())],
        ),
    };
    let body = raw
        .get(p.offset_body as usize..p.offset_end as usize)
        .unwrap_or_default();
    Part {
        media_type,
        subtype,
        params,
        id: p.content_id().map(|s| format!("<{s}>")),
        description: p.content_description().map(str::to_string),
        encoding: p
            .content_transfer_encoding()
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_else(|| "7bit".into()),
        disposition: p.content_disposition().map(|d| {
            (
                d.ctype().to_ascii_lowercase(),
                d.attributes()
                    .unwrap_or_default()
                    .iter()
                    .map(|a| (a.name.to_string(), a.value.to_string()))
                    .collect(),
            )
        }),
        header_start: p.offset_header,
        body_start: p.offset_body,
        body_end: p.offset_end,
        lines: count_lines(body),
        parts: Vec::new(),
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_and_structure() {
        let raw = b"From: Ann <ann@example.test>\r\nTo: bob@example.test\r\nSubject: Hi\r\nMessage-ID: <1@x>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
        let s = Summary::parse(raw);
        assert_eq!(s.envelope.subject.as_deref(), Some("Hi"));
        assert_eq!(s.envelope.from[0].name.as_deref(), Some("Ann"));
        assert_eq!(s.envelope.from[0].host.as_deref(), Some("example.test"));
        assert_eq!(s.envelope.message_id.as_deref(), Some("<1@x>"));
        assert_eq!(
            (
                s.structure.media_type.as_str(),
                s.structure.subtype.as_str()
            ),
            ("multipart", "mixed")
        );
        assert_eq!(s.structure.parts.len(), 2);
        assert_eq!(s.structure.parts[1].encoding, "base64");
        let text = &s.structure.parts[0];
        assert_eq!(
            &raw[text.body_start as usize..text.body_end as usize],
            b"hello"
        );
    }

    fn show(list: &[EnvelopeAddress]) -> Vec<String> {
        let nil = |s: &Option<String>| s.clone().unwrap_or_else(|| "NIL".into());
        list.iter()
            .map(|a| format!("{} {} {}", nil(&a.name), nil(&a.mailbox), nil(&a.host)))
            .collect()
    }

    /// Groups keep their markers, as RFC 3501 §7.4.2 lists them; addresses outside a group
    /// stay where they are; an address without a domain cannot pass for a marker.
    #[test]
    fn groups_are_marked_and_missing_parts_named() {
        let raw = b"From: Ann <ann@example.test>\r\nTo: team: a@x.test, Bee <b@x.test>;, c@y.test\r\nCc: undisclosed-recipients:;\r\nBcc: <postmaster>, Nobody\r\n\r\nbody\r\n";
        let e = Summary::parse(raw).envelope;
        assert_eq!(
            show(&e.to),
            [
                "NIL team NIL",
                "NIL a x.test",
                "Bee b x.test",
                "NIL NIL NIL",
                "NIL c y.test"
            ]
        );
        assert_eq!(
            show(&e.cc),
            ["NIL undisclosed-recipients NIL", "NIL NIL NIL"]
        );
        assert_eq!(
            show(&e.bcc),
            [
                "NIL postmaster MISSING_DOMAIN",
                "Nobody MISSING_MAILBOX MISSING_DOMAIN"
            ]
        );
        assert_eq!(e.to[0].starts_group(), Some("team"));
        assert!(!e.to[0].is_address() && e.to[1].is_address());
        assert_eq!(e.to[3].starts_group(), None);
        assert_eq!(show(&e.from), ["Ann ann example.test"]);
    }

    /// `depth` nested multiparts, or as many attached messages each inside a multipart.
    fn nested(depth: usize, attached: bool) -> Vec<u8> {
        let mut s = String::from("From: a@example.test\r\nSubject: deep\r\n");
        for i in 0..depth {
            s += &format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n");
            if attached {
                s += &format!("Content-Type: message/rfc822\r\n\r\nSubject: level {i}\r\n");
            }
        }
        s += "Content-Type: text/plain\r\n\r\nhi\r\n";
        for i in (0..depth).rev() {
            s += &format!("--b{i}--\r\n");
        }
        s.into_bytes()
    }

    fn structure_depth(p: &Part) -> u32 {
        let children = p.parts.iter().chain(p.message.as_ref().map(|m| &m.1));
        children.map(|c| 1 + structure_depth(c)).max().unwrap_or(0)
    }

    /// On a thread with a tokio worker's 2 MiB stack, deep trees parse, encode, decode and
    /// drop; the depth is recorded and the structure is cut at the limit.
    #[test]
    fn deep_nesting_is_bounded() {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                for attached in [false, true] {
                    for depth in [1usize, 99, 100, 101, 1_100, 10_000] {
                        let s = Summary::parse(&nested(depth, attached));
                        let expected = if attached { 2 * depth } else { depth } as u32;
                        assert_eq!(s.depth, expected, "depth {depth}, attached {attached}");
                        assert_eq!(s.too_deep(), expected > MAX_MIME_DEPTH);
                        assert!(structure_depth(&s.structure) <= MAX_MIME_DEPTH);
                        let bytes = rmp_serde::to_vec_named(&s).expect("encode");
                        let back: Summary = rmp_serde::from_slice(&bytes).expect("decode");
                        assert_eq!(back, s);
                    }
                }
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
    }
}
