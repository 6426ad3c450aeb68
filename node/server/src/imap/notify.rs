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
        core::{Atom, QuotedChar, Tag},
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
    hub::Change,
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
    mailboxes: HashMap<u64, String>,
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

fn attr(name: &str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(Atom::try_from(name.to_string()).expect("attribute names are atoms"))
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

/// The account's mailboxes, subscriptions and the status of every mailbox a group follows
/// for message events.
async fn read_account(
    ctx: std::sync::Arc<super::ImapContext>,
    account: u64,
    groups: &[Group],
) -> Result<
    (
        Vec<Mailbox>,
        BTreeSet<String>,
        Vec<(Mailbox, MailboxStatus)>,
    ),
    ModelError,
> {
    let dir = &ctx.dir;
    let subscribed: BTreeSet<String> = dir.subscriptions(account).await?.into_iter().collect();
    let subs = &subscribed;
    let (all, statuses) = dir
        .db()
        .run(|tx| async move {
            let all = mailbox::listed(&tx, account).await?;
            let mut statuses = Vec::new();
            for m in &all {
                let group = groups.iter().find(|g| g.names_mailbox(&m.name, subs));
                if group.is_some_and(|g| g.messages) {
                    statuses.push((m.clone(), mailbox::status(&tx, m).await?));
                }
            }
            Ok((all, statuses))
        })
        .await?;
    Ok((all, subscribed, statuses))
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
    // The old settings stop before the new ones are read, so no change falls between.
    s.notify = None;
    let mut watcher = Watcher::new(s.ctx.hub.watches().clone());
    watcher.mark_seen();
    let (all, subscribed, statuses) =
        match read_account(s.ctx.clone(), s.account().id, &groups).await {
            Ok(r) => r,
            Err(e) => return s.fail(&tag, e),
        };
    let account = s.account().id;
    let keys = statuses
        .iter()
        .map(|(m, _)| k::change(m.id))
        .chain([k::names_change(account)]);
    watcher.set_keys(keys);
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
        mailboxes: all.into_iter().map(|m| (m.id, m.name)).collect(),
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
    let (all, subscribed, statuses) =
        read_account(s.ctx.clone(), s.account().id, &n.groups).await?;
    let now: HashMap<u64, String> = all.iter().map(|m| (m.id, m.name.clone())).collect();
    let delimiter = QuotedChar::try_from('/').ok();
    // Names: created, deleted, renamed.
    let both: BTreeSet<String> = subscribed.union(&n.subscribed).cloned().collect();
    let named = |groups: &[Group], name: &str| {
        groups
            .iter()
            .find(|g| g.names_mailbox(name, &both))
            .is_some_and(|g| g.names)
    };
    let mut told = 0u64;
    for (id, name) in &now {
        match n.mailboxes.get(id) {
            None if named(&n.groups, name) => {
                s.data(Data::List {
                    items: vec![],
                    delimiter,
                    mailbox: s.name_out(name),
                });
                told += 1;
            }
            Some(old) if old != name && (named(&n.groups, name) || named(&n.groups, old)) => {
                let old_wire = names::encode(old, s.reporting.utf8);
                let extended = format!("(\"OLDNAME\" ({}))", quoted(&old_wire));
                s.data_extended(
                    Data::List {
                        items: vec![],
                        delimiter,
                        mailbox: s.name_out(name),
                    },
                    &extended,
                );
                told += 1;
            }
            _ => {}
        }
    }
    for (id, old) in &n.mailboxes {
        if !now.contains_key(id) && named(&n.groups, old) {
            s.data(Data::List {
                items: vec![attr("NonExistent")],
                delimiter,
                mailbox: s.name_out(old),
            });
            told += 1;
        }
    }
    // Subscriptions.
    let subscribing = |name: &str| {
        n.groups
            .iter()
            .find(|g| g.names_mailbox(name, &both))
            .is_some_and(|g| g.subscriptions)
    };
    for name in subscribed.symmetric_difference(&n.subscribed) {
        if !subscribing(name) {
            continue;
        }
        let items = match subscribed.contains(name) {
            true => vec![attr("Subscribed")],
            false => vec![],
        };
        s.data(Data::List {
            items,
            delimiter,
            mailbox: s.name_out(name),
        });
        told += 1;
    }
    // Messages of followed mailboxes other than the selected one.
    let selected = s.selected.as_ref().map(|sel| sel.mailbox.id);
    let condstore = s.reporting.condstore;
    let mut seen = HashMap::with_capacity(statuses.len());
    for (m, st) in &statuses {
        let now_seen = Seen::from(st);
        let group = n
            .groups
            .iter()
            .find(|g| g.names_mailbox(&m.name, &subscribed));
        let was = n.seen.get(&m.id).copied();
        seen.insert(m.id, now_seen);
        if Some(m.id) == selected || was == Some(now_seen) {
            continue;
        }
        let Some(group) = group else { continue };
        let arrivals =
            was.is_none_or(|w| w.messages != now_seen.messages || w.uidnext != now_seen.uidnext);
        if arrivals || group.flags {
            s.data(Data::Status {
                mailbox: s.name_out(&m.name),
                items: status_items(st, condstore).into(),
            });
            told += 1;
        }
    }
    let account = s.account().id;
    n.watcher.set_keys(
        statuses
            .iter()
            .map(|(m, _)| k::change(m.id))
            .chain([k::names_change(account)]),
    );
    n.mailboxes = now;
    n.subscribed = subscribed;
    n.seen = seen;
    METRICS.notify_events.inc_by(told);
    Ok(s.conn.out().len() > before)
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

/// What a session between commands waits on besides its client: the followed keys, and the
/// selected mailbox when NOTIFY pushes its changes.
pub fn receivers<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &Session<S>,
) -> (
    Option<watch::Receiver<u64>>,
    Option<watch::Receiver<Change>>,
) {
    let Some(n) = s.notify.as_ref() else {
        return (None, None);
    };
    let selected = s
        .selected
        .as_ref()
        .filter(|sel| n.selected_push(&sel.mailbox.name).is_some())
        .map(|sel| sel.sub.rx.clone());
    (Some(n.receiver()), selected)
}

/// Waits for `rx` to change; never, when there is none or its sender is gone.
pub async fn changed<T>(rx: Option<watch::Receiver<T>>) {
    if let Some(mut rx) = rx
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// Tells the client what changed in followed mailboxes and names; `false` when the
/// connection is gone.
pub async fn push_followed<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> bool {
    match deliver(s).await {
        Ok(true) => s.conn.flush().await.is_ok(),
        Ok(false) => true,
        Err(e) => {
            tracing::warn!(session = %s.id, error = %e, "NOTIFY: cannot read what changed");
            true
        }
    }
}

/// Tells the client what changed in the selected mailbox, as IDLE does (with
/// SELECTED-DELAYED, expunges wait for a command); `false` when the connection is gone.
pub async fn push_selected<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> bool {
    let (Some(n), Some(sel)) = (s.notify.as_ref(), s.selected.as_ref()) else {
        return true;
    };
    let Some(delayed) = n.selected_push(&sel.mailbox.name) else {
        return true;
    };
    let (seen, delta) = {
        let c = sel.sub.rx.borrow();
        (c.seen, c.delta.clone())
    };
    s.by_seq = delayed;
    match s.sync_with(delta).await {
        Ok(true) => {
            if s.conn.flush().await.is_err() {
                return false;
            }
            METRICS.notify_latency.observe(seen.elapsed().as_secs_f64());
            true
        }
        Ok(false) => true,
        Err(e) => {
            tracing::warn!(session = %s.id, error = %e, "NOTIFY: cannot read the selected mailbox");
            true
        }
    }
}
