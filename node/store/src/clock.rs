//! The one place mail logic reads the time of day (leases, retry schedules, queue ages,
//! INTERNALDATE). It is the system clock, except on a thread a test has told to follow tokio's
//! clock: under a paused tokio runtime (`start_paused`, one thread) leases expire and retries
//! come due when the test advances time, with no real waiting.

use std::{
    cell::Cell,
    time::{SystemTime, UNIX_EPOCH},
};

thread_local! {
    /// When set: the Unix milliseconds at which this thread began to follow tokio's clock, and
    /// tokio's instant at that moment.
    static FOLLOWING: Cell<Option<(i64, tokio::time::Instant)>> = const { Cell::new(None) };
}

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    match FOLLOWING.with(Cell::get) {
        Some((start_ms, start)) => {
            start_ms
                + tokio::time::Instant::now()
                    .duration_since(start)
                    .as_millis() as i64
        }
        None => system_ms(),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    now_ms().div_euclid(1000)
}

/// Makes the calling thread's clock follow tokio's from now on (for tests on a paused,
/// current-thread runtime); dropping the guard returns it to the system clock.
#[must_use = "the clock follows tokio only while the guard lives"]
pub fn follow_tokio_time() -> FollowGuard {
    FOLLOWING.with(|f| f.set(Some((system_ms(), tokio::time::Instant::now()))));
    FollowGuard(())
}

/// Returns the thread to the system clock when dropped.
pub struct FollowGuard(());

impl Drop for FollowGuard {
    fn drop(&mut self) {
        FOLLOWING.with(|f| f.set(None));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time_while_told() {
        let guard = follow_tokio_time();
        let start = now_ms();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(now_ms() - start, 3_600_000);
        drop(guard);
        assert!(
            (now_ms() - system_ms()).abs() < 1000,
            "back on the system clock"
        );
    }
}
