//! `ternctl notices`: the conditions postmaster notices were mailed about, active ones first,
//! with when each was first and last seen and how many notices went out.

use serde_json::Value;

use crate::{client::Client, human, table};

const COLUMNS: [&str; 8] = [
    "state",
    "severity",
    "check",
    "subject",
    "first_seen",
    "last_seen",
    "sent",
    "message",
];

/// Lists the notices.
pub fn run(c: &Client, json: bool) -> anyhow::Result<()> {
    let r = c.get("/notices")?;
    if json {
        table::print(&r["notices"], &COLUMNS, true);
        return Ok(());
    }
    let now = human::now();
    let rows: Vec<Value> = r["notices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut n| {
            for key in ["first_seen", "last_seen"] {
                let t = n[key].as_i64().unwrap_or(0);
                n[key] = Value::String(human::time(t, now));
            }
            n
        })
        .collect();
    table::print(&Value::Array(rows), &COLUMNS, false);
    Ok(())
}
