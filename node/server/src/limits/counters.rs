//! Counters of events per subject (an address, a network, a sender, an account) in sliding
//! windows, shared by every node through the store. A hit is counted in memory at once (so a
//! node enforces its own traffic exactly) and added to the store by a flush every
//! [`FLUSH_EVERY`] as atomic adds, which never conflict; the flush then reads the cluster-wide
//! totals of the subjects it flushed, so each node sees the others' hits within about a
//! second. A window is two fixed buckets, the previous one weighted by how much of it still
//! overlaps the window (the usual sliding-window estimate); older buckets are cleared from the
//! store as they age, and forgotten in memory.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use prometheus::{IntCounter, IntGauge, register_int_counter, register_int_gauge};
use tern_store::{Db, StoreError, Tx, model::limits};

use crate::shutdown::Shutdown;

/// How often hits are added to the store and the totals read back.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Slots a flush writes and reads per transaction.
const BATCH: usize = 1000;
/// Slots remembered at most; past it the oldest buckets are forgotten first.
const MAX_SLOTS: usize = 200_000;

static SLOTS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "tern_limit_counters",
        "Rate-limit counters (subject and time bucket) this node holds in memory"
    )
    .expect("metric registers once")
});

static FLUSH_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "tern_limit_flush_failures_total",
        "Flushes of rate-limit counters to the store that failed (their hits are kept for the next)"
    )
    .expect("metric registers once")
});

/// One count: a subject in a space (a limit) during one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slot {
    space: Arc<str>,
    bucket: i64,
    subject: String,
}

#[derive(Default)]
struct State {
    /// Hits not yet in the store.
    pending: HashMap<Slot, i64>,
    /// The store's totals as last read.
    known: HashMap<Slot, i64>,
    /// The window of each space, in seconds.
    windows: HashMap<Arc<str>, i64>,
}

/// The node's counters.
pub struct Counters {
    db: Db,
    state: Mutex<State>,
}

/// The store's totals of some subjects in one space (the current and the previous bucket of
/// each), read within a transaction the caller runs for other reads too; handed to
/// [`Counters::absorb`].
pub struct Totals {
    space: Arc<str>,
    window: Duration,
    bucket: i64,
    at: i64,
    subjects: Vec<String>,
    totals: Vec<(i64, i64)>,
}

impl Totals {
    /// Reads the totals of `subjects` in `space` within `tx`.
    pub async fn read(
        tx: &Tx,
        space: &str,
        window: Duration,
        subjects: &[String],
    ) -> Result<Self, StoreError> {
        let at = now();
        let bucket = at.div_euclid((window.as_secs() as i64).max(1));
        let mut totals = Vec::with_capacity(subjects.len());
        for subject in subjects {
            totals.push((
                limits::count(tx, space, bucket, subject).await?,
                limits::count(tx, space, bucket - 1, subject).await?,
            ));
        }
        Ok(Self {
            space: space.into(),
            window,
            bucket,
            at,
            subjects: subjects.to_vec(),
            totals,
        })
    }
}

/// Unix seconds now.
fn now() -> i64 {
    tern_store::model::now()
}

impl Counters {
    /// Counters kept in `db`; their metrics are exported at 0 from now.
    pub fn new(db: Db) -> Arc<Self> {
        LazyLock::force(&SLOTS);
        LazyLock::force(&FLUSH_FAILURES);
        Arc::new(Self {
            db,
            state: Mutex::new(State::default()),
        })
    }

    /// The store they are kept in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts `n` events of `subject` in `space` (whose window is `window`) and returns the
    /// estimated count in the window, these included.
    pub fn hit(&self, space: &str, window: Duration, subject: &str, n: i64) -> f64 {
        self.count(space, window, subject, n, now())
    }

    /// The estimated count of `subject` in `space` over the window, counting nothing.
    pub fn peek(&self, space: &str, window: Duration, subject: &str) -> f64 {
        self.count(space, window, subject, 0, now())
    }

    /// Like [`Counters::peek`], reading the store's totals first (for a subject this node may
    /// not have seen).
    pub async fn read(
        &self,
        space: &str,
        window: Duration,
        subject: &str,
    ) -> Result<f64, StoreError> {
        let counts = self.read_all(space, window, &[subject.to_string()]).await?;
        Ok(counts.first().copied().unwrap_or_default())
    }

    /// [`Counters::read`] of each of `subjects`, in one transaction.
    pub async fn read_all(
        &self,
        space: &str,
        window: Duration,
        subjects: &[String],
    ) -> Result<Vec<f64>, StoreError> {
        let totals = self
            .db
            .run(|tx| async move { Totals::read(&tx, space, window, subjects).await })
            .await?;
        Ok(self.absorb(totals))
    }

    /// Remembers the store's totals `read` holds and returns each subject's estimated count
    /// over the window, as [`Counters::read_all`] does.
    pub fn absorb(&self, read: Totals) -> Vec<f64> {
        let Totals {
            space,
            window,
            bucket,
            at,
            subjects,
            totals,
        } = read;
        {
            let mut state = self.state();
            for (subject, (current, previous)) in subjects.iter().zip(totals) {
                for (bucket, total) in [(bucket, current), (bucket - 1, previous)] {
                    let slot = Slot {
                        space: space.clone(),
                        bucket,
                        subject: subject.clone(),
                    };
                    remember(&mut state, slot, total);
                }
            }
        }
        subjects
            .iter()
            .map(|subject| self.count(&space, window, subject, 0, at))
            .collect()
    }

    fn count(&self, space: &str, window: Duration, subject: &str, n: i64, at: i64) -> f64 {
        let window = (window.as_secs() as i64).max(1);
        let mut state = self.state();
        let space: Arc<str> = match state.windows.get_key_value(space) {
            Some((name, _)) => name.clone(),
            None => {
                let name: Arc<str> = space.into();
                state.windows.insert(name.clone(), window);
                name
            }
        };
        let bucket = at.div_euclid(window);
        let slot = |bucket| Slot {
            space: space.clone(),
            bucket,
            subject: subject.to_string(),
        };
        let (current, previous) = (slot(bucket), slot(bucket - 1));
        if n != 0 {
            *state.pending.entry(current.clone()).or_default() += n;
        }
        let total = |s: &Slot| {
            state.known.get(s).copied().unwrap_or(0) + state.pending.get(s).copied().unwrap_or(0)
        };
        let overlap = 1.0 - at.rem_euclid(window) as f64 / window as f64;
        total(&current) as f64 + total(&previous) as f64 * overlap
    }

    /// Adds the pending hits to the store and reads back the totals of their subjects. The
    /// hits stay counted as pending until the totals that include them are known, so a count
    /// never dips while a flush runs.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (pending, spaces) = {
            let state = self.state();
            let pending: Vec<(Slot, i64)> =
                state.pending.iter().map(|(s, n)| (s.clone(), *n)).collect();
            let spaces: Vec<(Arc<str>, i64)> =
                state.windows.iter().map(|(s, w)| (s.clone(), *w)).collect();
            (pending, spaces)
        };
        let at = now();
        // On failure the hits stay pending for the next flush.
        self.write(&pending, &spaces, at).await?;
        let totals = self.totals(&pending).await;
        let mut state = self.state();
        for (slot, n) in &pending {
            if let Some(left) = state.pending.get_mut(slot) {
                *left -= n;
                if *left == 0 {
                    state.pending.remove(slot);
                }
            }
        }
        let read = totals?;
        for (slot, total) in read {
            remember(&mut state, slot, total);
        }
        forget_old(&mut state, at);
        SLOTS.set((state.known.len() + state.pending.len()) as i64);
        Ok(())
    }

    /// The store's totals of the subjects of `pending`, this bucket and the one before.
    async fn totals(&self, pending: &[(Slot, i64)]) -> Result<Vec<(Slot, i64)>, StoreError> {
        let mut wanted: Vec<Slot> = Vec::with_capacity(pending.len() * 2);
        for (slot, _) in pending {
            wanted.push(slot.clone());
            wanted.push(Slot {
                bucket: slot.bucket - 1,
                ..slot.clone()
            });
        }
        wanted.sort_by(|a, b| {
            (&a.space, a.bucket, &a.subject).cmp(&(&b.space, b.bucket, &b.subject))
        });
        wanted.dedup();
        let mut read = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(BATCH) {
            let totals = self
                .db
                .run(|tx| async move {
                    let mut out = Vec::with_capacity(chunk.len());
                    for s in chunk {
                        out.push(limits::count(&tx, &s.space, s.bucket, &s.subject).await?);
                    }
                    Ok(out)
                })
                .await?;
            read.extend(chunk.iter().cloned().zip(totals));
        }
        Ok(read)
    }

    /// Adds `pending` in batches and clears each space's aged buckets.
    async fn write(
        &self,
        pending: &[(Slot, i64)],
        spaces: &[(Arc<str>, i64)],
        at: i64,
    ) -> Result<(), StoreError> {
        for chunk in pending.chunks(BATCH) {
            self.db
                .run(|tx| async move {
                    for (s, n) in chunk {
                        limits::add(&tx, &s.space, s.bucket, &s.subject, *n)?;
                    }
                    Ok(())
                })
                .await?;
        }
        self.db
            .run(|tx| async move {
                for (space, window) in spaces {
                    limits::expire(&tx, space, at.div_euclid(*window) - 1)?;
                }
                Ok(())
            })
            .await
    }

    /// Flushes every [`FLUSH_EVERY`] until shutdown, then once more.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = shutdown.wait() => {
                    let _ = self.flush().await;
                    return;
                }
            }
            if let Err(e) = self.flush().await {
                FLUSH_FAILURES.inc();
                tracing::warn!(error = %e, "rate-limit counters not flushed; kept for the next flush");
            }
        }
    }
}

/// Remembers the store's `total` of `slot`: a bucket's total only grows, so an older read
/// finishing late never lowers it.
fn remember(state: &mut State, slot: Slot, total: i64) {
    let known = state.known.entry(slot).or_default();
    *known = (*known).max(total);
}

/// Drops remembered totals of buckets no window reaches any more, and the oldest when there
/// are too many.
fn forget_old(state: &mut State, at: i64) {
    let windows = state.windows.clone();
    let live = |s: &Slot| {
        windows
            .get(&s.space)
            .is_some_and(|w| s.bucket >= at.div_euclid(*w) - 1)
    };
    state.known.retain(|s, _| live(s));
    if state.known.len() > MAX_SLOTS {
        let mut buckets: Vec<i64> = state.known.keys().map(|s| s.bucket).collect();
        buckets.sort_unstable();
        let cut = buckets[state.known.len() - MAX_SLOTS];
        state.known.retain(|s, _| s.bucket > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hits_count_at_once_and_the_previous_bucket_fades() {
        let (_tmp, dir, _) = crate::testing::directory_with_ann().await;
        let c = Counters::new(dir.db().clone());
        let w = Duration::from_secs(60);
        // 120 = the start of bucket 2.
        assert_eq!(c.count("s", w, "a", 3, 120), 3.0);
        assert_eq!(c.count("s", w, "b", 1, 121), 1.0);
        // Half way through bucket 3, half of bucket 2's count still counts.
        assert_eq!(c.count("s", w, "a", 1, 210), 1.0 + 3.0 * 0.5);
        // At the start of bucket 4 all of bucket 3 counts and nothing of bucket 2.
        assert_eq!(c.count("s", w, "a", 0, 240), 1.0);
        assert_eq!(c.count("s", w, "a", 0, 300), 0.0);
    }

    #[tokio::test]
    async fn a_flush_shares_the_counts_with_other_nodes() {
        let (_tmp, dir, _) = crate::testing::directory_with_ann().await;
        let w = Duration::from_secs(3600);
        let (a, b) = (
            Counters::new(dir.db().clone()),
            Counters::new(dir.db().clone()),
        );
        assert_eq!(a.hit("logins", w, "192.0.2.1", 2), 2.0);
        assert_eq!(b.hit("logins", w, "192.0.2.1", 1), 1.0);
        a.flush().await.expect("flush a");
        b.flush().await.expect("flush b");
        // b read a's two after adding its own one.
        assert_eq!(b.peek("logins", w, "192.0.2.1"), 3.0);
        a.flush().await.expect("flush a");
        // a read nothing new: it flushed nothing since.
        assert_eq!(a.peek("logins", w, "192.0.2.1"), 2.0);
        a.hit("logins", w, "192.0.2.1", 1);
        a.flush().await.expect("flush a");
        assert_eq!(a.peek("logins", w, "192.0.2.1"), 4.0);
        // A node that never counted a subject reads the cluster's total on demand.
        let c = Counters::new(dir.db().clone());
        let subjects = ["192.0.2.1".to_string(), "192.0.2.9".to_string()];
        let read = c.read_all("logins", w, &subjects).await.expect("read");
        assert_eq!(read, vec![4.0, 0.0]);
    }

    #[tokio::test]
    async fn a_count_never_dips_while_its_hits_are_flushed() {
        let (_tmp, dir, _) = crate::testing::directory_with_ann().await;
        let w = Duration::from_secs(3600);
        let c = Counters::new(dir.db().clone());
        c.hit("s", w, "x", 3);
        {
            let mut state = c.state();
            let slot = state.pending.keys().next().cloned().expect("pending");
            // A late read of an older total does not lower what is known.
            remember(&mut state, slot.clone(), 5);
            remember(&mut state, slot, 2);
        }
        assert_eq!(c.peek("s", w, "x"), 8.0);
        c.flush().await.expect("flush");
        // The store has the 3; the 5 known before came from nowhere and still bounds it.
        assert_eq!(c.peek("s", w, "x"), 5.0);
        assert!(c.state().pending.is_empty());
    }
}
