//! The node-wide memory budget for buffered client input: SMTP message bodies as they arrive
//! and IMAP literals are held only within it, so no number of connections can make the node
//! buffer more than this. A session that cannot reserve is refused with a temporary error.

use std::sync::{
    Arc, LazyLock,
    atomic::{AtomicU64, Ordering},
};

use prometheus::{IntCounterVec, IntGauge, register_int_counter_vec, register_int_gauge};

static BUFFERED: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "tern_input_buffered_bytes",
        "Bytes of client input (message bodies, literals) held in memory"
    )
    .expect("metric registers once")
});

static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_input_budget_refusals_total",
        "Messages or literals refused because the node's input memory budget was used up",
        &["protocol"]
    )
    .expect("metric registers once")
});

/// Creates the metric families at 0.
pub fn init() {
    LazyLock::force(&BUFFERED);
    for protocol in ["smtp", "imap"] {
        REFUSED.with_label_values(&[protocol]);
    }
}

/// Counts a refusal for lack of budget.
pub fn refused(protocol: &'static str) {
    REFUSED.with_label_values(&[protocol]).inc();
}

/// Bytes held out of a fixed total.
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Budget {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// The budget when none is configured: a quarter of the memory this process may use (its
    /// cgroup's limit, else the machine's), at least 64 MiB.
    pub fn default_limit() -> u64 {
        let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
        let memory = cgroup.or(machine).unwrap_or(4 << 30);
        (memory / 4).max(64 << 20)
    }

    /// The total.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn take(&self, bytes: u64) -> bool {
        let limit = self.limit;
        let ok = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok();
        if ok {
            BUFFERED.add(bytes as i64);
        }
        ok
    }

    fn give(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        BUFFERED.sub(bytes as i64);
    }
}

impl tern_proto::imap::reader::InputBudget for Budget {
    fn try_reserve(&self, bytes: u64) -> bool {
        self.take(bytes)
    }

    fn release(&self, bytes: u64) {
        self.give(bytes);
    }
}

/// Bytes one buffer holds, given back when it is dropped.
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Reservation {
    /// An empty reservation on `budget`.
    pub fn new(budget: Arc<Budget>) -> Self {
        Reservation { budget, bytes: 0 }
    }

    /// Grows the reservation to cover `total` bytes (in steps of 64 KiB, so a body arriving in
    /// small reads does not touch the shared counter each time); `false` when the budget has no
    /// room.
    pub fn cover(&mut self, total: u64) -> bool {
        const STEP: u64 = 64 * 1024;
        if total <= self.bytes {
            return true;
        }
        let want = total.div_ceil(STEP) * STEP;
        if !self.budget.take(want - self.bytes) {
            return false;
        }
        self.bytes = want;
        true
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({} bytes)", self.bytes)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.give(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stay_within_the_budget_and_give_back() {
        let budget = Budget::new(256 * 1024);
        let mut a = Reservation::new(budget.clone());
        assert!(a.cover(100));
        assert!(a.cover(150 * 1024));
        let mut b = Reservation::new(budget.clone());
        assert!(b.cover(64 * 1024));
        assert!(!b.cover(100 * 1024), "over the budget");
        drop(a);
        assert!(b.cover(100 * 1024), "room again once a is dropped");
        drop(b);
        assert_eq!(budget.used.load(Ordering::Acquire), 0);
    }

    #[test]
    fn the_default_is_a_share_of_memory() {
        assert!(Budget::default_limit() >= 64 << 20);
    }
}
