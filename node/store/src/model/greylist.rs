//! Greylisting records: for each triplet (client network, envelope sender, recipient), when it
//! was first tried and when a retry passed; [`decide`] is the greylist's state machine, without
//! I/O, and [`check`] applies it in a transaction (so every node of a cluster agrees).

use serde::{Deserialize, Serialize};

use crate::{StoreError, Tx, codec, keys::greylist as k};

/// What is known of one triplet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When it was first tried (Unix seconds).
    pub first: i64,
    /// When a retry last passed, once one has.
    #[serde(default)]
    pub passed: Option<i64>,
}

/// The greylist's settings, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A retry is accepted this long after the first try.
    pub delay: i64,
    /// A retry later than this after the first try starts over.
    pub retry_window: i64,
    /// A triplet that passed is accepted without delay for this long after it last passed.
    pub pass_for: i64,
}

/// The greylist's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Passed before and still remembered: accepted.
    Known,
    /// A retry after the delay: accepted, and remembered from now on.
    Retried,
    /// Too early (or first seen): refused for now; the seconds left.
    Wait(u64),
}

/// Refreshing a passed triplet's time at most this often (a write per message would be waste).
const REFRESH_EVERY: i64 = 86_400;

/// The decision on a triplet known as `record` at `now`, and the record to write, if any.
pub fn decide(record: Option<Record>, now: i64, t: Timing) -> (Decision, Option<Record>) {
    let fresh = Record {
        first: now,
        passed: None,
    };
    let Some(r) = record else {
        return (Decision::Wait(t.delay.max(0) as u64), Some(fresh));
    };
    if let Some(passed) = r.passed
        && now - passed < t.pass_for
    {
        let refresh = (now - passed >= REFRESH_EVERY).then_some(Record {
            passed: Some(now),
            ..r
        });
        return (Decision::Known, refresh);
    }
    let age = now - r.first;
    if r.passed.is_some() || age > t.retry_window {
        return (Decision::Wait(t.delay.max(0) as u64), Some(fresh));
    }
    if age < t.delay {
        return (Decision::Wait((t.delay - age) as u64), None);
    }
    (
        Decision::Retried,
        Some(Record {
            passed: Some(now),
            ..r
        }),
    )
}

/// Decides on `triplet` at `now` and writes what changed.
pub async fn check(tx: &Tx, triplet: &str, now: i64, t: Timing) -> Result<Decision, StoreError> {
    let key = k::triplet(triplet);
    let record: Option<Record> = codec::read(tx, &key).await?;
    let (decision, write) = decide(record, now, t);
    if let Some(w) = write {
        codec::write(tx, &key, &w)?;
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing {
        delay: 300,
        retry_window: 86_400,
        pass_for: 30 * 86_400,
    };

    #[test]
    fn a_retry_after_the_delay_passes_and_is_remembered() {
        let (d, r) = decide(None, 1000, T);
        assert_eq!(d, Decision::Wait(300));
        let r = r.expect("first try recorded");
        assert_eq!(decide(Some(r), 1100, T), (Decision::Wait(200), None));
        let (d, passed) = decide(Some(r), 1300, T);
        assert_eq!(d, Decision::Retried);
        let passed = passed.expect("pass recorded");
        assert_eq!(passed.passed, Some(1300));
        assert_eq!(decide(Some(passed), 5000, T), (Decision::Known, None));
        // A day on, the pass is refreshed; past pass_for without mail, it starts over.
        let (d, refreshed) = decide(Some(passed), 1300 + 86_400, T);
        assert_eq!(d, Decision::Known);
        assert_eq!(refreshed.and_then(|r| r.passed), Some(1300 + 86_400));
        let late = 1300 + 30 * 86_400;
        assert_eq!(decide(Some(passed), late, T).0, Decision::Wait(300));
    }

    #[test]
    fn a_retry_too_late_starts_over() {
        let r = Record {
            first: 0,
            passed: None,
        };
        let (d, w) = decide(Some(r), 86_401, T);
        assert_eq!(d, Decision::Wait(300));
        assert_eq!(w.map(|w| w.first), Some(86_401));
    }
}
