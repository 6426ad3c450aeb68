//! APPEND with CATENATE (RFC 4469): the message is built from literal text and IMAP URLs
//! (RFC 5092) naming messages, or parts of them, in the user's own mailboxes. A URL that
//! cannot be resolved (another user, a missing mailbox or message, a stale UIDVALIDITY, a
//! part the message lacks) fails the APPEND with `NO [BADURL "url"]`; the result is held to
//! the APPEND limit (`NO [TOOBIG]`).

use tern_proto::imap::{
    catenate::Part,
    imap_codec::{CommandCodec, decode::Decoder},
    types::{
        command::CommandBody,
        core::Tag,
        fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section},
        response::{Code, CodeOther},
    },
};
use tern_store::{
    blob,
    model::{Account, Directory, ModelError, Summary, message},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    section,
    session::{Flow, Session},
};

/// What an IMAP URL names (RFC 5092 `imapurl` / `path-absolute` with a UID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The user of an absolute URL (`imap://user@host/…`).
    pub user: Option<String>,
    /// The mailbox, percent-decoded (UTF-8).
    pub mailbox: String,
    /// `;UIDVALIDITY=`.
    pub uidvalidity: Option<u32>,
    /// `/;UID=`.
    pub uid: u32,
    /// `/;SECTION=`, as written.
    pub section: Option<String>,
    /// `/;PARTIAL=offset[.length]`.
    pub partial: Option<(usize, Option<usize>)>,
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Parses an IMAP URL naming one message (or part); `None` when it is not one.
pub fn parse_url(url: &str) -> Option<Url> {
    let (user, path) = match url.get(..7).filter(|p| p.eq_ignore_ascii_case("imap://")) {
        Some(_) => {
            let rest = &url[7..];
            let slash = rest.find('/')?;
            let authority = &rest[..slash];
            let user = authority
                .rsplit_once('@')
                .map(|(u, _)| u.split(';').next().unwrap_or(u))
                .and_then(percent_decode);
            (user, &rest[slash..])
        }
        None => (None, url),
    };
    let mut segments = path.strip_prefix('/')?.split("/;");
    let first = segments.next()?;
    let (mailbox, uidvalidity) = match first.split_once(';') {
        Some((m, v)) => {
            let (key, value) = v.split_once('=')?;
            if !key.eq_ignore_ascii_case("UIDVALIDITY") {
                return None;
            }
            (m, Some(value.parse().ok()?))
        }
        None => (first, None),
    };
    let mut parsed = Url {
        user,
        mailbox: percent_decode(mailbox).filter(|m| !m.is_empty())?,
        uidvalidity,
        uid: 0,
        section: None,
        partial: None,
    };
    for segment in segments {
        let (key, value) = segment.split_once('=')?;
        match key.to_ascii_uppercase().as_str() {
            "UID" => parsed.uid = value.parse().ok()?,
            "SECTION" => parsed.section = Some(percent_decode(value)?),
            "PARTIAL" => {
                let (offset, length) = match value.split_once('.') {
                    Some((o, l)) => (o.parse().ok()?, Some(l.parse().ok()?)),
                    None => (value.parse().ok()?, None),
                };
                parsed.partial = Some((offset, length));
            }
            _ => return None,
        }
    }
    (parsed.uid > 0).then_some(parsed)
}

/// A section as FETCH would take it (`HEADER`, `1.MIME`, …), read by `imap-codec`.
fn parse_section(text: &str) -> Option<Section<'static>> {
    let command = format!("a FETCH 1 BODY[{text}]\r\n");
    let (_, c) = CommandCodec::default()
        .decode_static(command.as_bytes())
        .ok()?;
    let CommandBody::Fetch {
        macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
        ..
    } = c.body
    else {
        return None;
    };
    match names.into_iter().next()? {
        MessageDataItemName::BodyExt { section, .. } => section,
        _ => None,
    }
}

fn bad_url(url: &str) -> Code<'static> {
    let quoted = url.replace('\\', "\\\\").replace('"', "\\\"");
    Code::Other(CodeOther::unvalidated(
        format!("BADURL \"{quoted}\"").into_bytes(),
    ))
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// The message CATENATE `parts` build; the refusal is written and `Err` carries the flow.
    pub(super) async fn catenate(
        &mut self,
        tag: &Tag<'_>,
        parts: Vec<Part>,
    ) -> Result<Vec<u8>, Flow> {
        let limit = self.ctx.config.max_append_bytes as usize;
        let (ctx, account) = (self.ctx.clone(), self.account().clone());
        let mut out = Vec::new();
        for part in parts {
            let piece = match part {
                Part::Text(text) => text,
                Part::Url(url) => match resolve(&ctx.dir, &account, &url).await {
                    Ok(Ok(bytes)) => bytes,
                    Ok(Err(why)) => return Err(self.no(tag, Some(bad_url(&url)), &why)),
                    Err(e) => return Err(self.fail(tag, e)),
                },
            };
            out.extend_from_slice(&piece);
            if out.len() > limit {
                return Err(self.no(
                    tag,
                    Some(Code::TooBig),
                    &format!("the catenated message is over the limit of {limit} bytes"),
                ));
            }
        }
        Ok(out)
    }
}

/// The bytes a URL names in `account`'s mailboxes, or why the URL is bad (`Ok(Err)`); a store
/// failure is `Err`, answered as every other one is.
async fn resolve(
    dir: &Directory,
    account: &Account,
    url: &str,
) -> Result<Result<Vec<u8>, String>, ModelError> {
    let Some(u) = parse_url(url) else {
        return Ok(Err("not an IMAP URL naming a message".into()));
    };
    if let Some(user) = &u.user {
        let local = account.address.split('@').next().unwrap_or_default();
        if !user.eq_ignore_ascii_case(&account.address) && !user.eq_ignore_ascii_case(local) {
            return Ok(Err("the URL names another user's mailbox".into()));
        }
    }
    let Some(mailbox) = dir.mailbox(account.id, &u.mailbox).await? else {
        return Ok(Err(format!("no mailbox named {}", u.mailbox)));
    };
    if u.uidvalidity.is_some_and(|v| v != mailbox.uidvalidity) {
        return Ok(Err("the URL's UIDVALIDITY is not the mailbox's".into()));
    }
    let db = dir.db();
    let (id, uid) = (mailbox.id, u.uid);
    let meta = db
        .run(|tx| async move { message::get(&tx, id, uid).await })
        .await?;
    let Some(meta) = meta else {
        return Ok(Err(format!("no message with UID {uid} in {}", u.mailbox)));
    };
    let raw = blob::read(db, meta.blob).await?;
    let mut bytes = match &u.section {
        None => raw,
        Some(text) => {
            let Some(section) = parse_section(text) else {
                return Ok(Err(format!("SECTION={text} is not a section")));
            };
            let summary = Summary::parse(&raw);
            match section::extract(&raw, &summary.structure, Some(&section)) {
                Some(part) => part,
                None => return Ok(Err(format!("the message has no part {text}"))),
            }
        }
    };
    if let Some((offset, length)) = u.partial {
        let start = offset.min(bytes.len());
        let end = length.map_or(bytes.len(), |l| start.saturating_add(l).min(bytes.len()));
        bytes = bytes[start..end].to_vec();
    }
    Ok(Ok(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_the_rfcs_parse() {
        let u = parse_url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME").expect("url");
        assert_eq!(
            u,
            Url {
                user: None,
                mailbox: "Drafts".into(),
                uidvalidity: Some(385_759_045),
                uid: 20,
                section: Some("1.MIME".into()),
                partial: None,
            }
        );
        let u = parse_url("imap://joe;AUTH=*@example.com/Entw%C3%BCrfe/;UID=7/;PARTIAL=0.1024")
            .expect("url");
        assert_eq!(u.user.as_deref(), Some("joe"));
        assert_eq!(u.mailbox, "Entwürfe");
        assert_eq!(u.partial, Some((0, Some(1024))));
        for bad in [
            "Drafts;UID=1",
            "/Drafts",
            "/Drafts/;UID=x",
            "/;UID=1",
            "/a/;FOO=1",
        ] {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
        assert!(parse_section("1.MIME").is_some());
        assert!(parse_section("HEADER").is_some());
        assert!(parse_section("NOPE").is_none());
    }
}
