//! LIST and LSUB: mailbox names matching a reference and patterns (`*` matches anything, `%`
//! anything but the separator `/`), with special-use, children and subscription attributes;
//! LIST-EXTENDED selection (SUBSCRIBED, RECURSIVEMATCH, SPECIAL-USE) and return options, and
//! LIST-STATUS. Which names are returned is decided in `listing.rs`.

use tern_proto::imap::types::{
    core::{Atom, QuotedChar, Tag},
    flag::FlagNameAttribute,
    mailbox::{ListMailbox, Mailbox},
    response::Data,
};
use tokio::io::{AsyncRead, AsyncWrite};

use tern_proto::imap::extensions::{ListOptions, unquote};

use super::{
    convert::special_use,
    listing::{self, Selection},
    names,
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

/// A mailbox attribute by name (`Subscribed`, `NonExistent`, ...).
pub(super) fn attr(name: &str) -> FlagNameAttribute<'static> {
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
    let utf8 = s.reporting.utf8;
    // Patterns and the reference are names with wildcards: decoded as names are, or taken as
    // sent when they are not valid modified UTF-7 (they then match nothing stored).
    let as_name =
        |sent: &[u8]| names::decode(sent, utf8).map_or_else(|_| sent.to_vec(), String::into_bytes);
    let pattern = as_name(match &pattern {
        ListMailbox::Token(t) => t.as_ref(),
        ListMailbox::String(s) => s.as_ref(),
    });
    let reference = match &reference {
        Mailbox::Inbox => b"INBOX".to_vec(),
        Mailbox::Other(o) => as_name(o.as_ref()),
    };
    let delimiter = QuotedChar::try_from('/').ok();
    if pattern.is_empty() && !lsub {
        s.data(Data::List {
            items: vec![FlagNameAttribute::Noselect],
            delimiter,
            mailbox: s.name_out(""),
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
            .map(|p| as_name(unquote(p).as_bytes())),
    );
    let fulls: Vec<Vec<u8>> = patterns
        .iter()
        .map(|pattern| {
            let mut full = reference.clone();
            if !full.is_empty() && !full.ends_with(b"/") && !pattern.starts_with(b"/") {
                full.push(b'/');
            }
            full.extend_from_slice(pattern);
            full
        })
        .collect();
    let account = s.account().id;
    let all = match s.ctx.dir.mailboxes(account).await {
        Ok(all) => all,
        Err(e) => return s.fail(&tag, e),
    };
    let selection = if lsub {
        Selection::Lsub
    } else if options.subscribed_only {
        Selection::Subscribed {
            recursive: options.recursive_match,
        }
    } else {
        Selection::Existing
    };
    let subscriptions = if selection != Selection::Existing || options.return_subscribed {
        match s.ctx.dir.subscriptions(account).await {
            Ok(names) => names,
            Err(e) => return s.fail(&tag, e),
        }
    } else {
        Vec::new()
    };
    let hit = |name: &str| {
        fulls.iter().any(|full| {
            if name == "INBOX" {
                matches(&full.to_ascii_uppercase(), name.as_bytes())
            } else {
                matches(full, name.as_bytes())
            }
        })
    };
    let show_subscribed = selection != Selection::Existing || options.return_subscribed;
    for entry in listing::select(&all, &subscriptions, hit, selection) {
        let special = entry
            .mailbox
            .and_then(|m| m.special_use.and_then(special_use));
        if options.special_use_only && special.is_none() {
            continue;
        }
        let mut items = Vec::new();
        match entry.mailbox {
            // LSUB marks what it returns without being subscribed to (a parent) or without
            // a mailbox behind it as not selectable (RFC 3501 §6.3.9).
            _ if lsub && !entry.subscribed => items.push(FlagNameAttribute::Noselect),
            None if lsub => items.push(FlagNameAttribute::Noselect),
            None => items.push(attr("NonExistent")),
            Some(m) => {
                let has_children = all
                    .iter()
                    .any(|o| o.name.starts_with(&format!("{}/", m.name)));
                items.push(attr(if has_children {
                    "HasChildren"
                } else {
                    "HasNoChildren"
                }));
                items.extend(special);
            }
        }
        if entry.subscribed && show_subscribed && !lsub {
            items.push(attr("Subscribed"));
        }
        let name = s.name_out(&entry.name);
        let data = if lsub {
            Data::Lsub {
                items,
                delimiter,
                mailbox: name,
            }
        } else {
            Data::List {
                items,
                delimiter,
                mailbox: name,
            }
        };
        if entry.childinfo {
            s.data_extended(data, "(\"CHILDINFO\" (\"SUBSCRIBED\"))");
        } else {
            s.data(data);
        }
        let Some(m) = entry.mailbox.filter(|_| !status_items.is_empty()) else {
            continue;
        };
        match status::items_for(&s.ctx.dir, m, &status_items).await {
            Ok(items) => s.data(Data::Status {
                mailbox: s.name_out(&m.name),
                items: items.into(),
            }),
            Err(e) => return s.fail(&tag, e),
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
