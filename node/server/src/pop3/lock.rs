//! The maildrop lock for the life of a session: taken at login, renewed every half lease by a
//! background task (which reports if the lock is lost), released at the end.

use std::sync::Arc;

use tern_store::model::{Directory, ModelResult, lock::LockOutcome};
use tokio::{sync::watch, task::JoinHandle};

/// Lock kind in the store.
pub const KIND: &str = "pop3";

/// A held lock and its renewer.
pub struct HeldLock {
    dir: Directory,
    mailbox: u64,
    holder: String,
    renewer: JoinHandle<()>,
    /// Becomes `true` if renewal failed and the lock may be gone.
    pub lost: watch::Receiver<bool>,
}

/// Takes the lock, or `None` when another session holds it.
pub async fn acquire(
    dir: &Directory,
    mailbox: u64,
    holder: &str,
    owner: &str,
    lease: std::time::Duration,
) -> ModelResult<Option<HeldLock>> {
    if let LockOutcome::Busy(other) = dir
        .lock_mailbox(KIND, mailbox, holder, owner, lease)
        .await?
    {
        tracing::info!(session = holder, mailbox, other = %other.holder, "POP3 maildrop is locked");
        return Ok(None);
    }
    let (tx, rx) = watch::channel(false);
    let renew_dir = dir.clone();
    let renew_holder: Arc<str> = holder.into();
    let renewer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(lease / 2).await;
            match renew_dir
                .renew_mailbox_lock(KIND, mailbox, &renew_holder, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(session = %renew_holder, mailbox, "POP3 lock lost");
                    let _ = tx.send(true);
                    return;
                }
                // A store hiccup: try again at the next tick while the lease still runs.
                Err(e) => {
                    tracing::warn!(session = %renew_holder, mailbox, error = %e, "POP3 lock renewal failed")
                }
            }
        }
    });
    Ok(Some(HeldLock {
        dir: dir.clone(),
        mailbox,
        holder: holder.to_string(),
        renewer,
        lost: rx,
    }))
}

impl HeldLock {
    /// Stops renewing and releases the lock.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self
            .dir
            .unlock_mailbox(KIND, self.mailbox, &self.holder)
            .await
        {
            // The lease expires on its own.
            tracing::warn!(session = %self.holder, error = %e, "POP3 lock release failed");
        }
    }
}
