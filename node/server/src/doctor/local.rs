//! This node's own ground: the store answering (and how fast), and room on the data filesystem.

use std::time::Instant;

use tern_store::space::Space;

use super::{Doctor, Finding};

/// A read that takes longer than this is reported slow.
const SLOW_MS: u128 = 500;

/// The store takes commits and answers a read quickly.
pub async fn store(d: &Doctor) -> Vec<Finding> {
    let backend = d.dir.db().backend().backend();
    if let Err(why) = d.dir.db().health() {
        return vec![Finding::error(
            "store.health",
            backend,
            format!(
                "the {backend} store is failed: {why}; mail is refused with 4xx replies (senders retry) and changes fail"
            ),
            "restore the database or its network path; see ops/runbooks/TernStoreUnhealthy.md"
                .into(),
        )];
    }
    let started = Instant::now();
    match d.dir.domains().await {
        Err(e) => vec![Finding::error(
            "store.health",
            backend,
            format!("a read of the {backend} store failed: {e}"),
            "see ops/runbooks/TernStoreUnhealthy.md".into(),
        )],
        Ok(_) => {
            let ms = started.elapsed().as_millis();
            if ms > SLOW_MS {
                vec![Finding::warning(
                    "store.latency",
                    backend,
                    format!(
                        "a small read took {ms} ms; every message and change waits on the store"
                    ),
                    "see ops/runbooks/TernStoreCommitSlow.md".into(),
                )]
            } else {
                vec![Finding::ok(
                    "store.health",
                    backend,
                    format!("the {backend} store answers ({ms} ms for a read)"),
                )]
            }
        }
    }
}

/// Free bytes and inodes on the data filesystem against the floor and a 10 % margin.
pub fn space(d: &Doctor) -> Vec<Finding> {
    let subject = d.data_dir.display().to_string();
    let space = match Space::of(&d.data_dir) {
        Ok(s) => s,
        Err(e) => {
            return vec![Finding::error(
                "disk.space",
                &subject,
                format!("cannot read the data filesystem: {e}"),
                "check that server.data_dir exists and is readable by tern".into(),
            )];
        }
    };
    if let Some(shortage) = space.shortage(&d.floor) {
        return vec![Finding::error(
            "disk.space",
            &subject,
            format!("{shortage}: new mail is refused (SMTP 452 4.3.1)"),
            "grow the volume or free room; see ops/runbooks/TernDiskSpaceLow.md".into(),
        )];
    }
    let low = |free: u64, total: u64| total > 0 && free.saturating_mul(10) < total;
    let mut out = Vec::new();
    if low(space.free_bytes, space.total_bytes) {
        out.push(Finding::warning(
            "disk.space",
            &subject,
            format!(
                "{} of {} bytes free (under 10 %)",
                space.free_bytes, space.total_bytes
            ),
            "grow the volume before the floor is reached; see ops/runbooks/TernDiskSpaceLow.md"
                .into(),
        ));
    }
    if low(space.free_inodes, space.total_inodes) {
        out.push(Finding::warning(
            "disk.inodes",
            &subject,
            format!(
                "{} of {} inodes free (under 10 %)",
                space.free_inodes, space.total_inodes
            ),
            "see ops/runbooks/TernInodesLow.md".into(),
        ));
    }
    if out.is_empty() {
        out.push(Finding::ok(
            "disk.space",
            &subject,
            format!(
                "{} MiB and {} inodes free",
                space.free_bytes / 1_048_576,
                space.free_inodes
            ),
        ));
    }
    out
}
