//! Which names LIST and LSUB return, without I/O: the account's mailboxes and its subscription
//! list (a list of names of its own, RFC 3501 §6.3.6) against the command's patterns.
//!
//! - LIST returns existing mailboxes.
//! - LIST (SUBSCRIBED) returns subscribed names, existing or not (RFC 5258 §3.1); with
//!   RECURSIVEMATCH also a matching name whose subscribed descendants do not match, marked
//!   for `CHILDINFO ("SUBSCRIBED")`.
//! - LSUB returns subscribed names, and an unsubscribed parent that matches a `%` where its
//!   subscribed child does not (RFC 3501 §6.3.9: returned with `\Noselect`).

use std::collections::BTreeSet;

use tern_store::model::Mailbox;

/// What is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// LIST: existing mailboxes.
    Existing,
    /// LIST (SUBSCRIBED), with or without RECURSIVEMATCH.
    Subscribed {
        /// RECURSIVEMATCH.
        recursive: bool,
    },
    /// LSUB.
    Lsub,
}

/// One name to return.
#[derive(Debug, PartialEq, Eq)]
pub struct Listed<'a> {
    /// The mailbox name.
    pub name: String,
    /// The mailbox, when one of that name exists.
    pub mailbox: Option<&'a Mailbox>,
    /// Whether the name is on the subscription list.
    pub subscribed: bool,
    /// Returned for subscribed descendants that do not match (`CHILDINFO ("SUBSCRIBED")`).
    pub childinfo: bool,
}

/// Whether `name` is below `parent` in the hierarchy.
fn below(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1
        && name.starts_with(parent)
        && name.as_bytes()[parent.len()] == b'/'
}

/// The names above `name` (`a/b/c` → `a`, `a/b`).
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(i, _)| &name[..i])
}

/// The names `selection` returns of `mailboxes` and `subscriptions`, where `hit` says whether
/// a name matches the command's patterns; sorted by name.
pub fn select<'a>(
    mailboxes: &'a [Mailbox],
    subscriptions: &[String],
    hit: impl Fn(&str) -> bool,
    selection: Selection,
) -> Vec<Listed<'a>> {
    let find = |name: &str| mailboxes.iter().find(|m| m.name == name);
    let subscribed: BTreeSet<&str> = subscriptions.iter().map(String::as_str).collect();
    let listed = |name: &str, childinfo: bool| Listed {
        name: name.to_string(),
        mailbox: find(name),
        subscribed: subscribed.contains(name),
        childinfo,
    };
    match selection {
        Selection::Existing => {
            let mut out: Vec<Listed> = mailboxes
                .iter()
                .filter(|m| hit(&m.name))
                .map(|m| listed(&m.name, false))
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out
        }
        Selection::Subscribed { recursive } => {
            let mut names: BTreeSet<&str> = subscribed.clone();
            if recursive {
                names.extend(subscribed.iter().flat_map(|s| ancestors(s)));
            }
            names
                .into_iter()
                .filter(|n| hit(n))
                .filter_map(|n| {
                    let childinfo = recursive && subscribed.iter().any(|s| below(s, n) && !hit(s));
                    (subscribed.contains(n) || childinfo).then(|| listed(n, childinfo))
                })
                .collect()
        }
        Selection::Lsub => {
            let mut names: BTreeSet<&str> = subscribed.iter().copied().filter(|s| hit(s)).collect();
            for s in subscribed.iter().filter(|s| !hit(s)) {
                names.extend(ancestors(s).filter(|a| hit(a)));
            }
            names.into_iter().map(|n| listed(n, false)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::list::matches;

    fn mailbox(name: &str) -> Mailbox {
        Mailbox {
            id: 1,
            account: 1,
            name: name.into(),
            special_use: None,
            uidvalidity: 1,
            subscribed: false,
            created: 0,
        }
    }

    fn names(
        existing: &[&str],
        subscribed: &[&str],
        pattern: &str,
        selection: Selection,
    ) -> Vec<String> {
        let mailboxes: Vec<Mailbox> = existing.iter().map(|n| mailbox(n)).collect();
        let subs: Vec<String> = subscribed.iter().map(|s| s.to_string()).collect();
        select(
            &mailboxes,
            &subs,
            |n| matches(pattern.as_bytes(), n.as_bytes()),
            selection,
        )
        .into_iter()
        .map(|l| {
            let mut out = l.name;
            if l.mailbox.is_none() {
                out.push_str(" nonexistent");
            }
            if l.subscribed {
                out.push_str(" subscribed");
            }
            if l.childinfo {
                out.push_str(" childinfo");
            }
            out
        })
        .collect()
    }

    #[test]
    fn list_returns_existing_mailboxes_only() {
        assert_eq!(
            names(
                &["INBOX", "Old"],
                &["Gone", "Old"],
                "*",
                Selection::Existing
            ),
            ["INBOX", "Old subscribed"]
        );
    }

    #[test]
    fn subscribed_names_outlive_their_mailboxes() {
        // RFC 5258 §5, example 3: a subscribed name that no longer exists.
        assert_eq!(
            names(
                &["INBOX", "Fruit", "Fruit/Apple"],
                &["Fruit/Apple", "Fruit/Peach"],
                "*",
                Selection::Subscribed { recursive: false }
            ),
            [
                "Fruit/Apple subscribed",
                "Fruit/Peach nonexistent subscribed"
            ]
        );
    }

    #[test]
    fn recursivematch_reports_parents_of_subscribed_children() {
        // RFC 5258 §5, example 5 (the shape of it): `%` matches the parents only.
        let existing = ["Foo", "Foo/Bar", "Baz", "Baz/Qux", "Eps"];
        let subscribed = ["Foo/Bar", "Baz", "Baz/Qux", "Tofu/Tempeh"];
        assert_eq!(
            names(
                &existing,
                &subscribed,
                "%",
                Selection::Subscribed { recursive: true }
            ),
            [
                "Baz subscribed childinfo",
                "Foo childinfo",
                "Tofu nonexistent childinfo"
            ]
        );
        // Without RECURSIVEMATCH, only what is subscribed itself.
        assert_eq!(
            names(
                &existing,
                &subscribed,
                "%",
                Selection::Subscribed { recursive: false }
            ),
            ["Baz subscribed"]
        );
        // When the children match too, nothing needs CHILDINFO.
        assert_eq!(
            names(
                &existing,
                &subscribed,
                "*",
                Selection::Subscribed { recursive: true }
            ),
            [
                "Baz subscribed",
                "Baz/Qux subscribed",
                "Foo/Bar subscribed",
                "Tofu/Tempeh nonexistent subscribed"
            ]
        );
    }

    #[test]
    fn lsub_returns_an_unsubscribed_parent_for_percent() {
        // RFC 3501 §6.3.9: "foo/bar" subscribed, "foo" not: LSUB "" % returns foo.
        let existing = ["foo", "foo/bar", "top"];
        assert_eq!(
            names(&existing, &["foo/bar", "top"], "%", Selection::Lsub),
            ["foo", "top subscribed"]
        );
        assert_eq!(
            names(&existing, &["foo/bar", "top"], "*", Selection::Lsub),
            ["foo/bar subscribed", "top subscribed"]
        );
        assert_eq!(
            names(&existing, &["foo/bar/baz"], "foo/%", Selection::Lsub),
            ["foo/bar"]
        );
    }

    #[test]
    fn hierarchy_helpers() {
        assert!(below("a/b", "a"));
        assert!(!below("ab", "a"));
        assert!(!below("a", "a"));
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
    }
}
