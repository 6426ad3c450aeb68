//! APPEND with CATENATE (RFC 4469), cut out of the command before `imap-codec` decodes it:
//! `tag APPEND box [flags] [date] CATENATE (TEXT {n}<data> URL "/box;UIDVALIDITY=v/;UID=u" …)`
//! becomes `tag APPEND box [flags] [date] {0}` plus the list of parts; the session builds the
//! message from them (URLs resolved against the user's own mailboxes). Also the other APPEND
//! data item imap-codec does not read, `UTF8 (~{n}<data>)` (RFC 6855 §4). No I/O.

use imap_codec::fragmentizer::FragmentInfo;

/// One part of a CATENATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// `TEXT literal`: bytes as sent.
    Text(Vec<u8>),
    /// `URL "…"`: an IMAP URL (RFC 5092) naming a message or part of one.
    Url(String),
}

/// Whether a command's first line is an APPEND with CATENATE.
pub fn is_catenate(first_line: &[u8]) -> bool {
    let upper = first_line.to_ascii_uppercase();
    let mut words = upper.split(|b| *b == b' ');
    words.next();
    words.next().is_some_and(|w| w == b"APPEND") && find(&upper, b" CATENATE (").is_some()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a CATENATE APPEND into the APPEND `imap-codec` reads (its message empty) and the
/// parts; `Err` names what is wrong.
pub fn split(message: &[u8], fragments: &[FragmentInfo]) -> Result<(Vec<u8>, Vec<Part>), String> {
    let bytes = |f: &FragmentInfo| message.get(f.range()).unwrap_or_default();
    let first = fragments.first().map(bytes).unwrap_or_default();
    let at = find(&first.to_ascii_uppercase(), b" CATENATE (").ok_or("no CATENATE")?;
    let mut rewritten = first[..at].to_vec();
    rewritten.extend_from_slice(b" {0}\r\n\r\n");

    let mut parts = Vec::new();
    let mut pending_text = false;
    let mut closed = false;
    for (i, f) in fragments.iter().enumerate() {
        match f {
            FragmentInfo::Literal { .. } => {
                if !pending_text {
                    return Err("a literal that is not the data of TEXT".into());
                }
                parts.push(Part::Text(bytes(f).to_vec()));
                pending_text = false;
            }
            FragmentInfo::Line { .. } => {
                let line = bytes(f);
                let line = if i == 0 {
                    &line[at + " CATENATE (".len()..]
                } else {
                    line
                };
                let text = std::str::from_utf8(line).map_err(|_| "8-bit bytes in CATENATE")?;
                let mut rest = text.trim_end_matches(['\r', '\n']);
                loop {
                    rest = rest.trim_start();
                    if rest.is_empty() {
                        break;
                    }
                    if closed {
                        return Err("text after the CATENATE parts".into());
                    }
                    if let Some(after) = rest.strip_prefix(')') {
                        closed = true;
                        rest = after;
                        continue;
                    }
                    let (word, after) = rest.split_once(' ').ok_or("a part without its value")?;
                    match word.to_ascii_uppercase().as_str() {
                        "TEXT" => {
                            // The literal's announcement ends the line; its data is the next
                            // fragment.
                            let after = after.trim();
                            let announced = after.starts_with('{') || after.starts_with("~{");
                            if !announced || !after.ends_with('}') {
                                return Err("TEXT takes a literal".into());
                            }
                            pending_text = true;
                            rest = "";
                        }
                        "URL" => {
                            let (url, after) = astring(after)?;
                            parts.push(Part::Url(url));
                            rest = after;
                        }
                        other => return Err(format!("unknown CATENATE part {other}")),
                    }
                }
            }
        }
    }
    if !closed || pending_text {
        return Err("CATENATE parts are not closed with )".into());
    }
    if parts.is_empty() {
        return Err("CATENATE without parts".into());
    }
    Ok((rewritten, parts))
}

/// `tag APPEND box [flags] [date] UTF8 (~{n}<data>)` as the plain APPEND of its literal, when
/// the command is one.
pub fn unwrap_utf8(message: &[u8], fragments: &[FragmentInfo]) -> Option<Vec<u8>> {
    let bytes = |f: &FragmentInfo| message.get(f.range()).unwrap_or_default();
    let [first, literal @ FragmentInfo::Literal { .. }, last] = fragments else {
        return None;
    };
    let (first, last) = (bytes(first), bytes(last));
    if last.trim_ascii_end() != b")" {
        return None;
    }
    let announce = first.iter().rposition(|b| *b == b'~')?;
    let head = first[..announce].to_ascii_uppercase();
    let cut = head.strip_suffix(b"UTF8 (")?.len();
    let mut out = first[..cut].to_vec();
    out.extend_from_slice(&first[announce..]);
    out.extend_from_slice(bytes(literal));
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// A quoted string or an atom at the start of `s`, and what follows.
fn astring(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    if let Some(body) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.push(chars.next().ok_or("an unterminated URL")?.1),
                '"' => return Ok((out, &body[i + 1..])),
                c => out.push(c),
            }
        }
        return Err("an unterminated URL".into());
    }
    let end = s.find([' ', ')']).unwrap_or(s.len());
    if end == 0 {
        return Err("an empty URL".into());
    }
    Ok((s[..end].to_string(), &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::reader::{Event, Limits, Reader};

    fn read(wire: &[u8]) -> Event {
        let mut r = Reader::new(Limits {
            max_line: 1000,
            max_literal: 1000,
        });
        r.push(wire);
        loop {
            match r.next_event() {
                Event::Continue => continue,
                e => return e,
            }
        }
    }

    #[test]
    fn the_rfc_example_is_split_into_its_parts() {
        // RFC 4469 §5, with LITERAL+ so the test needs no continuations.
        let wire = b"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {42+}\r\n\r\n--------------030308070208000400050907\r\n URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME\" URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1\" TEXT {42+}\r\n\r\n--------------030308070208000400050907\r\n URL \"/Drafts;UIDVALIDITY=385759045/;UID=30\" TEXT {44+}\r\n\r\n--------------030308070208000400050907--\r\n)\r\n";
        let Event::Command(c, extras) = read(wire) else {
            panic!("a command");
        };
        assert!(matches!(
            c.body,
            imap_codec::imap_types::command::CommandBody::Append { .. }
        ));
        let parts = extras.catenate.expect("parts");
        assert_eq!(parts.len(), 7);
        assert_eq!(
            parts[0],
            Part::Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER".into())
        );
        assert_eq!(
            parts[1],
            Part::Text(b"\r\n--------------030308070208000400050907\r\n".to_vec())
        );
        assert_eq!(
            parts[5],
            Part::Url("/Drafts;UIDVALIDITY=385759045/;UID=30".into())
        );
        assert!(matches!(&parts[6], Part::Text(t) if t.ends_with(b"--\r\n")));
    }

    #[test]
    fn a_utf8_append_is_the_append_of_its_literal() {
        let Event::Command(c, extras) =
            read("a APPEND INBOX (\\Seen) UTF8 (~{13+}\r\nSubject: ü\r\n)\r\n".as_bytes())
        else {
            panic!("a command");
        };
        assert!(extras.utf8_append);
        let imap_codec::imap_types::command::CommandBody::Append { message, flags, .. } = c.body
        else {
            panic!("an APPEND");
        };
        assert_eq!(flags.len(), 1);
        let imap_codec::imap_types::extensions::binary::LiteralOrLiteral8::Literal8(l) = message
        else {
            panic!("a literal8");
        };
        assert_eq!(l.data.as_ref(), "Subject: ü\r\n".as_bytes());
    }

    #[test]
    fn malformed_catenates_are_named() {
        for (wire, why) in [
            (
                &b"a APPEND x CATENATE (URL \"/x;UID=1\"\r\n"[..],
                "not closed",
            ),
            (b"a APPEND x CATENATE ()\r\n", "without parts"),
            (
                b"a APPEND x CATENATE (FILE \"a\")\r\n",
                "unknown CATENATE part",
            ),
            (
                b"a APPEND x CATENATE (URL \"/x;UID=1\") junk\r\n",
                "after the CATENATE",
            ),
        ] {
            match read(wire) {
                Event::Refused {
                    why: crate::imap::reader::Refusal::Unsupported(w),
                    ..
                } => assert!(w.contains(why), "{w}"),
                _ => panic!("{:?} refused", String::from_utf8_lossy(wire)),
            }
        }
    }
}
