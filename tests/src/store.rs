//! Reading a stopped node's data directory directly, to check what was durably stored.

use std::path::Path;

use anyhow::Context;
use tern_store::{
    Db, EmbeddedStore, blob,
    model::{AddressPolicy, Directory, message},
    postgres::{PgOptions, PgStore},
};

/// Every message body in `mailbox` of `account`, in UID order, plus the mailbox's counters
/// (messages, bytes) as the store keeps them.
pub struct MailboxDump {
    /// Raw bodies.
    pub bodies: Vec<Vec<u8>>,
    /// The `exists` counter.
    pub counted_messages: i64,
    /// The `bytes` counter.
    pub counted_bytes: i64,
    /// The account's quota usage (bytes).
    pub usage_bytes: i64,
}

/// Opens the node's store (the embedded one under `data_dir`, for which the node must be
/// stopped, or the test's PostgreSQL of the working directory holding `data_dir`) and dumps a
/// mailbox.
pub fn dump_mailbox(data_dir: &Path, account: &str, mailbox: &str) -> anyhow::Result<MailboxDump> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let db = if crate::backend::postgres() {
            let workdir = data_dir.parent().context("data_dir has a parent")?;
            let url = crate::backend::server_for(workdir)?.url();
            Db::new(PgStore::open(PgOptions::new(url)).await?)
        } else {
            Db::new(EmbeddedStore::open(data_dir.join("store"))?)
        };
        let dir = Directory::new(db.clone(), AddressPolicy::default());
        let acct = dir.require_account(account).await?;
        let mbox = dir.mailbox(acct.id, mailbox).await?.context("mailbox")?;
        let status = dir.mailbox_status(&mbox).await?;
        let metas = db
            .run(|tx| async move { message::list(&tx, mbox.id, 1, None).await })
            .await?;
        let mut bodies = Vec::new();
        for m in metas {
            bodies.push(blob::read(&db, m.blob).await?);
        }
        let usage = dir.usage(acct.id).await?;
        Ok(MailboxDump {
            bodies,
            counted_messages: status.messages,
            counted_bytes: status.bytes,
            usage_bytes: usage.bytes,
        })
    })
}
