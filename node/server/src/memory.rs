//! Where the node's memory goes: `tern_memory_bytes{part}`, next to
//! `process_resident_memory_bytes`, so an SRE can tell memory held by a bounded cache from
//! memory held by live sessions or kept by the allocator after a peak. The heap parts (glibc's
//! count of bytes in use, and of free bytes its arenas keep) and the store's (block cache,
//! memtables: embedded store only) are read at scrapes — the heap at most once a minute, since
//! glibc walks every free list under its arena locks to count it; the IMAP envelope cache and
//! the open mailboxes' indexes keep theirs current as they change.

use std::{
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use prometheus::{IntGaugeVec, Opts, register_int_gauge_vec};
use tern_store::Db;

/// Every part, exported at 0 from start.
pub const PARTS: [&str; 6] = [
    "heap_in_use",
    "heap_free",
    "store_cache",
    "store_memtables",
    "envelope_cache",
    "mailbox_indexes",
];

/// `tern_memory_bytes{part}`.
pub static MEMORY: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "tern_memory_bytes",
            "Bytes of memory by part: heap_in_use and heap_free (glibc's arenas: allocated, and \
             free but not returned to the system), store_cache and store_memtables (the \
             embedded store), envelope_cache (IMAP SEARCH/SORT), mailbox_indexes (open \
             mailboxes)"
        ),
        &["part"]
    )
    .expect("metric registers once")
});

/// Exports every part at 0.
pub fn init() {
    for part in PARTS {
        MEMORY.with_label_values(&[part]);
    }
}

/// Sets `part` to `bytes`.
pub fn set(part: &str, bytes: u64) {
    MEMORY
        .with_label_values(&[part])
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

/// Moves `part` by `delta` bytes.
pub fn add(part: &str, delta: i64) {
    MEMORY.with_label_values(&[part]).add(delta);
}

/// How often the heap is counted at most.
const HEAP_EVERY: Duration = Duration::from_secs(60);

/// Reads the parts measured on demand (at each scrape).
pub fn refresh(db: &Db) {
    static COUNTED: Mutex<Option<Instant>> = Mutex::new(None);
    let due = COUNTED.lock().is_ok_and(|mut last| {
        let due = last.is_none_or(|t| t.elapsed() >= HEAP_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    });
    if due && let Some((in_use, free)) = heap() {
        set("heap_in_use", in_use);
        set("heap_free", free);
    }
    for (part, bytes) in db.backend().memory() {
        set(part, bytes);
    }
}

/// glibc's heap: bytes allocated (arenas and mmapped blocks) and free bytes the arenas keep.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap() -> Option<(u64, u64)> {
    // SAFETY: mallinfo2 only reads the allocator's statistics (glibc takes its own locks) and
    // returns a plain struct by value.
    #[allow(unsafe_code)]
    let info = unsafe { libc::mallinfo2() };
    Some(((info.uordblks + info.hblkhd) as u64, info.fordblks as u64))
}

/// Other allocators report nothing here.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap() -> Option<(u64, u64)> {
    None
}
