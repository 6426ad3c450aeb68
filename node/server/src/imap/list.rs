//! LIST and LSUB: mailbox names matching a reference and patterns (`*` matches anything, `%`
//! anything but the separator `/`), with special-use, children and subscription attributes;
//! LIST-EXTENDED selection (SUBSCRIBED, SPECIAL-USE) and return options, and LIST-STATUS.

use tern_proto::imap::types::{
    core::{Atom, QuotedChar, Tag},
    flag::FlagNameAttribute,
    mailbox::{ListMailbox, Mailbox},
    response::Data,
};
use tokio::io::{AsyncRead, AsyncWrite};

use tern_proto::imap::extensions::{ListOptions, unquote};

use super::{
    convert::{mailbox, mailbox_name, special_use},
    session::{Flow, Session},
    status,
};

/// Whether `name` matches an IMAP LIST pattern.
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|i| *i == 0 || name[i - 1] != b'/')
            .any(|i| matches(rest, &name[i..])),
        Some((c, rest)) => name
            .split_first()
            .is_some_and(|(n, nrest)| n == c && matches(rest, nrest)),
    }
}

fn attr(name: &str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(Atom::try_from(name.to_string()).expect("attribute names are atoms"))
}

/// Handles `LIST reference pattern` and (`lsub`) `LSUB reference pattern`.
pub async fn handle_list<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    reference: Mailbox<'static>,
    pattern: ListMailbox<'static>,
    lsub: bool,
    options: ListOptions,
) -> Flow {
    let verb = if lsub { "LSUB" } else { "LIST" };
    let pattern: Vec<u8> = match &pattern {
        ListMailbox::Token(t) => t.as_ref().to_vec(),
        ListMailbox::String(s) => s.as_ref().to_vec(),
    };
    let reference = match &reference {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(_) => mailbox_name(&reference),
    };
    let delimiter = QuotedChar::try_from('/').ok();
    if pattern.is_empty() && !lsub {
        s.data(Data::List {
            items: vec![FlagNameAttribute::Noselect],
            delimiter,
            mailbox: mailbox(""),
        });
        return s.ok(&tag, None, "LIST completed");
    }
    let status_items: Vec<_> = options
        .status
        .iter()
        .filter_map(|n| status::item_name(n))
        .collect();
    if status_items.len() != options.status.len() {
        return s.bad(
            &tag,
            None,
            &format!("unsupported STATUS item in {:?}", options.status),
        );
    }
    let mut patterns = vec![pattern];
    patterns.extend(
        options
            .more_patterns
            .iter()
            .map(|p| unquote(p).into_bytes()),
    );
    let fulls: Vec<Vec<u8>> = patterns
        .iter()
        .map(|pattern| {
            let mut full = reference.clone().into_bytes();
            if !full.is_empty() && !full.ends_with(b"/") && !pattern.starts_with(b"/") {
                full.push(b'/');
            }
            full.extend_from_slice(pattern);
            full
        })
        .collect();
    let all = match s.ctx.dir.mailboxes(s.account().id).await {
        Ok(all) => all,
        Err(e) => return s.fail(&tag, e),
    };
    let mut names: Vec<&tern_store::model::Mailbox> = all.iter().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    for m in names {
        let name = m.name.as_bytes();
        let hit = fulls.iter().any(|full| {
            if m.name == "INBOX" {
                matches(&full.to_ascii_uppercase(), name)
            } else {
                matches(full, name)
            }
        });
        let subscribed_only = lsub || options.subscribed_only;
        if !hit
            || (subscribed_only && !m.subscribed)
            || (options.special_use_only && m.special_use.and_then(special_use).is_none())
        {
            continue;
        }
        let has_children = all
            .iter()
            .any(|o| o.name.starts_with(&format!("{}/", m.name)));
        let mut items = vec![attr(if has_children {
            "HasChildren"
        } else {
            "HasNoChildren"
        })];
        if let Some(su) = m.special_use.and_then(special_use) {
            items.push(su);
        }
        if m.subscribed && !lsub {
            items.push(attr("Subscribed"));
        }
        let entry = mailbox(&m.name);
        s.data(if lsub {
            Data::Lsub {
                items,
                delimiter,
                mailbox: entry,
            }
        } else {
            Data::List {
                items,
                delimiter,
                mailbox: entry,
            }
        });
        if !status_items.is_empty() {
            match status::items_for(&s.ctx.dir, m, &status_items).await {
                Ok(items) => s.data(Data::Status {
                    mailbox: mailbox(&m.name),
                    items: items.into(),
                }),
                Err(e) => return s.fail(&tag, e),
            }
        }
    }
    s.ok(&tag, None, &format!("{verb} completed"))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches(b"*", b"a/b/c"));
        assert!(matches(b"%", b"Sent"));
        assert!(!matches(b"%", b"a/b"));
        assert!(matches(b"a/%", b"a/b"));
        assert!(!matches(b"a/%", b"a/b/c"));
        assert!(matches(b"a/*", b"a/b/c"));
        assert!(matches(b"S*t", b"Sent"));
        assert!(!matches(b"Sent", b"Sent/x"));
    }
}
