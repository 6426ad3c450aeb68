//! Rate-limited log lines for events a client can repeat at will (refused connections, bad admin
//! tokens): at most one line per period, saying how many were left out since the last.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// One kind of event's log budget.
pub struct Throttle {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// At most one line per `period`.
    pub const fn new(period: Duration) -> Self {
        Throttle {
            period,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(suppressed)` when a line may be written now (with the events left out since the
    /// last one), `None` when this one is left out.
    pub fn allow(&self) -> Option<u64> {
        let mut state = self.state.lock().expect("throttle lock");
        let (last, suppressed) = &mut *state;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.period) {
            *suppressed += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_left_out() {
        let t = Throttle::new(Duration::from_millis(50));
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.allow(), Some(2));
    }
}
