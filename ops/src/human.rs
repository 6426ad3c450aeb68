//! Figures as a person reads them: ages (`3d 4h`), times (`2026-12-04 15:48 UTC, 5m ago`) and
//! sizes (`1.5 MiB`).

use chrono::{DateTime, Utc};

/// A duration in seconds as its two largest units: `45s`, `12m 5s`, `3h 20m`, `2d 4h`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// A Unix time in UTC with how far it is from `now`: `2026-12-04 15:48:49 UTC (5m 2s ago)`.
pub fn time(unix: i64, now: i64) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp(unix, 0) else {
        return unix.to_string();
    };
    let when = t.format("%Y-%m-%d %H:%M:%S UTC");
    if unix > now {
        format!("{when} (in {})", age(unix - now))
    } else {
        format!("{when} ({} ago)", age(now - unix))
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Bytes in binary units.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable() {
        assert_eq!(age(45), "45s");
        assert_eq!(age(725), "12m 5s");
        assert_eq!(age(3 * 3600 + 20 * 60 + 5), "3h 20m");
        assert_eq!(age(2 * 86_400 + 4 * 3600), "2d 4h");
        assert_eq!(
            time(1_796_400_000, 1_796_400_065),
            "2026-12-04 16:00:00 UTC (1m 5s ago)"
        );
        assert_eq!(
            time(1_796_400_000, 1_796_399_000),
            "2026-12-04 16:00:00 UTC (in 16m 40s)"
        );
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536 * 1024), "1.5 MiB");
    }
}
