//! The filer: deliveries to local mailboxes go through a few lanes per node, chosen by the
//! first local recipient's account, and each lane files whatever has queued up meanwhile in
//! one store transaction (consecutive UIDs, one commit). Concurrent deliveries to one mailbox
//! then never conflict with each other on a node — they used to, on its UID, MODSEQ and count
//! keys, and retried with backoff — and a busy node makes fewer, larger commits. Each message
//! keeps its own outcome: a full mailbox refuses that message alone (its checks run before any
//! of its writes); a batch whose transaction fails is filed again message by message, so one
//! message cannot fail the others. Other nodes' deliveries still conflict at the store, which
//! retries them as before.

use std::sync::{Arc, LazyLock};

use prometheus::{Histogram, HistogramOpts, register_histogram};
use tern_store::{Db, TxError};
use tokio::sync::{mpsc, oneshot};

use crate::{
    delivery::{self, DeliverError, Prepared},
    envelopes::Envelopes,
};

/// Messages filed in one transaction at most.
const MAX_BATCH: usize = 64;
/// Bodies written inside one batch's transaction at most (small bodies are written with the
/// message; the store refuses transactions near 10 MB).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Deliveries waiting per lane before senders wait.
const QUEUE: usize = 1024;

static BATCH_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        HistogramOpts::new(
            "tern_delivery_batch_size",
            "Messages the filer filed in one store transaction"
        )
        .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    )
    .expect("metric registers once")
});

/// Exports the family at 0 from start.
pub fn init() {
    LazyLock::force(&BATCH_SIZE);
}

struct Job {
    prepared: Prepared<'static>,
    done: oneshot::Sender<Result<(), DeliverError>>,
}

/// The node's filer.
#[derive(Clone)]
pub struct Filer {
    db: Db,
    lanes: Vec<mpsc::Sender<Job>>,
    envelopes: Option<Arc<Envelopes>>,
}

impl Filer {
    /// Starts `lanes` lanes filing into `db`.
    pub fn start(db: Db, lanes: usize) -> Filer {
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(lane(db.clone(), rx));
                tx
            })
            .collect();
        Filer {
            db,
            lanes,
            envelopes: None,
        }
    }

    /// Remembers the envelope of each message filed into a local mailbox in `envelopes`.
    pub fn remembering(mut self, envelopes: Arc<Envelopes>) -> Filer {
        self.envelopes = Some(envelopes);
        self
    }

    /// Files `prepared`; resolves once its transaction committed (or failed).
    pub async fn file(&self, prepared: Prepared<'static>) -> Result<(), DeliverError> {
        let remember = self.envelopes.as_ref().and_then(|cache| {
            let (blob, envelope) = prepared.filed_envelope()?;
            Some((cache, blob, envelope.clone()))
        });
        let outcome = self.file_now(prepared).await;
        if let (Ok(()), Some((cache, blob, envelope))) = (&outcome, remember) {
            cache.remember(blob, envelope);
        }
        outcome
    }

    async fn file_now(&self, prepared: Prepared<'static>) -> Result<(), DeliverError> {
        let Some(account) = prepared.first_account() else {
            // Nothing local: only queue entries, on counters that never conflict.
            return alone(&self.db, &prepared).await;
        };
        let lane = &self.lanes[(account % self.lanes.len() as u64) as usize];
        let (done, outcome) = oneshot::channel();
        if let Err(refused) = lane.send(Job { prepared, done }).await {
            // The lane is gone (the node is stopping): file it here.
            return alone(&self.db, &refused.0.prepared).await;
        }
        // The lane stopped before answering: a temporary failure the client retries.
        outcome
            .await
            .unwrap_or(Err(DeliverError::from(tern_store::StoreError::Cancelled)))
    }
}

/// One message in a transaction of its own.
async fn alone(db: &Db, p: &Prepared<'_>) -> Result<(), DeliverError> {
    db.transact(|tx| async move { delivery::file(&tx, p).await })
        .await
}

/// Takes what has queued up, files it, answers each sender; until every sender is gone.
async fn lane(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut bytes = first.prepared.inline_len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(job) => {
                    bytes += job.prepared.inline_len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        BATCH_SIZE.observe(batch.len() as f64);
        let outcomes = together(&db, &batch).await;
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            let _ = job.done.send(outcome);
        }
    }
}

/// Files `batch` in one transaction; each message's own refusal is its outcome alone. When the
/// transaction fails, each message is filed in a transaction of its own instead.
async fn together(db: &Db, batch: &[Job]) -> Vec<Result<(), DeliverError>> {
    if let [one] = batch {
        return vec![alone(db, &one.prepared).await];
    }
    let committed = db
        .transact(|tx| async move {
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in batch {
                match delivery::check(&tx, &job.prepared).await {
                    Ok(inboxes) => {
                        delivery::write(&tx, &job.prepared, &inboxes).await?;
                        outcomes.push(Ok(()));
                    }
                    // A store failure fails (and retries) the whole transaction.
                    Err(e) if e.as_store().is_some() => return Err(e),
                    Err(refused) => outcomes.push(Err(refused)),
                }
            }
            Ok(outcomes)
        })
        .await;
    match committed {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::warn!(messages = batch.len(), error = ?e, "a delivery batch failed; filing its messages one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in batch {
                outcomes.push(alone(db, &job.prepared).await);
            }
            outcomes
        }
    }
}
