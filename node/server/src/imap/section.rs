//! BODY[section] and BINARY[section]: finds the bytes a section names in a raw message, using
//! the part offsets cached in its [`Summary`] (no re-parse), and applies `<partial>`.

use tern_proto::imap::types::{
    core::AString,
    fetch::{Part as PartPath, Section},
};
use tern_store::model::summary::Part;

// Part offsets are absolute positions in the raw message, nested messages included.
fn slice(raw: &[u8], start: u32, end: u32) -> &[u8] {
    let (s, e) = (start as usize, end as usize);
    raw.get(s.min(raw.len())..e.min(raw.len()))
        .unwrap_or_default()
}

/// Follows a part path (1-based numbers) from the root (BODY[n] and BINARY[n]).
pub fn locate<'p>(root: &'p Part, path: &[u32]) -> Option<&'p Part> {
    let mut cur = root;
    for (depth, &n) in path.iter().enumerate() {
        let n = n as usize;
        // A message/rfc822 part's children are those of the message it carries. Not the
        // root's: when the whole body is a message/rfc822, part 1 is that body, the entire
        // encapsulated message (RFC 3501 §6.4.5), and 1.1, 1.HEADER, ... are inside it.
        if depth > 0
            && let Some(inner) = &cur.message
        {
            cur = &inner.1;
        }
        if cur.media_type == "multipart" {
            cur = cur.parts.get(n.checked_sub(1)?)?;
        } else if n != 1 {
            return None;
        }
    }
    Some(cur)
}

/// The message a located part is (the root) or carries (a message/rfc822 part).
fn message_of(p: &Part, is_root: bool) -> Option<&Part> {
    if is_root {
        return Some(p);
    }
    p.message.as_ref().map(|inner| &inner.1)
}

fn header_lines(header: &[u8]) -> Vec<&[u8]> {
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < header.len() {
        if header[i] == b'\n' {
            let next = header.get(i + 1).copied();
            if !matches!(next, Some(b' ') | Some(b'\t')) {
                fields.push(&header[start..=i]);
                start = i + 1;
            }
        }
        i += 1;
    }
    if start < header.len() {
        fields.push(&header[start..]);
    }
    fields
}

fn filter_fields(header: &[u8], names: &[AString<'_>], keep: bool) -> Vec<u8> {
    let names: Vec<Vec<u8>> = names
        .iter()
        .map(|n| AsRef::<[u8]>::as_ref(n).to_ascii_lowercase())
        .collect();
    let mut out = Vec::new();
    for field in header_lines(header) {
        if field == b"\r\n" || field == b"\n" {
            continue;
        }
        let name = field
            .split(|b| *b == b':')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .to_ascii_lowercase();
        if names.contains(&name) == keep {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes `section` names; `None` when the message has no such part.
pub fn extract(raw: &[u8], root: &Part, section: Option<&Section<'_>>) -> Option<Vec<u8>> {
    let path = |p: &Option<PartPath>| -> Vec<u32> {
        p.as_ref()
            .map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
            .unwrap_or_default()
    };
    let Some(section) = section else {
        return Some(raw.to_vec());
    };
    match section {
        Section::Part(p) => {
            let l = locate(root, &path(&Some(p.clone())))?;
            Some(slice(raw, l.body_start, l.body_end).to_vec())
        }
        Section::Mime(p) => {
            let l = locate(root, &path(&Some(p.clone())))?;
            Some(slice(raw, l.header_start, l.body_start).to_vec())
        }
        Section::Header(p) | Section::Text(p) => {
            let l = message_of(locate(root, &path(p))?, p.is_none())?;
            let (start, end) = match section {
                Section::Header(_) => (l.header_start, l.body_start),
                _ => (l.body_start, l.body_end),
            };
            let start = if p.is_none() && matches!(section, Section::Header(_)) {
                0
            } else {
                start
            };
            Some(slice(raw, start, end).to_vec())
        }
        Section::HeaderFields(p, names) | Section::HeaderFieldsNot(p, names) => {
            let l = message_of(locate(root, &path(p))?, p.is_none())?;
            let start = if p.is_none() { 0 } else { l.header_start };
            let header = slice(raw, start, l.body_start);
            let keep = matches!(section, Section::HeaderFields(..));
            Some(filter_fields(header, names.as_ref(), keep))
        }
    }
}

/// Applies `<origin.count>`.
pub fn partial(bytes: Vec<u8>, range: Option<(u32, std::num::NonZeroU32)>) -> Vec<u8> {
    match range {
        None => bytes,
        Some((origin, count)) => {
            let start = (origin as usize).min(bytes.len());
            let end = start.saturating_add(count.get() as usize).min(bytes.len());
            bytes[start..end].to_vec()
        }
    }
}

/// Undoes a Content-Transfer-Encoding for BINARY; `None` for an encoding this server does not
/// know (`[UNKNOWN-CTE]`).
pub fn decode_transfer(bytes: &[u8], encoding: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    match encoding.to_ascii_lowercase().as_str() {
        "7bit" | "8bit" | "binary" | "" => Some(bytes.to_vec()),
        "base64" => {
            let clean: Vec<u8> = bytes
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&clean))
                .ok()
        }
        "quoted-printable" => Some(quoted_printable(bytes)),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` escapes; a line ending in `=` (whitespace may
/// follow it) is joined to the next; whitespace at the end of a line was added in transport
/// and is removed; a stray `=` is kept as it is.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let (content, ending) = match line.strip_suffix(b"\r\n") {
            Some(c) => (c, &b"\r\n"[..]),
            None => match line.strip_suffix(b"\n") {
                Some(c) => (c, &b"\n"[..]),
                None => (line, &b""[..]),
            },
        };
        let content = content.trim_ascii_end();
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (content, false),
        };
        let mut i = 0;
        while i < content.len() {
            match (content[i], content.get(i + 1), content.get(i + 2)) {
                (b'=', Some(&a), Some(&b)) if hex(a).is_some() && hex(b).is_some() => {
                    out.push(hex(a).unwrap_or(0) * 16 + hex(b).unwrap_or(0));
                    i += 3;
                }
                (c, _, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        if !soft {
            out.extend_from_slice(ending);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_store::model::Summary;

    const RAW: &[u8] = b"From: a@x\r\nTo: b@y\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n";

    fn section(s: &str) -> Section<'static> {
        use tern_proto::imap::imap_codec::{CommandCodec, decode::Decoder};
        use tern_proto::imap::types::{
            IntoStatic,
            command::CommandBody,
            fetch::{MacroOrMessageDataItemNames, MessageDataItemName},
        };
        let line = format!("a FETCH 1 BODY[{s}]\r\n");
        let (_, cmd) = CommandCodec::default()
            .decode(line.as_bytes())
            .expect("parses");
        let CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(items),
            ..
        } = cmd.body
        else {
            panic!("not a fetch")
        };
        match &items[0] {
            MessageDataItemName::BodyExt {
                section: Some(s), ..
            } => s.clone().into_static(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sections_of_a_multipart_with_an_attached_message() {
        let s = Summary::parse(RAW);
        let get = |sec: &str| {
            String::from_utf8(extract(RAW, &s.structure, Some(&section(sec))).expect("part"))
                .expect("utf8")
        };
        assert_eq!(get("1"), "hello");
        assert!(get("HEADER").starts_with("From: a@x\r\n"));
        assert!(get("HEADER").ends_with("\r\n\r\n"));
        assert_eq!(
            get("HEADER.FIELDS (SUBJECT TO)"),
            "To: b@y\r\nSubject: s\r\n\r\n"
        );
        assert!(!get("HEADER.FIELDS.NOT (SUBJECT)").contains("Subject"));
        assert!(get("TEXT").starts_with("--b\r\n"));
        assert_eq!(get("2.HEADER"), "Subject: inner\r\n\r\n");
        assert_eq!(get("2.TEXT"), "inner body");
        assert_eq!(get("1.MIME"), "Content-Type: text/plain\r\n\r\n");
        assert!(extract(RAW, &s.structure, Some(&section("3"))).is_none());
    }

    #[test]
    fn a_body_that_is_a_whole_message_is_part_1() {
        const FORWARDED: &[u8] = b"From: a@x\r\nSubject: outer\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@z\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--q\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--q--\r\n";
        let s = Summary::parse(FORWARDED);
        let get = |sec: &str| {
            extract(FORWARDED, &s.structure, Some(&section(sec)))
                .map(|b| String::from_utf8(b).expect("utf8"))
        };
        let inner =
            "From: c@z\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n";
        let whole = get("1").expect("part 1");
        assert!(whole.starts_with(inner), "{whole:?}");
        assert!(whole.contains("second"), "{whole:?}");
        assert_eq!(get("1.HEADER").as_deref(), Some(inner));
        assert!(
            get("1.TEXT").is_some_and(|t| t.starts_with("--q\r\n")),
            "{:?}",
            get("1.TEXT")
        );
        assert_eq!(get("1.1").as_deref(), Some("first"));
        assert_eq!(get("1.2").as_deref(), Some("second"));
        assert_eq!(
            get("1.1.MIME").as_deref(),
            Some("Content-Type: text/plain\r\n\r\n")
        );
        assert_eq!(
            get("HEADER.FIELDS (SUBJECT)").as_deref(),
            Some("Subject: outer\r\n\r\n")
        );
        assert!(get("2").is_none());
    }

    #[test]
    fn transfer_encodings_decode() {
        assert_eq!(
            decode_transfer(b"aGVs\r\nbG8=", "base64").expect("b64"),
            b"hello"
        );
        assert_eq!(
            decode_transfer(b"a=3Db=\r\nc", "quoted-printable").expect("qp"),
            b"a=bc"
        );
        // Soft breaks with whitespace after the `=`, transport whitespace at line ends, a
        // stray `=`, an encoded trailing space kept, a last line without an ending.
        assert_eq!(
            decode_transfer(
                b"caf=C3=A9 =  \r\nau lait \t\r\n1 = 2=20\r\nend",
                "quoted-printable"
            )
            .expect("qp"),
            "café au lait\r\n1 = 2 \r\nend".as_bytes()
        );
        assert!(decode_transfer(b"x", "x-uuencode").is_none());
    }

    #[test]
    fn partial_ranges_clip_to_the_end() {
        let n = std::num::NonZeroU32::new(3).expect("non-zero");
        assert_eq!(partial(b"abcdef".to_vec(), Some((4, n))), b"ef");
        assert_eq!(partial(b"abc".to_vec(), Some((9, n))), b"");
    }
}
