//! `ternctl log level [FILTER]` and `ternctl log trace [--ip IP]… [--account ADDRESS]… | --off`:
//! the node's log filter and per-session protocol trace, changed while it runs.

use clap::Subcommand;
use serde_json::json;

use crate::{client::Client, table};

/// Log commands.
#[derive(Subcommand)]
pub enum LogCmd {
    /// Show the log filter, or replace it (e.g. `smtp=debug`, `info,tern::queue=trace`).
    Level {
        /// The new filter; without it, the current one is shown.
        filter: Option<String>,
    },
    /// Show who is traced, or trace the sessions of client addresses and accounts: their
    /// commands and replies are logged at DEBUG (passwords and SASL data redacted).
    Trace {
        /// A client IP address to trace (repeatable).
        #[arg(long = "ip")]
        ips: Vec<String>,
        /// An account to trace (repeatable).
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// Stop tracing.
        #[arg(long, conflicts_with_all = ["ips", "accounts"])]
        off: bool,
    },
}

/// Runs a log command.
pub fn run(c: &Client, cmd: LogCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        LogCmd::Level { filter: None } => table::print(&c.get("/log/level")?, &["filter"], json),
        LogCmd::Level {
            filter: Some(filter),
        } => table::print(
            &c.put("/log/level", json!({ "filter": filter }))?,
            &["filter"],
            json,
        ),
        LogCmd::Trace { ips, accounts, off } => {
            let v = if off || !ips.is_empty() || !accounts.is_empty() {
                c.put("/log/trace", json!({ "ips": ips, "accounts": accounts }))?
            } else {
                c.get("/log/trace")?
            };
            table::print(&v, &["ips", "accounts"], json);
        }
    }
    Ok(())
}
