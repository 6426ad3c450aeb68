//! Learning from what users do with their mail over IMAP: a message copied or moved into
//! Junk is reported as spam, one moved out of Junk (anywhere but Trash) as ham. A report puts
//! the message's From address on the account's own block (spam) or allow (ham) list — unless
//! it is on the account's own domain, which spam forges most — and counts the message's fuzzy
//! digest bands ([`super::fuzzy`]) as reported spam or ham across the cluster, which the spam
//! score reads back (`REPORTED_SPAM`, see [`super::score`]). Learning runs after the command
//! has answered, for at most [`MAX_PER_COMMAND`] messages of one command, and its failures
//! are logged and counted, never the command's.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use mail_parser::MessageParser;
use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_store::{
    Db, StoreError,
    blob::{self, BlobId},
    model::{
        Mailbox, SpecialUse,
        spam_lists::{self, List},
    },
};

use super::fuzzy;
use crate::limits::counters::Counters;

/// Messages of one command learned from at most (a user moving a whole folder teaches no
/// more than its first messages do, and costs no more).
pub const MAX_PER_COMMAND: usize = 50;

/// The counter spaces of reported digests.
pub const SPAM_SPACE: &str = "fuzzy_spam";
/// See [`SPAM_SPACE`].
pub const HAM_SPACE: &str = "fuzzy_ham";

/// What a user said of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Put into Junk.
    Spam,
    /// Taken out of Junk.
    Ham,
}

impl Report {
    fn label(self) -> &'static str {
        match self {
            Report::Spam => "spam",
            Report::Ham => "ham",
        }
    }

    /// What moving a message from `source` to `target` says of it, if anything.
    pub fn of_move(source: &Mailbox, target: &Mailbox) -> Option<Report> {
        let junk = |m: &Mailbox| {
            m.special_use == Some(SpecialUse::Junk) || m.name.eq_ignore_ascii_case("Junk")
        };
        let trash = |m: &Mailbox| {
            m.special_use == Some(SpecialUse::Trash) || m.name.eq_ignore_ascii_case("Trash")
        };
        match (junk(source), junk(target)) {
            (false, true) => Some(Report::Spam),
            (true, false) if !trash(target) => Some(Report::Ham),
            _ => None,
        }
    }
}

static LEARNED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_spam_learned_total",
            "Messages users reported by moving them into Junk (spam) or out of it (ham), and \
             reports that could not be learned (failed)"
        ),
        &["report"]
    )
    .expect("metric registers once");
    for r in ["spam", "ham", "failed"] {
        c.with_label_values(&[r]);
    }
    c
});

/// The node's learner.
pub struct Learner {
    db: Db,
    counters: Arc<Counters>,
    window: Duration,
}

impl Learner {
    /// A learner counting reports in `counters` over `window`; its metrics are exported at 0
    /// from now.
    pub fn new(db: Db, counters: Arc<Counters>, window: Duration) -> Arc<Self> {
        LazyLock::force(&LEARNED);
        Arc::new(Self {
            db,
            counters,
            window,
        })
    }

    /// Learns `report` from the messages whose bodies are `blobs`, filed by `account`
    /// (`address`), in the background.
    pub fn learn(
        self: &Arc<Self>,
        account: u64,
        address: &str,
        report: Report,
        blobs: Vec<BlobId>,
    ) {
        let (me, address) = (self.clone(), address.to_string());
        tokio::spawn(async move {
            for id in blobs.into_iter().take(MAX_PER_COMMAND) {
                match me.one(account, &address, report, id).await {
                    Ok(()) => LEARNED.with_label_values(&[report.label()]).inc(),
                    Err(e) => {
                        LEARNED.with_label_values(&["failed"]).inc();
                        tracing::warn!(account = %address, error = %e, "could not learn from a move");
                    }
                }
            }
        });
    }

    async fn one(
        &self,
        account: u64,
        address: &str,
        report: Report,
        id: BlobId,
    ) -> Result<(), StoreError> {
        let raw = blob::read(&self.db, id).await?;
        let Some(parsed) = MessageParser::default().parse(&raw) else {
            return Ok(());
        };
        let space = match report {
            Report::Spam => SPAM_SPACE,
            Report::Ham => HAM_SPACE,
        };
        for band in fuzzy::of_message(&parsed) {
            self.counters.hit(space, self.window, &band, 1);
        }
        let own_domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase());
        let from = parsed
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            .and_then(spam_lists::normalise)
            .filter(|f| f.rsplit_once('@').map(|(_, d)| d.to_string()) != own_domain);
        if let Some(from) = from {
            let list = match report {
                Report::Spam => List::Block,
                Report::Ham => List::Allow,
            };
            let f = from.as_str();
            self.db
                .run(|tx| async move { spam_lists::set(&tx, account, f, list) })
                .await?;
            tracing::info!(account = %address, sender = %from, list = list.name(), "learned from a move");
        }
        Ok(())
    }
}
