//! Filing a message: one store transaction (after chunk uploads for large bodies) stores the
//! body once, files it into the INBOX of every local recipient (into their Junk mailbox, with
//! the `$Junk` keyword, when a policy check marked it as junk — each recipient's own spam
//! lists have the last word), updates quota counters and
//! queues remote recipients with their DSN parameters. Shared by SMTP acceptance and by mail
//! the queue generates (DSNs), which files it in the same transaction as the queue update.

use std::collections::{BTreeMap, BTreeSet};

use tern_store::{
    StoreError, Tx, TxError, blob,
    model::{
        Directory, Flags, ModelError, Summary, mailbox,
        message::{self, NewMessage},
        now,
        queue::{self, QueueEntry, QueuedRecipient, RecipientStatus},
        spam_lists,
    },
};

use crate::smtp::session::MailTransaction;

/// Bodies larger than this are parsed on a blocking thread.
const PARSE_INLINE_MAX: usize = 256 * 1024;

/// Why a delivery transaction did not commit.
#[derive(Debug)]
pub enum DeliverError {
    /// A local recipient's mailbox is full.
    Quota(String),
    /// The message nests MIME parts deeper than `MAX_MIME_DEPTH` (its depth).
    TooDeep(u32),
    /// The store or the model failed.
    Model(ModelError),
}

impl From<StoreError> for DeliverError {
    fn from(e: StoreError) -> Self {
        DeliverError::Model(ModelError::Store(e))
    }
}

impl From<ModelError> for DeliverError {
    fn from(e: ModelError) -> Self {
        DeliverError::Model(e)
    }
}

impl TxError for DeliverError {
    fn as_store(&self) -> Option<&StoreError> {
        match self {
            DeliverError::Model(m) => m.as_store(),
            DeliverError::Quota(_) | DeliverError::TooDeep(_) => None,
        }
    }
}

/// Whether adding `size` bytes (and one message) would put any of `accounts` over its quota.
pub async fn over_quota(
    dir: &Directory,
    accounts: &BTreeSet<u64>,
    size: u64,
) -> Result<bool, ModelError> {
    for id in accounts {
        let Some(account) = dir.account(*id).await? else {
            continue;
        };
        if account.quota_bytes.is_none() && account.quota_messages.is_none() {
            continue;
        }
        let usage = dir.usage(*id).await?;
        if exceeds(&account, usage, size) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether adding `size` bytes and one message puts `account` over its quota.
pub fn exceeds(
    account: &tern_store::model::Account,
    usage: tern_store::model::account::Usage,
    size: u64,
) -> bool {
    account
        .quota_bytes
        .is_some_and(|q| usage.bytes.max(0) as u64 + size > q)
        || account
            .quota_messages
            .is_some_and(|q| usage.messages.max(0) as u64 + 1 > q)
}

/// A new queue id: seconds and 64 random bits in hex, sortable by time. (24 random bits, as
/// before, collided within a second at a few thousand messages per second.)
pub fn queue_id() -> String {
    format!("{:x}{:016x}", now(), rand::random::<u64>())
}

/// A message ready to be filed: its body staged, its summary parsed, its queue entries built.
pub struct Prepared<'a> {
    staged: blob::Staged<'a>,
    summary: Summary,
    entries: Vec<QueueEntry>,
    /// The first recipient address of each local account, to name it in a quota refusal.
    names: BTreeMap<u64, String>,
    local: BTreeSet<u64>,
    received_at: i64,
    /// The acceptance queue id, envelope sender and recipients (for tracking).
    id: String,
    sender: String,
    recipients: Vec<String>,
    /// Filed into Junk rather than the INBOX.
    junk: bool,
    /// Local accounts it is filed into Junk for (when not for all).
    junk_accounts: BTreeSet<u64>,
    /// Where it came from: with it, filing records tracking events.
    pub origin: Option<crate::tracking::Origin>,
}

/// Parses a message's summary, on a blocking thread when it is large.
pub async fn summarize(raw: &[u8]) -> Summary {
    if raw.len() > PARSE_INLINE_MAX {
        let owned = raw.to_vec();
        tokio::task::spawn_blocking(move || Summary::parse(&owned))
            .await
            .unwrap_or_default()
    } else {
        Summary::parse(raw)
    }
}

/// Stages `raw` (the message with its trace headers; the first `skip` bytes are for local copies
/// only) and builds what [`file`] writes.
pub async fn prepare<'a>(
    dir: &Directory,
    shards: u16,
    submitted_by: Option<u64>,
    mail: &MailTransaction,
    id: &str,
    raw: &'a [u8],
    skip: u32,
) -> Result<Prepared<'a>, DeliverError> {
    let summary = summarize(raw).await;
    let staged = blob::stage(dir.db(), raw).await?;
    let entries = queue_entries(shards, submitted_by, mail, id, &staged, skip);
    let mut names = BTreeMap::new();
    let mut local = BTreeSet::new();
    for r in &mail.recipients {
        for a in &r.accounts {
            names.entry(*a).or_insert_with(|| r.address.clone());
            local.insert(*a);
        }
    }
    Ok(Prepared {
        staged,
        summary,
        entries,
        names,
        local,
        received_at: now(),
        id: id.to_string(),
        sender: mail.from.clone(),
        recipients: mail.recipients.iter().map(|r| r.address.clone()).collect(),
        junk: mail.marks.junk.is_some(),
        junk_accounts: mail.marks.junk_accounts.clone(),
        origin: None,
    })
}

impl Prepared<'_> {
    /// The same, owning its body (for the filer's lanes).
    pub fn into_owned(self) -> Prepared<'static> {
        Prepared {
            staged: self.staged.into_owned(),
            summary: self.summary,
            entries: self.entries,
            names: self.names,
            local: self.local,
            received_at: self.received_at,
            id: self.id,
            sender: self.sender,
            recipients: self.recipients,
            junk: self.junk,
            junk_accounts: self.junk_accounts,
            origin: self.origin,
        }
    }

    /// The first local account it is filed for (what the filer picks a lane by).
    pub fn first_account(&self) -> Option<u64> {
        self.local.first().copied()
    }

    /// Bytes its filing writes besides metadata (a small body is written with it).
    pub fn inline_len(&self) -> usize {
        self.staged.inline_len()
    }

    /// Its body and envelope, when it is filed into local mailboxes.
    pub fn filed_envelope(&self) -> Option<(blob::BlobId, &tern_store::model::summary::Envelope)> {
        (!self.local.is_empty()).then_some((self.staged.id, &self.summary.envelope))
    }

    /// The addresses the recipients' spam lists are asked about: the From header's, then the
    /// envelope sender.
    fn senders(&self) -> Vec<String> {
        let from = self
            .summary
            .envelope
            .from
            .iter()
            .filter_map(|a| Some(format!("{}@{}", a.mailbox.as_deref()?, a.host.as_deref()?)));
        from.chain((!self.sender.is_empty()).then(|| self.sender.clone()))
            .collect()
    }

    /// Whether its MIME parts nest deeper than `MAX_MIME_DEPTH`.
    pub fn too_deep(&self) -> Option<u32> {
        self.summary.too_deep().then_some(self.summary.depth)
    }
}

/// Writes a prepared message in the caller's transaction.
pub async fn file(tx: &Tx, p: &Prepared<'_>) -> Result<(), DeliverError> {
    let filings = check(tx, p).await?;
    write(tx, p, &filings).await
}

/// Where one local recipient's copy goes.
#[derive(Debug, Clone, Copy)]
pub struct Filing {
    account: u64,
    mailbox: u64,
    junk: bool,
}

/// Reads what filing needs and refuses a full mailbox, writing nothing: the mailbox (INBOX or
/// Junk) of each local recipient.
pub async fn check(tx: &Tx, p: &Prepared<'_>) -> Result<Vec<Filing>, DeliverError> {
    let mut filings = Vec::with_capacity(p.local.len());
    let senders = p.senders();
    for account in &p.local {
        let junk = match spam_lists::verdict(tx, *account, &senders).await? {
            Some(spam_lists::List::Allow) => false,
            Some(spam_lists::List::Block) => true,
            None => p.junk || p.junk_accounts.contains(account),
        };
        filings.push(Filing {
            account: *account,
            mailbox: mailbox_with_room(tx, *account, p, junk).await?,
            junk,
        });
    }
    Ok(filings)
}

/// Writes a message [`check`] passed: into each mailbox, the queue, tracking.
pub async fn write(tx: &Tx, p: &Prepared<'_>, filings: &[Filing]) -> Result<(), DeliverError> {
    for f in filings {
        let new = NewMessage {
            body: &p.staged,
            summary: Some(&p.summary),
            flags: Flags::default(),
            keywords: if f.junk {
                vec![JUNK_KEYWORD.to_string()]
            } else {
                Vec::new()
            },
            internal_date: p.received_at,
        };
        message::append(tx, f.account, f.mailbox, &new).await?;
    }
    for entry in &p.entries {
        queue::enqueue(tx, entry, &p.staged).await?;
    }
    if let Some(origin) = &p.origin {
        let filing = crate::tracking::Filing {
            id: &p.id,
            message_id: p.summary.envelope.message_id.as_deref().unwrap_or(""),
            sender: &p.sender,
            recipients: p.recipients.clone(),
            local: p
                .local
                .iter()
                .filter_map(|a| p.names.get(a).cloned())
                .collect(),
            entries: &p.entries,
        };
        crate::tracking::filed(tx, origin, &filing)?;
    }
    Ok(())
}

/// Prepares and files a message from a client (SMTP, re-injection) — through `filer` when one
/// is given (batched with other deliveries to the same mailboxes), else in its own transaction —
/// refusing one that nests MIME parts deeper than `MAX_MIME_DEPTH`; `origin` is what tracking
/// records of where it came from.
#[allow(clippy::too_many_arguments)]
pub async fn store(
    dir: &Directory,
    filer: Option<&crate::filer::Filer>,
    shards: u16,
    submitted_by: Option<u64>,
    mail: &MailTransaction,
    id: &str,
    raw: &[u8],
    skip: u32,
    origin: crate::tracking::Origin,
) -> Result<(), DeliverError> {
    let mut prepared = prepare(dir, shards, submitted_by, mail, id, raw, skip).await?;
    prepared.origin = Some(origin);
    if let Some(depth) = prepared.too_deep() {
        return Err(DeliverError::TooDeep(depth));
    }
    if let Some(filer) = filer {
        return filer.file(prepared.into_owned()).await;
    }
    let prepared = &prepared;
    dir.db()
        .transact(|tx| async move { file(&tx, prepared).await })
        .await
}

/// The keyword of messages filed as junk (RFC 5788's registry; what mail clients show).
pub const JUNK_KEYWORD: &str = "$Junk";

/// The mailbox of `account_id` the message goes to, if it fits the account's quota: the INBOX,
/// or for junk the mailbox with the `\Junk` role (else one named `Junk`; else the INBOX, when
/// the user deleted it).
async fn mailbox_with_room(
    tx: &Tx,
    account_id: u64,
    p: &Prepared<'_>,
    junk: bool,
) -> Result<u64, DeliverError> {
    // Quota is checked again inside the transaction, against the real size.
    let account = tern_store::model::account::get(tx, account_id)
        .await?
        .ok_or_else(|| ModelError::NotFound(format!("account {account_id}")))?;
    let usage = tern_store::model::account::usage(tx, account_id).await?;
    if exceeds(&account, usage, p.staged.size) {
        return Err(DeliverError::Quota(
            p.names
                .get(&account_id)
                .cloned()
                .unwrap_or(account.address.clone()),
        ));
    }
    if junk {
        let listed = mailbox::listed(tx, account_id).await?;
        let junk = listed
            .iter()
            .find(|m| m.special_use == Some(mailbox::SpecialUse::Junk))
            .or_else(|| listed.iter().find(|m| m.name.eq_ignore_ascii_case("Junk")));
        if let Some(junk) = junk {
            return Ok(junk.id);
        }
    }
    let inbox = mailbox::by_name(tx, account_id, "INBOX")
        .await?
        .ok_or_else(|| ModelError::NotFound(format!("INBOX of account {account_id}")))?;
    Ok(inbox.id)
}

/// One queue entry per destination domain of the remote recipients.
fn queue_entries(
    shards: u16,
    submitted_by: Option<u64>,
    mail: &MailTransaction,
    id: &str,
    staged: &blob::Staged<'_>,
    skip: u32,
) -> Vec<QueueEntry> {
    let mut by_domain: BTreeMap<String, Vec<QueuedRecipient>> = BTreeMap::new();
    for r in &mail.recipients {
        for target in &r.remote {
            let domain = target
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            // A forwarded copy names the address it was sent to in ORCPT.
            let orcpt = r
                .orcpt
                .clone()
                .or_else(|| (target != &r.address).then(|| format!("rfc822;{}", r.address)));
            by_domain.entry(domain).or_default().push(QueuedRecipient {
                address: target.clone(),
                orcpt,
                notify: r.notify,
                status: RecipientStatus::Pending,
            });
        }
    }
    let created = now();
    by_domain
        .into_iter()
        .enumerate()
        .map(|(i, (domain, recipients))| QueueEntry {
            id: if i == 0 {
                id.to_string()
            } else {
                format!("{id}.{i}")
            },
            shard: queue::shard_of(&domain, shards),
            domain,
            sender: mail.from.clone(),
            recipients,
            blob: staged.id,
            skip,
            size: staged.size - u64::from(skip),
            envid: mail.envid.clone(),
            ret: mail.ret,
            smtputf8: mail.smtputf8,
            body_8bit: mail.body_8bit,
            submitted_by,
            created,
            next_attempt: created,
            attempts: 0,
            held: false,
            history: Vec::new(),
            delay_warnings: 0,
        })
        .collect()
}
