//! How long a client may take to send something: a fixed patience plus one second for every
//! `min_rate` bytes it has sent. A steady sender of any size gets through; one that trickles a
//! byte now and then to hold the connection (slowloris) is cut off once the patience is spent.

use std::time::Duration;

use tokio::time::Instant;

/// The clock of one transfer.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    start: Instant,
    patience: Duration,
    min_rate: u64,
    received: u64,
}

impl Pace {
    /// A transfer starting now.
    pub fn new(patience: Duration, min_rate: u64) -> Self {
        Pace {
            start: Instant::now(),
            patience,
            min_rate: min_rate.max(1),
            received: 0,
        }
    }

    /// Counts bytes that arrived.
    pub fn received(&mut self, bytes: usize) {
        self.received += bytes as u64;
    }

    /// When the transfer is too slow if it has not ended.
    pub fn deadline(&self) -> Instant {
        let earned = Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        self.start + self.patience + earned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bytes_buy_time_at_the_minimum_rate() {
        let mut p = Pace::new(Duration::from_secs(10), 1000);
        let start = Instant::now();
        assert_eq!(p.deadline(), start + Duration::from_secs(10));
        p.received(5000);
        assert_eq!(p.deadline(), start + Duration::from_secs(15));
        // A trickle of one byte buys a millisecond.
        p.received(1);
        assert_eq!(p.deadline(), start + Duration::from_millis(15_001));
    }
}
