//! Disk headroom for new mail, one seam for every way mail comes in (SMTP MAIL, IMAP APPEND,
//! re-injection): below the configured floor of free bytes or inodes on the store's filesystem
//! new mail is refused with a temporary error before anything is written, so the disk never
//! fills with mail and reading and deleting keep working.

use std::sync::{
    LazyLock,
    atomic::{AtomicBool, Ordering},
};

use prometheus::{IntCounterVec, register_int_counter_vec};
use tern_store::{Db, space::Floor};

static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_storage_refusals_total",
        "New mail refused because the data filesystem is below its free-space floor",
        &["protocol"]
    )
    .expect("metric registers once")
});

/// Creates the metric families at 0.
pub fn init() {
    for protocol in ["smtp", "imap", "inject"] {
        REFUSED.with_label_values(&[protocol]);
    }
}

/// The headroom check over one store.
pub struct Headroom {
    db: Db,
    floor: Floor,
    short: AtomicBool,
}

impl Headroom {
    /// Checks `db`'s filesystem against `floor`.
    pub fn new(db: Db, floor: Floor) -> Self {
        Headroom {
            db,
            floor,
            short: AtomicBool::new(false),
        }
    }

    /// `Err` with the shortage when new mail arriving by `protocol` must be refused. Entering
    /// and leaving a shortage is logged once each.
    pub fn check(&self, protocol: &'static str) -> Result<(), String> {
        let shortage = self
            .db
            .local_space()
            .and_then(|space| space.shortage(&self.floor));
        let was = self.short.swap(shortage.is_some(), Ordering::Relaxed);
        match shortage {
            Some(why) => {
                if !was {
                    tracing::warn!(shortage = %why, "refusing new mail: the data filesystem is low on space; free space or grow the volume");
                }
                REFUSED.with_label_values(&[protocol]).inc();
                Err(why)
            }
            None => {
                if was {
                    tracing::info!("the data filesystem has room again; taking new mail");
                }
                Ok(())
            }
        }
    }
}
