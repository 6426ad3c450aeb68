//! `ternctl trace <message-id | queue-id | address> [--since 2h]`: where a message went — its
//! acceptance, the mailboxes it was filed into, its queue entries, each delivery attempt with
//! the remote replies, its bounce — from every node, oldest first.

use clap::Args;

use crate::{client::Client, human};

/// Options of `ternctl trace`.
#[derive(Args)]
pub struct TraceCmd {
    /// A Message-ID (with or without brackets), a queue id, or an address (sender or recipient).
    pub query: String,
    /// Only events this recent: seconds, or a number with s, m, h or d (`90m`, `2d`).
    #[arg(long)]
    pub since: Option<String>,
}

/// `90m` → 5400.
fn seconds(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (n, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("--since {s}: not a duration (e.g. 3600, 90m, 2d)"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => anyhow::bail!("--since {s}: the unit is s, m, h or d"),
    };
    Ok(n * unit)
}

/// Prints the events.
pub fn run(c: &Client, cmd: TraceCmd, json: bool) -> anyhow::Result<()> {
    let mut path = format!("/trace?q={}", crate::client::segment(&cmd.query));
    if let Some(since) = &cmd.since {
        path.push_str(&format!("&since={}", seconds(since)?));
    }
    let r = c.get(&path)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        return Ok(());
    }
    let events = r["events"].as_array().cloned().unwrap_or_default();
    if events.is_empty() {
        println!(
            "nothing recorded for {} (events are kept for server.tracking_retention_days)",
            cmd.query
        );
        return Ok(());
    }
    let now = human::now();
    for e in &events {
        let at = e["at"].as_i64().unwrap_or(0) / 1_000_000;
        println!(
            "{}  {:<9} {:<8} {}",
            human::time(at, now),
            e["kind"].as_str().unwrap_or(""),
            e["node"].as_str().unwrap_or(""),
            e["queue_id"].as_str().unwrap_or("")
        );
        println!("    {}", e["detail"].as_str().unwrap_or(""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(seconds("3600").expect("seconds"), 3600);
        assert_eq!(seconds("90m").expect("minutes"), 5400);
        assert_eq!(seconds("2d").expect("days"), 172_800);
        assert!(seconds("2w").is_err());
        assert!(seconds("soon").is_err());
    }
}
