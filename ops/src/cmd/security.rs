//! `ternctl security bans` and `ternctl security lift KIND SUBJECT`: the login bans in force
//! on the cluster (addresses and accounts that failed too many logins), and ending one early.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::{client::Client, human, table};

/// Security commands.
#[derive(Subcommand)]
pub enum SecurityCmd {
    /// List the login bans in force, the newest first.
    Bans,
    /// End a ban now: KIND is `ip` (an address, or an IPv6 /64 as listed) or `account`.
    Lift { kind: String, subject: String },
}

/// Runs a security command.
pub fn run(c: &Client, cmd: SecurityCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SecurityCmd::Bans => {
            let v = c.get("/security/bans")?;
            if json {
                table::print(&v["bans"], &[], true);
                return Ok(());
            }
            let now = human::now();
            let rows: Vec<Value> = v["bans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|b| {
                    json!({
                        "kind": b["kind"],
                        "subject": b["subject"],
                        "since": human::time(b["since"].as_i64().unwrap_or(0), now),
                        "until": human::time(b["until"].as_i64().unwrap_or(0), now),
                        "reason": b["reason"],
                    })
                })
                .collect();
            table::print(
                &Value::Array(rows),
                &["kind", "subject", "since", "until", "reason"],
                false,
            );
        }
        SecurityCmd::Lift { kind, subject } => {
            c.post(
                "/security/bans/lift",
                json!({ "kind": kind, "subject": subject }),
            )?;
            table::done(&format!("{kind} ban of {subject} lifted"), json);
        }
    }
    Ok(())
}
