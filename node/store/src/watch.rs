//! The watch registry of one store handle: armed watches by key, fired when a commit changes
//! the key's value (by the embedded writer thread, or the postgres backend's listener).

use std::{collections::BTreeMap, sync::Mutex};

use tokio::sync::oneshot;

use crate::{error::StoreError, limits::MAX_WATCHES, metrics::METRICS};

pub(crate) type Reply = oneshot::Sender<Result<(), StoreError>>;

struct Armed {
    seen: Option<Vec<u8>>,
    reply: Reply,
}

#[derive(Default)]
pub(crate) struct WatchRegistry {
    armed: Mutex<BTreeMap<Vec<u8>, Vec<Armed>>>,
}

impl WatchRegistry {
    /// Arms a watch that fires when `key` stops holding `seen`. `current` reads the committed
    /// value under the registry lock, so no commit can slip between the check and arming.
    pub(crate) fn arm(
        &self,
        key: Vec<u8>,
        seen: Option<Vec<u8>>,
        reply: Reply,
        current: impl FnOnce() -> Result<Option<Vec<u8>>, StoreError>,
    ) {
        let mut armed = self.armed.lock().expect("watch registry lock");
        match current() {
            Err(e) => {
                let _ = reply.send(Err(e));
            }
            Ok(now) if now != seen => {
                let _ = reply.send(Ok(()));
            }
            Ok(_) => add(&mut armed, key, seen, reply),
        }
    }

    /// Arms a watch without checking the current value: the caller checks it afterwards with
    /// [`WatchRegistry::notify`], so a change committed in between is never missed.
    pub(crate) fn add(&self, key: Vec<u8>, seen: Option<Vec<u8>>, reply: Reply) {
        add(
            &mut self.armed.lock().expect("watch registry lock"),
            key,
            seen,
            reply,
        );
    }

    /// The keys with armed watches in `[begin, end)`, dropping watches nobody awaits.
    pub(crate) fn keys_in(&self, begin: &[u8], end: &[u8]) -> Vec<Vec<u8>> {
        if begin >= end {
            return Vec::new();
        }
        self.keys_within(crate::buffer::bounds(begin, end))
    }

    /// Every key with an armed watch.
    pub(crate) fn keys(&self) -> Vec<Vec<u8>> {
        self.keys_within((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded))
    }

    fn keys_within(
        &self,
        bounds: (std::ops::Bound<&[u8]>, std::ops::Bound<&[u8]>),
    ) -> Vec<Vec<u8>> {
        let mut armed = self.armed.lock().expect("watch registry lock");
        armed.retain(|_, list| {
            list.retain(|a| !a.reply.is_closed());
            !list.is_empty()
        });
        armed
            .range::<[u8], _>(bounds)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Fires the watches on keys whose new value (from a commit) differs from what they saw.
    pub(crate) fn notify<'a>(
        &self,
        changes: impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
    ) {
        let mut armed = self.armed.lock().expect("watch registry lock");
        if armed.is_empty() {
            return;
        }
        for (key, value) in changes {
            let Some(list) = armed.get_mut(key) else {
                continue;
            };
            let (fire, keep): (Vec<Armed>, Vec<Armed>) = std::mem::take(list)
                .into_iter()
                .partition(|a| &a.seen != value);
            *list = keep.into_iter().filter(|a| !a.reply.is_closed()).collect();
            for a in fire {
                let _ = a.reply.send(Ok(()));
            }
            if list.is_empty() {
                armed.remove(key);
            }
        }
        METRICS
            .watches
            .set(armed.values().map(Vec::len).sum::<usize>() as i64);
    }
}

/// Adds a watch under the registry lock, refusing one over the limit.
fn add(
    armed: &mut BTreeMap<Vec<u8>, Vec<Armed>>,
    key: Vec<u8>,
    seen: Option<Vec<u8>>,
    reply: Reply,
) {
    let total: usize = armed.values().map(Vec::len).sum();
    if total >= MAX_WATCHES {
        armed.retain(|_, list| {
            list.retain(|a| !a.reply.is_closed());
            !list.is_empty()
        });
        if armed.values().map(Vec::len).sum::<usize>() >= MAX_WATCHES {
            let _ = reply.send(Err(StoreError::TooManyWatches));
            return;
        }
    }
    armed.entry(key).or_default().push(Armed { seen, reply });
    METRICS
        .watches
        .set(armed.values().map(Vec::len).sum::<usize>() as i64);
}
