//! The NOTIFY command (RFC 5465 §8), which `imap-codec` does not read: `NOTIFY NONE`, or
//! `NOTIFY SET [STATUS] (filter events) ...` with the filters SELECTED, SELECTED-DELAYED,
//! INBOXES, PERSONAL, SUBSCRIBED, SUBTREE and MAILBOXES, and events as names (MessageNew may
//! carry fetch attributes, kept as text). Mailbox names are as the client sent them (modified
//! UTF-7 or UTF-8); which events are offered is the server's business.

use imap_codec::{
    CommandCodec,
    decode::Decoder,
    imap_types::{
        IntoStatic,
        command::{Command, CommandBody},
        fetch::MacroOrMessageDataItemNames,
    },
};

use super::extensions::{ExtError, tokens, unquote};

/// A NOTIFY command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notify {
    /// `NOTIFY NONE`: no more notifications.
    None,
    /// `NOTIFY SET ...`.
    Set(NotifySet),
}

/// What `NOTIFY SET` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySet {
    /// `STATUS`: send each watched mailbox's status now.
    pub status: bool,
    /// The event groups, in order.
    pub groups: Vec<EventGroup>,
}

/// One `(filter events)` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    /// Which mailboxes.
    pub filter: Filter,
    /// Which events (empty: `NONE`).
    pub events: Vec<Event>,
}

/// The mailboxes a group is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The selected mailbox.
    Selected,
    /// The selected mailbox, expunges held until a command allows them.
    SelectedDelayed,
    /// Mailboxes mail is delivered to.
    Inboxes,
    /// Every mailbox of the user.
    Personal,
    /// Subscribed mailboxes.
    Subscribed,
    /// These mailboxes and everything below them.
    Subtree(Vec<String>),
    /// These mailboxes.
    Mailboxes(Vec<String>),
}

/// An event, by its RFC 5465 name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// New messages, with the fetch attributes to send for each (as written).
    MessageNew(Option<String>),
    /// Expunged messages.
    MessageExpunge,
    /// Flag changes.
    FlagChange,
    /// Mailboxes created, deleted or renamed.
    MailboxName,
    /// Subscriptions added or removed.
    SubscriptionChange,
    /// Any other event name (AnnotationChange, MailboxMetadataChange, ...).
    Other(String),
}

/// The FETCH items MessageNew's attributes name (`UID BODY.PEEK[HEADER]`, or a macro), read
/// as FETCH reads them; `None` when they are not valid FETCH items.
pub fn fetch_items(atts: &str) -> Option<MacroOrMessageDataItemNames<'static>> {
    let line = format!("n FETCH 1 ({atts})\r\n");
    match CommandCodec::default().decode(line.as_bytes()) {
        Ok((
            [],
            Command {
                body:
                    CommandBody::Fetch {
                        macro_or_item_names,
                        ..
                    },
                ..
            },
        )) => Some(macro_or_item_names.into_static()),
        _ => None,
    }
}

fn inner(group: &str) -> Option<&str> {
    group.strip_prefix('(')?.strip_suffix(')')
}

fn bad(why: &str) -> ExtError {
    ExtError(format!("NOTIFY: {why}"))
}

/// One mailbox or a parenthesised list of them.
fn mailboxes(word: Option<&String>) -> Result<Vec<String>, ExtError> {
    let word = word.ok_or_else(|| bad("SUBTREE and MAILBOXES need mailbox names"))?;
    let names: Vec<String> = match inner(word) {
        Some(list) => tokens(list.as_bytes()).iter().map(|n| unquote(n)).collect(),
        None => vec![unquote(word)],
    };
    if names.is_empty() || names.iter().any(|n| n.starts_with('(')) {
        return Err(bad("a mailbox list holds mailbox names"));
    }
    Ok(names)
}

fn events(word: Option<&String>) -> Result<Vec<Event>, ExtError> {
    let word = word.ok_or_else(|| bad("each group names its events, or NONE"))?;
    if word.eq_ignore_ascii_case("NONE") {
        return Ok(Vec::new());
    }
    let list = inner(word).ok_or_else(|| bad("events are a parenthesised list, or NONE"))?;
    let words = tokens(list.as_bytes());
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let event = match words[i].to_ascii_lowercase().as_str() {
            "messagenew" => match words.get(i + 1).and_then(|w| inner(w)) {
                Some(atts) => {
                    i += 1;
                    Event::MessageNew(Some(atts.to_string()))
                }
                None => Event::MessageNew(None),
            },
            "messageexpunge" => Event::MessageExpunge,
            "flagchange" => Event::FlagChange,
            "mailboxname" => Event::MailboxName,
            "subscriptionchange" => Event::SubscriptionChange,
            other if other.starts_with('(') => return Err(bad("unexpected list among events")),
            _ => Event::Other(words[i].clone()),
        };
        out.push(event);
        i += 1;
    }
    if out.is_empty() {
        return Err(bad("an empty event list (say NONE)"));
    }
    Ok(out)
}

fn group(word: &str) -> Result<EventGroup, ExtError> {
    let body = inner(word).ok_or_else(|| bad("each event group is parenthesised"))?;
    let words = tokens(body.as_bytes());
    let name = words
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    let (filter, rest) = match name.as_str() {
        "SELECTED" => (Filter::Selected, 1),
        "SELECTED-DELAYED" => (Filter::SelectedDelayed, 1),
        "INBOXES" => (Filter::Inboxes, 1),
        "PERSONAL" => (Filter::Personal, 1),
        "SUBSCRIBED" => (Filter::Subscribed, 1),
        "SUBTREE" => (Filter::Subtree(mailboxes(words.get(1))?), 2),
        "MAILBOXES" => (Filter::Mailboxes(mailboxes(words.get(1))?), 2),
        "" => return Err(bad("an empty event group")),
        other => return Err(bad(&format!("unknown mailbox filter {other}"))),
    };
    if words.len() != rest + 1 {
        return Err(bad("an event group is (filter events)"));
    }
    Ok(EventGroup {
        filter,
        events: events(words.get(rest))?,
    })
}

/// Reads the arguments of NOTIFY (the words after the command name).
pub fn parse(args: &[String]) -> Result<Notify, ExtError> {
    let verb = args.first().map(|w| w.to_ascii_uppercase());
    match verb.as_deref() {
        Some("NONE") if args.len() == 1 => Ok(Notify::None),
        Some("SET") => {
            let status = args
                .get(1)
                .is_some_and(|w| w.eq_ignore_ascii_case("STATUS"));
            let groups = args[1 + usize::from(status)..]
                .iter()
                .map(|w| group(w))
                .collect::<Result<Vec<_>, _>>()?;
            if groups.is_empty() {
                return Err(bad("SET needs at least one event group"));
            }
            Ok(Notify::Set(NotifySet { status, groups }))
        }
        _ => Err(bad("NOTIFY takes SET or NONE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        tokens(s.as_bytes())
    }

    #[test]
    fn the_rfc_examples_are_read() {
        // RFC 5465 §5.1's example, and §7's.
        let n = parse(&words(
            "SET STATUS (selected MessageNew (uid body.peek[header.fields (from to subject)]) \
             MessageExpunge) (subtree Lists MessageNew)",
        ));
        assert!(
            n.is_err(),
            "the events of a group are one parenthesised list"
        );
        let n = parse(&words(
            "SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) \
             MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
        ))
        .expect("parses");
        let Notify::Set(set) = n else { panic!("SET") };
        assert!(set.status);
        assert_eq!(set.groups.len(), 2);
        assert_eq!(
            set.groups[0].events,
            [
                Event::MessageNew(Some(
                    "uid body.peek[header.fields (from to subject)]".into()
                )),
                Event::MessageExpunge
            ]
        );
        assert_eq!(set.groups[1].filter, Filter::Subtree(vec!["Lists".into()]));
        let n = parse(&words(
            "SET (mailboxes (INBOX \"Other Stuff\") (MessageNew MessageExpunge FlagChange)) \
             (personal (MailboxName SubscriptionChange)) (selected NONE)",
        ))
        .expect("parses");
        let Notify::Set(set) = n else { panic!("SET") };
        assert!(!set.status);
        assert_eq!(
            set.groups[0].filter,
            Filter::Mailboxes(vec!["INBOX".into(), "Other Stuff".into()])
        );
        assert_eq!(set.groups[2].events, []);
        assert_eq!(parse(&words("NONE")), Ok(Notify::None));
        assert!(fetch_items("uid body.peek[header.fields (from to subject)]").is_some());
        assert!(fetch_items("FLAGS INTERNALDATE").is_some());
        assert!(fetch_items("uid frobnicate").is_none());
    }

    #[test]
    fn bad_syntax_is_refused() {
        for bad in [
            "",
            "SET",
            "SET STATUS",
            "NONE NONE",
            "SET (selected)",
            "SET (nowhere (MessageNew))",
            "SET (subtree (MessageNew))",
            "SET (personal ())",
            "SET (personal MessageNew)",
            "SET (inboxes (MessageNew) extra)",
        ] {
            assert!(parse(&words(bad)).is_err(), "{bad}");
        }
        // An event this parser does not know is kept for the server to refuse by name.
        let n = parse(&words("SET (personal (AnnotationChange))")).expect("parses");
        let Notify::Set(set) = n else { panic!("SET") };
        assert_eq!(
            set.groups[0].events,
            [Event::Other("AnnotationChange".into())]
        );
    }
}
