//! QUIT: before login, goodbye; after login, the UPDATE state: every message marked with DELE is
//! expunged in one store transaction (all or none), then the lock is released.

use tern_proto::pop3::reply;
use tern_store::model::message;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    session::{Flow, Phase, Session},
};

/// Handles `QUIT`.
pub async fn handle_quit<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let Phase::Transaction { maildrop, lock } =
        std::mem::replace(&mut s.phase, Phase::Authorization { user: None })
    else {
        s.reply(reply::bye());
        return Flow::Close;
    };
    let marked = maildrop.marked();
    let (account, mailbox) = (maildrop.account.id, maildrop.mailbox.id);
    let outcome = if marked.is_empty() {
        Ok(Vec::new())
    } else {
        let marked = &marked;
        s.ctx
            .dir
            .db()
            .run(|tx| async move { message::expunge(&tx, account, mailbox, marked).await })
            .await
    };
    lock.release().await;
    match outcome {
        Ok(removed) => {
            METRICS.deleted.inc_by(removed.len() as u64);
            let left = maildrop.entries.len() - marked.len();
            tracing::info!(session = %s.id, deleted = removed.len(), left, "POP3 update committed");
            s.reply(reply::updated(removed.len(), left));
        }
        Err(e) => {
            tracing::error!(session = %s.id, error = %e, "POP3 update failed; nothing deleted");
            s.reply(reply::update_failed());
        }
    }
    Flow::Close
}
