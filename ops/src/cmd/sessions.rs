//! `ternctl sessions list|kick`: who is connected where across the cluster (node, protocol,
//! listener, account, client, TLS, since, state, bytes), and ending sessions — one by id or
//! every session of an account, e.g. after a password reset or an abuse report.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::{
    client::{Client, segment},
    human, table,
};

/// Session commands.
#[derive(Subcommand)]
pub enum SessionsCmd {
    /// List the client sessions of every node, oldest first.
    List {
        /// Logged in as this account.
        #[arg(long)]
        account: Option<String>,
        /// From this client address.
        #[arg(long)]
        ip: Option<String>,
        /// smtp, imap or pop3.
        #[arg(long)]
        protocol: Option<String>,
    },
    /// End a session (by the id `list` shows) or every session of `--account`, with the
    /// protocol's goodbye (`421`, `* BYE`, `-ERR`).
    Kick {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        account: Option<String>,
    },
}

const COLUMNS: [&str; 11] = [
    "id", "node", "protocol", "listener", "account", "client", "tls", "since", "state", "in", "out",
];

/// Sessions as a table shows them.
pub fn rows(sessions: &Value) -> Value {
    let now = human::now();
    Value::Array(
        sessions
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                json!({
                    "id": s["id"],
                    "node": s["node"],
                    "protocol": s["protocol"],
                    "listener": s["listener"],
                    "account": s["account"].as_str().unwrap_or("-"),
                    "client": s["client"],
                    "tls": if s["tls"] == true { "yes" } else { "no" },
                    "since": human::age(now - s["since"].as_i64().unwrap_or(now)),
                    "state": s["state"],
                    "in": human::bytes(s["bytes_in"].as_u64().unwrap_or(0)),
                    "out": human::bytes(s["bytes_out"].as_u64().unwrap_or(0)),
                })
            })
            .collect(),
    )
}

/// Says on stderr which members did not answer (the listing is then partial).
pub fn warn_unanswered(r: &Value) {
    for u in r["unanswered"].as_array().into_iter().flatten() {
        eprintln!(
            "ternctl: node {} did not answer ({}); its part is missing",
            u["node"],
            u["error"].as_str().unwrap_or("")
        );
    }
}

/// Runs a sessions command.
pub fn run(c: &Client, cmd: SessionsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SessionsCmd::List {
            account,
            ip,
            protocol,
        } => {
            let query: Vec<String> = [("account", account), ("ip", ip), ("protocol", protocol)]
                .into_iter()
                .filter_map(|(k, v)| Some(format!("{k}={}", segment(&v?))))
                .collect();
            let path = if query.is_empty() {
                "/sessions".to_string()
            } else {
                format!("/sessions?{}", query.join("&"))
            };
            let r = c.get(&path)?;
            warn_unanswered(&r);
            if json {
                table::print(&r["sessions"], &[], true);
            } else {
                table::print(&rows(&r["sessions"]), &COLUMNS, false);
            }
        }
        SessionsCmd::Kick { id, account } => {
            let body = match (id, account) {
                (Some(id), None) => json!({ "id": id }),
                (None, Some(a)) => json!({ "account": a }),
                _ => anyhow::bail!("say which: a session id, or --account A"),
            };
            let r = c.post("/sessions/kick", body)?;
            warn_unanswered(&r);
            let n = r["kicked"].as_array().map_or(0, Vec::len);
            if json {
                table::print(&r["kicked"], &[], true);
            } else {
                table::done(&format!("{n} session(s) ended"), false);
            }
        }
    }
    Ok(())
}
