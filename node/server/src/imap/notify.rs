//! NOTIFY (RFC 5465): one connection follows many mailboxes. `NOTIFY SET` names groups of
//! mailboxes (SELECTED, SELECTED-DELAYED, INBOXES — the INBOX, where mail is delivered —
//! PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES) and the events wanted for each (MessageNew,
//! MessageExpunge, FlagChange, MailboxName, SubscriptionChange); the first group that names a
//! mailbox decides for it, a SELECTED group first for the selected one. From then on, between
//! commands and in IDLE, the session tells the client as things change: the selected mailbox
//! as IDLE does (EXISTS, EXPUNGE, FETCH; with SELECTED-DELAYED expunges wait for a command,
//! and MessageNew's fetch attributes are sent for new mail), other mailboxes as `* STATUS`,
//! names and subscriptions as `* LIST` (`\NonExistent` for a deleted one, `OLDNAME` for a
//! renamed one). It learns of changes through store watches on each followed mailbox's change
//! counter and on the account's names counter (`watcher.rs`), so changes made on any node are
//! told. `NOTIFY NONE` ends it.

use std::collections::{BTreeSet, HashMap};

use tern_proto::imap::{
    notify::{self as wire, Event, Filter},
    types::{
        core::{QuotedChar, Tag},
        fetch::{MacroOrMessageDataItemNames, MessageDataItemName},
        flag::FlagNameAttribute,
        response::{Code, CodeOther, Data},
        status::StatusDataItem,
    },
};
use tern_store::{
    keys::mail as k,
    model::{Mailbox, MailboxStatus, ModelError, mailbox},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::watch,
};

use super::{
    convert::nz,
    list::attr,
    metrics::METRICS,
    names,
    session::{Flow, Session},
    watcher::Watcher,
};

/// The events this server offers, as `[BADEVENT]` lists them.
const OFFERED: [&str; 5] = [
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "MailboxName",
    "SubscriptionChange",
];

/// A group with its mailbox names decoded and its events as flags.
#[derive(Debug, Clone)]
struct Group {
    filter: Filter,
    /// MessageNew and MessageExpunge (always together).
    messages: bool,
    flags: bool,
    names: bool,
    subscriptions: bool,
}

impl Group {
    fn is_selected(&self) -> bool {
        matches!(self.filter, Filter::Selected | Filter::SelectedDelayed)
    }

    /// Whether this (non-selected) filter names `name`.
    fn names_mailbox(&self, name: &str, subscribed: &BTreeSet<String>) -> bool {
        match &self.filter {
            Filter::Selected | Filter::SelectedDelayed => false,
            Filter::Inboxes => name == "INBOX",
            Filter::Personal => true,
            Filter::Subscribed => subscribed.contains(name),
            Filter::Subtree(roots) => roots.iter().any(|r| {
                name == r
                    || name
                        .strip_prefix(r.as_str())
                        .is_some_and(|t| t.starts_with('/'))
            }),
            Filter::Mailboxes(list) => list.iter().any(|m| m == name),
        }
    }
}

/// What a followed mailbox looked like when the client was last told (or when following
/// began).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    messages: i64,
    uidnext: u32,
    unseen: i64,
    modseq: u64,
}

impl From<&MailboxStatus> for Seen {
    fn from(st: &MailboxStatus) -> Self {
        Seen {
            messages: st.messages,
            uidnext: st.uidnext,
            unseen: st.unseen,
            modseq: st.highest_modseq,
        }
    }
}

/// A session's NOTIFY settings and what it has told.
pub struct Notify {
    groups: Vec<Group>,
    watcher: Watcher,
    /// The account's mailboxes by id, as last read.
    mailboxes: HashMap<u64, Mailbox>,
    subscribed: BTreeSet<String>,
    /// Followed mailboxes (message events), as last told.
    seen: HashMap<u64, Seen>,
    /// MessageNew's fetch attributes for the selected mailbox.
    pub new_items: Option<Vec<MessageDataItemName<'static>>>,
}

impl Notify {
    /// Whether changes to the selected mailbox `name` are pushed, and whether expunges wait
    /// for a command (SELECTED-DELAYED): `None` when they are not pushed.
    pub fn selected_push(&self, name: &str) -> Option<bool> {
        if let Some(g) = self.groups.iter().find(|g| g.is_selected()) {
            return g
                .messages
                .then_some(matches!(g.filter, Filter::SelectedDelayed));
        }
        self.group_of(name).filter(|g| g.messages).map(|_| false)
    }

    /// The first non-selected group naming `name`.
    fn group_of(&self, name: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.names_mailbox(name, &self.subscribed))
    }

    /// The receiver that wakes the session when a followed key changed.
    pub fn receiver(&self) -> watch::Receiver<u64> {
        self.watcher.receiver()
    }
}

fn status_items(st: &MailboxStatus, condstore: bool) -> Vec<StatusDataItem> {
    let mut items = vec![
        StatusDataItem::Messages(st.messages.max(0) as u32),
        StatusDataItem::UidNext(nz(st.uidnext)),
        StatusDataItem::UidValidity(nz(st.uidvalidity)),
        StatusDataItem::Unseen(st.unseen.max(0) as u32),
    ];
    if condstore {
        items.push(StatusDataItem::HighestModSeq(st.highest_modseq));
    }
    items
}

/// The groups with their names decoded, and MessageNew's fetch attributes; `Err(Some(why))`
/// for what RFC 5465 forbids (`BAD`), `Err(None)` for an event not offered (`[BADEVENT]`).
fn groups(
    set: &wire::NotifySet,
    utf8: bool,
) -> Result<(Vec<Group>, Option<String>), Option<String>> {
    let mut out = Vec::new();
    let mut new_items = None;
    for g in &set.groups {
        let mut group = Group {
            filter: g.filter.clone(),
            messages: false,
            flags: false,
            names: false,
            subscriptions: false,
        };
        let (mut new, mut expunge) = (false, false);
        for e in &g.events {
            match e {
                Event::MessageNew(atts) => {
                    new = true;
                    if let Some(atts) = atts {
                        if !group.is_selected() {
                            return Err(Some(
                                "MessageNew takes fetch attributes only for SELECTED".into(),
                            ));
                        }
                        new_items = Some(atts.clone());
                    }
                }
                Event::MessageExpunge => expunge = true,
                Event::FlagChange => group.flags = true,
                Event::MailboxName => group.names = true,
                Event::SubscriptionChange => group.subscriptions = true,
                Event::Other(_) => return Err(None),
            }
        }
        if new != expunge {
            return Err(Some(
                "MessageNew and MessageExpunge go together (RFC 5465 section 5)".into(),
            ));
        }
        if group.flags && !new {
            return Err(Some(
                "FlagChange needs MessageNew and MessageExpunge (RFC 5465 section 5)".into(),
            ));
        }
        group.messages = new;
        let decode = |list: &[String]| -> Result<Vec<String>, Option<String>> {
            list.iter()
                .map(|n| match n.eq_ignore_ascii_case("INBOX") {
                    true => Ok("INBOX".to_string()),
                    false => names::decode(n.as_bytes(), utf8)
                        .map(|d| d.trim_matches('/').to_string())
                        .map_err(|_| Some(format!("{n} is not a valid mailbox name"))),
                })
                .collect()
        };
        group.filter = match &g.filter {
            Filter::Subtree(list) => Filter::Subtree(decode(list)?),
            Filter::Mailboxes(list) => Filter::Mailboxes(decode(list)?),
            f => f.clone(),
        };
        out.push(group);
    }
    Ok((out, new_items))
}

/// The account's mailboxes by id (those listed under their names) and its subscriptions.
async fn read_names(
    ctx: std::sync::Arc<super::ImapContext>,
    account: u64,
) -> Result<(HashMap<u64, Mailbox>, BTreeSet<String>), ModelError> {
    let subscribed = ctx.dir.subscriptions(account).await?.into_iter().collect();
    let all = ctx
        .dir
        .db()
        .run(|tx| async move { mailbox::listed(&tx, account).await })
        .await?;
    Ok((all.into_iter().map(|m| (m.id, m)).collect(), subscribed))
}

/// The status of each of `mailboxes`, in one transaction.
async fn read_statuses(
    ctx: std::sync::Arc<super::ImapContext>,
    mailboxes: Vec<Mailbox>,
) -> Result<Vec<(Mailbox, MailboxStatus)>, ModelError> {
    let mailboxes = &mailboxes;
    Ok(ctx
        .dir
        .db()
        .run(|tx| async move {
            let mut out = Vec::with_capacity(mailboxes.len());
            for m in mailboxes {
                out.push((m.clone(), mailbox::status(&tx, m).await?));
            }
            Ok(out)
        })
        .await?)
}

/// The mailboxes whose first naming group wants their message events.
fn followed(
    groups: &[Group],
    mailboxes: &HashMap<u64, Mailbox>,
    subscribed: &BTreeSet<String>,
) -> Vec<Mailbox> {
    mailboxes
        .values()
        .filter(|m| {
            groups
                .iter()
                .find(|g| g.names_mailbox(&m.name, subscribed))
                .is_some_and(|g| g.messages)
        })
        .cloned()
        .collect()
}

/// The keys a session follows: the followed mailboxes' change counters and the account's
/// names counter.
fn keys(account: u64, followed: &[Mailbox]) -> Vec<Vec<u8>> {
    followed
        .iter()
        .map(|m| k::change(m.id))
        .chain([k::names_change(account)])
        .collect()
}

/// Handles `NOTIFY SET ...` and `NOTIFY NONE`.
pub async fn handle_notify<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    request: wire::Notify,
) -> Flow {
    let set = match request {
        wire::Notify::None => {
            s.notify = None;
            return s.ok(&tag, None, "NOTIFY completed: no more notifications");
        }
        wire::Notify::Set(set) => set,
    };
    let (groups, new_items) = match groups(&set, s.reporting.utf8) {
        Ok(g) => g,
        Err(Some(why)) => return s.bad(&tag, None, &why),
        Err(None) => {
            let code = format!("BADEVENT ({})", OFFERED.join(" "));
            let text = format!("NOTIFY: events offered here are {}", OFFERED.join(", "));
            return s.no(
                &tag,
                Some(Code::Other(CodeOther::unvalidated(code.into_bytes()))),
                &text,
            );
        }
    };
    let new_items = match new_items.map(|atts| wire::fetch_items(&atts)) {
        None => None,
        Some(Some(MacroOrMessageDataItemNames::MessageDataItemNames(names))) => Some(names),
        Some(_) => {
            return s.bad(
                &tag,
                None,
                "MessageNew's fetch attributes are not FETCH items",
            );
        }
    };
    // The old settings stop here. Each key signals once when it is first followed, so a
    // change made between this read and its watch being armed is read again at once.
    s.notify = None;
    let mut watcher = Watcher::new(s.ctx.hub.watches().clone());
    watcher.mark_seen();
    let account = s.account().id;
    let read = async {
        let (all, subscribed) = read_names(s.ctx.clone(), account).await?;
        let statuses = read_statuses(s.ctx.clone(), followed(&groups, &all, &subscribed)).await?;
        Ok::<_, ModelError>((all, subscribed, statuses))
    };
    let (all, subscribed, statuses) = match read.await {
        Ok(r) => r,
        Err(e) => return s.fail(&tag, e),
    };
    let followed_now: Vec<Mailbox> = statuses.iter().map(|(m, _)| m.clone()).collect();
    watcher.set_keys(keys(account, &followed_now));
    let selected = s.selected.as_ref().map(|sel| sel.mailbox.id);
    if set.status {
        let condstore = s.reporting.condstore;
        for (m, st) in statuses.iter().filter(|(m, _)| Some(m.id) != selected) {
            s.data(Data::Status {
                mailbox: s.name_out(&m.name),
                items: status_items(st, condstore).into(),
            });
        }
    }
    tracing::info!(session = %s.id, groups = groups.len(), followed = statuses.len(), "NOTIFY set");
    s.notify = Some(Box::new(Notify {
        groups,
        watcher,
        mailboxes: all,
        subscribed,
        seen: statuses
            .iter()
            .map(|(m, st)| (m.id, Seen::from(st)))
            .collect(),
        new_items,
    }));
    METRICS.notify_sessions.inc();
    s.ok(&tag, None, "NOTIFY completed")
}

/// Reads what changed in the followed mailboxes and names and tells the client. Returns
/// whether anything was written.
pub async fn deliver<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
) -> Result<bool, ModelError> {
    let Some(mut notify) = s.notify.take() else {
        return Ok(false);
    };
    notify.watcher.mark_seen();
    let outcome = tell(s, &mut notify).await;
    if outcome.is_err() {
        notify.watcher.retry_soon();
    }
    if s.notify.is_none() {
        s.notify = Some(notify);
    }
    outcome
}

async fn tell<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    n: &mut Notify,
) -> Result<bool, ModelError> {
    let before = s.conn.out().len();
    let account = s.account().id;
    let dirty = n.watcher.take_dirty();
    let mut told = 0u64;
    if dirty.contains(&k::names_change(account)) {
        let (now, subscribed) = read_names(s.ctx.clone(), account).await?;
        told += tell_names(s, n, &now, &subscribed);
        n.mailboxes = now;
        n.subscribed = subscribed;
    }
    // Messages of followed mailboxes other than the selected one: those that changed, and
    // those followed from now on (whose state is only noted).
    let followed_now = followed(&n.groups, &n.mailboxes, &n.subscribed);
    let to_read: Vec<Mailbox> = followed_now
        .iter()
        .filter(|m| dirty.contains(&k::change(m.id)) || !n.seen.contains_key(&m.id))
        .cloned()
        .collect();
    let statuses = read_statuses(s.ctx.clone(), to_read).await?;
    let selected = s.selected.as_ref().map(|sel| sel.mailbox.id);
    let condstore = s.reporting.condstore;
    for (m, st) in &statuses {
        let now_seen = Seen::from(st);
        let Some(was) = n.seen.insert(m.id, now_seen) else {
            continue;
        };
        if Some(m.id) == selected || was == now_seen {
            continue;
        }
        let Some(group) = n.group_of(&m.name) else {
            continue;
        };
        let arrivals = was.messages != now_seen.messages || was.uidnext != now_seen.uidnext;
        if arrivals || group.flags {
            s.data(Data::Status {
                mailbox: s.name_out(&m.name),
                items: status_items(st, condstore).into(),
            });
            told += 1;
        }
    }
    let ids: std::collections::HashSet<u64> = followed_now.iter().map(|m| m.id).collect();
    n.seen.retain(|id, _| ids.contains(id));
    n.watcher.set_keys(keys(account, &followed_now));
    METRICS.notify_events.inc_by(told);
    Ok(s.conn.out().len() > before)
}

/// Writes the LIST notifications for names created, renamed and deleted, and subscriptions
/// added and removed, between what the client was told (`n`) and `now`; returns how many.
fn tell_names<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    n: &Notify,
    now: &HashMap<u64, Mailbox>,
    subscribed: &BTreeSet<String>,
) -> u64 {
    let both: BTreeSet<String> = subscribed.union(&n.subscribed).cloned().collect();
    let wants = |name: &str, event: fn(&Group) -> bool| {
        n.groups
            .iter()
            .find(|g| g.names_mailbox(name, &both))
            .is_some_and(event)
    };
    let names = |g: &Group| g.names;
    let mut told = 0;
    for (id, m) in now {
        match n.mailboxes.get(id) {
            None if wants(&m.name, names) => list(s, vec![], &m.name, None),
            Some(old)
                if old.name != m.name && (wants(&m.name, names) || wants(&old.name, names)) =>
            {
                list(s, vec![], &m.name, Some(&old.name))
            }
            _ => continue,
        }
        told += 1;
    }
    for (id, old) in &n.mailboxes {
        if !now.contains_key(id) && wants(&old.name, names) {
            list(s, vec![attr("NonExistent")], &old.name, None);
            told += 1;
        }
    }
    for name in subscribed.symmetric_difference(&n.subscribed) {
        if !wants(name, |g| g.subscriptions) {
            continue;
        }
        let items = match subscribed.contains(name) {
            true => vec![attr("Subscribed")],
            false => vec![],
        };
        list(s, items, name, None);
        told += 1;
    }
    told
}

/// Writes `* LIST (items) "/" name`, with `("OLDNAME" (old))` for a renamed mailbox.
fn list<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    items: Vec<FlagNameAttribute<'static>>,
    name: &str,
    old: Option<&str>,
) {
    let data = Data::List {
        items,
        delimiter: QuotedChar::try_from('/').ok(),
        mailbox: s.name_out(name),
    };
    match old {
        Some(old) => {
            let old_wire = names::encode(old, s.reporting.utf8);
            s.data_extended(data, &format!("(\"OLDNAME\" ({}))", quoted(&old_wire)));
        }
        None => s.data(data),
    }
}

/// A mailbox name as an IMAP quoted string, as the session sees it.
fn quoted(m: &tern_proto::imap::types::mailbox::Mailbox<'_>) -> String {
    let text = match m {
        tern_proto::imap::types::mailbox::Mailbox::Inbox => "INBOX".to_string(),
        tern_proto::imap::types::mailbox::Mailbox::Other(o) => {
            String::from_utf8_lossy(o.as_ref()).into_owned()
        }
    };
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
