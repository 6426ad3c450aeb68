//! Acceptance: at the end of DATA or BDAT LAST, one store transaction (after chunk uploads for
//! large bodies) stores the body once with its trace headers, files it into the INBOX of every
//! local recipient, updates quota counters and queues remote recipients with their DSN
//! parameters. The `250` is sent only after that commit; a failed commit answers `451 4.3.0`
//! and leaves nothing half-written.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use tern_proto::smtp::reply;
use tern_store::{
    StoreError, Tx, TxError, blob,
    model::{
        Directory, Flags, ModelError, Summary, mailbox,
        message::{self, NewMessage},
        now,
        queue::{self, QueueEntry, QueuedRecipient, RecipientStatus},
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    SmtpContext,
    metrics::METRICS,
    received::{self, Trace},
    session::{Flow, MailTransaction, Session},
};

/// Bodies larger than this are parsed on a blocking thread.
const PARSE_INLINE_MAX: usize = 256 * 1024;

/// Why a delivery transaction did not commit.
#[derive(Debug)]
enum DeliverError {
    /// A local recipient's mailbox is full.
    Quota(String),
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
            DeliverError::Quota(_) => None,
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

fn exceeds(
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

/// A new queue id: seconds and randomness in hex, sortable by time.
fn queue_id() -> String {
    format!("{:x}{:06x}", now(), rand::random::<u32>() & 0xff_ffff)
}

/// Commits the open transaction's message and answers the client.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let started = Instant::now();
    let Some(mail) = s.state.mail.take() else {
        return s.refuse("DATA", reply::bad_sequence("no mail transaction"));
    };
    let id = queue_id();
    let local: BTreeSet<u64> = mail
        .recipients
        .iter()
        .flat_map(|r| r.accounts.iter().copied())
        .collect();
    let single = (mail.recipients.len() == 1).then(|| mail.recipients[0].address.as_str());
    let return_path = if local.is_empty() {
        String::new()
    } else {
        received::return_path(&mail.from)
    };
    let trace = received::received(&Trace {
        helo: s.state.helo.as_deref().unwrap_or("unknown"),
        peer: s.peer.ip(),
        host: &s.ctx.hostname,
        protocol: s.protocol(),
        tls: s.conn.tls_description(),
        id: &id,
        single_recipient: single,
        now: now(),
    });
    let mut raw = Vec::with_capacity(return_path.len() + trace.len() + mail.body.len());
    raw.extend_from_slice(return_path.as_bytes());
    raw.extend_from_slice(trace.as_bytes());
    raw.extend_from_slice(&mail.body);
    let skip = return_path.len() as u32;

    let submitted_by = s.state.account.as_ref().map(|a| a.id);
    let outcome = store(&s.ctx, submitted_by, &mail, &id, &raw, skip, &local).await;
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            METRICS.messages.with_label_values(&["accepted"]).inc();
            METRICS
                .ingest_seconds
                .with_label_values(&[s.kind.label()])
                .observe(elapsed);
            let remote: usize = mail.recipients.iter().map(|r| r.remote.len()).sum();
            tracing::info!(
                session = %s.id, msg = %id, from = %mail.from, size = raw.len(),
                local = local.len(), remote, ms = elapsed * 1000.0, "message accepted"
            );
            s.reply(reply::queued(&id));
            Flow::Continue
        }
        Err(DeliverError::Quota(address)) => {
            tracing::info!(session = %s.id, msg = %id, recipient = %address, "refused at end of data: mailbox full");
            let r = if s.ctx.config.quota_permanent {
                reply::mailbox_full_permanent(&address)
            } else {
                reply::mailbox_full_temporary(&address)
            };
            s.reject("DATA", "quota", r)
        }
        Err(DeliverError::Model(e)) => {
            METRICS.messages.with_label_values(&["store_error"]).inc();
            tracing::error!(session = %s.id, msg = %id, error = %e, "message not stored");
            s.reply(reply::internal_error());
            Flow::Continue
        }
    }
}

async fn store(
    ctx: &SmtpContext,
    submitted_by: Option<u64>,
    mail: &MailTransaction,
    id: &str,
    raw: &[u8],
    skip: u32,
    local: &BTreeSet<u64>,
) -> Result<(), DeliverError> {
    let summary = if raw.len() > PARSE_INLINE_MAX {
        let owned = raw.to_vec();
        tokio::task::spawn_blocking(move || Summary::parse(&owned))
            .await
            .unwrap_or_default()
    } else {
        Summary::parse(raw)
    };
    let db = ctx.dir.db();
    let staged = blob::stage(db, raw).await?;
    let entries = queue_entries(
        ctx.config.queue_shards,
        submitted_by,
        mail,
        id,
        &staged,
        skip,
    );
    // The first recipient address of each local account, to name it in a quota refusal.
    let mut names: BTreeMap<u64, &str> = BTreeMap::new();
    for r in &mail.recipients {
        for a in &r.accounts {
            names.entry(*a).or_insert(&r.address);
        }
    }
    let (staged, summary, entries, names) = (&staged, &summary, &entries, &names);
    let received_at = now();
    db.transact(|tx| async move {
        for account in local {
            file_into_inbox(&tx, *account, staged, summary, received_at, names).await?;
        }
        for entry in entries {
            queue::enqueue(&tx, entry, staged).await?;
        }
        Ok::<_, DeliverError>(())
    })
    .await
}

async fn file_into_inbox(
    tx: &Tx,
    account_id: u64,
    staged: &blob::Staged<'_>,
    summary: &Summary,
    received_at: i64,
    names: &BTreeMap<u64, &str>,
) -> Result<(), DeliverError> {
    // Quota is checked again inside the transaction, against the real size.
    let account = tern_store::model::account::get(tx, account_id)
        .await?
        .ok_or_else(|| ModelError::NotFound(format!("account {account_id}")))?;
    let usage = tern_store::model::account::usage(tx, account_id).await?;
    if exceeds(&account, usage, staged.size) {
        return Err(DeliverError::Quota(
            names
                .get(&account_id)
                .map_or(account.address.clone(), |n| n.to_string()),
        ));
    }
    let inbox = mailbox::by_name(tx, account_id, "INBOX")
        .await?
        .ok_or_else(|| ModelError::NotFound(format!("INBOX of account {account_id}")))?;
    let new = NewMessage {
        body: staged,
        summary: Some(summary),
        flags: Flags::default(),
        keywords: Vec::new(),
        internal_date: received_at,
    };
    message::append(tx, account_id, inbox.id, &new).await?;
    Ok(())
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
        })
        .collect()
}
